"""End-to-end: the page as shoppers use it, on a phone (390x844, touch) and on a laptop.

Errors in view, Back/Forward, shared photo searches, the filters sheet, photos shrunk before
upload, garbled addresses, the offline API docs, touch targets, tab stops and an automated
accessibility check (axe-core from the npm registry, injected into the page; no CDN).
Same Debian Chromium and helpers as ``test_browser.py``; skipped without them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

from tests.server.conftest import (
    ARTIFACTS,
    ROOT,
    TIMEOUT_MS,
    phone_context,
    running_server,
    screenshot,
)

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1280, "height": 800}
AXE_VERSION = "4.14.1"
AXE_JS = ROOT / ".cache" / f"axe-core-{AXE_VERSION}" / "axe.min.js"
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


@pytest.fixture(scope="module")
def server(tiny_bundle, tmp_path_factory):
    """``lookalike serve`` over the tiny bundle with a 2 MB upload limit. ``--no-look``: the
    uploads here are synthetic shapes, not garments (the look is tested in
    ``test_browser_look.py`` with a street photo)."""
    with running_server(
        tiny_bundle, tmp_path_factory.mktemp("phone"), "--max-upload-mb", "2", "--no-look"
    ) as url:
        yield url


@contextmanager
def device_page(browser, url: str, device: str, **options):
    """A page on a phone or a laptop at ``url`` (catalog items loaded); afterwards no
    JavaScript error may have happened."""
    if device == "phone":
        context = phone_context(browser, **options)
    else:
        context = browser.new_context(viewport=LAPTOP, **options)
        context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_selector("#samples [data-item-id]")
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def wait_for_results(page, text: str = "lookalike") -> None:
    page.wait_for_function(
        """text => {
            const status = document.getElementById('status');
            return status.textContent.includes(text) && !status.classList.contains('loading')
                && document.getElementById('results').getAttribute('aria-busy') === 'false';
        }""",
        arg=text,
    )


def result_ids(page) -> list[str]:
    return page.eval_on_selector_all(
        "#results [data-item-id]", "els => els.map(e => e.dataset.itemId)"
    )


def in_viewport(page, selector: str) -> bool:
    return page.eval_on_selector(
        selector,
        """el => {
            const box = el.getBoundingClientRect();
            return box.height > 0 && box.top >= -1 && box.bottom <= window.innerHeight + 1;
        }""",
    )


def big_photo(path: Path) -> Path:
    """A 4000x3000 JPEG of about 15 MB (a phone photo's size)."""
    rng = np.random.default_rng(0)
    y = np.linspace(0, 1, 3000)[:, None]
    x = np.linspace(0, 1, 4000)[None, :]
    base = np.stack([200 * y + 0 * x, 120 + 80 * x + 0 * y, 90 + 60 * y + 0 * x], axis=2)
    pixels = np.clip(base + rng.normal(0, 45, base.shape), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, "JPEG", quality=98)
    return path


# --- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("device", ["phone", "laptop"])
def test_a_bad_upload_shows_its_error_in_view_and_clears_the_old_search(
    browser, server, tiny_catalog, device
):
    with device_page(browser, f"{server}/?seed=1", device) as page:
        page.set_input_files("#file-input", str(tiny_catalog / "Apparel" / "109.jpg"))
        wait_for_results(page, "10 lookalikes")
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # a shopper scrolled

        page.set_input_files(
            "#file-input",
            files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a photo"}],
        )
        page.wait_for_selector("#photo-error:not([hidden])")
        page.wait_for_timeout(300)  # smooth scrolling, if any

        assert in_viewport(page, "#photo-error"), "the error is off-screen"
        assert page.get_attribute("#photo-error", "role") == "alert"
        message = page.text_content("#photo-error")
        assert "notes.txt" in message and "isn't a photo" in message
        assert "text/plain" not in message and "corrupt" not in message
        # No caption that looks like success, no stale results.
        assert page.is_hidden("#query-preview") and page.text_content("#query-caption") == ""
        assert page.is_hidden("#results-section") and result_ids(page) == []
        screenshot(page, f"browser-{device}-error.png")


def test_a_garbled_item_address_is_an_error_not_a_crash(browser, server):
    with device_page(browser, f"{server}/?seed=1#item=101", "laptop") as page:
        wait_for_results(page)
        assert result_ids(page)
        page.evaluate("location.hash = '#item=%E0%A4%A'")
        page.wait_for_selector("#error:not([hidden])")
        assert "couldn't find that item" in page.text_content("#error")
        assert page.is_hidden("#results-section") and result_ids(page) == []
        assert page.is_hidden("#query-preview")
    # Opened directly, too (device_page fails on any uncaught JavaScript error).
    with device_page(browser, f"{server}/#item=%E0%A4%A", "phone") as page:
        page.wait_for_selector("#error:not([hidden])")
        assert in_viewport(page, "#error")


# --- history -----------------------------------------------------------------------------------
def test_back_and_forward_restore_each_search(browser, server, tiny_catalog):
    with device_page(browser, f"{server}/?seed=1", "phone") as page:
        page.set_input_files("#file-input", str(tiny_catalog / "Apparel" / "109.jpg"))
        wait_for_results(page, "10 lookalikes")
        photo_ids, photo_hash = result_ids(page), page.evaluate("location.hash")
        assert photo_hash.startswith("#photo=")

        clicked = photo_ids[1]
        page.tap(f'#results [data-item-id="{clicked}"] .card-main')
        page.wait_for_function("id => location.hash === '#item=' + id", arg=clicked)
        wait_for_results(page)
        item_ids = result_ids(page)
        assert clicked not in item_ids

        page.go_back()
        page.wait_for_function("h => location.hash === h", arg=photo_hash)
        wait_for_results(page)
        assert result_ids(page) == photo_ids
        assert page.text_content("#results-heading") == "Lookalikes of your photo"
        assert page.is_visible("#query-preview")

        page.go_forward()
        page.wait_for_function("id => location.hash === '#item=' + id", arg=clicked)
        wait_for_results(page)
        assert result_ids(page) == item_ids

        # Filters and k are part of the address too, and a reload keeps them.
        page.select_option("#k-select", "5")
        wait_for_results(page, "5 lookalikes")
        assert "k=5" in page.evaluate("location.hash")
        page.reload()
        page.wait_for_selector("#samples [data-item-id]")
        wait_for_results(page, "5 lookalikes")
        assert result_ids(page) == item_ids[:5]

        page.go_back()  # to the photo search
        page.wait_for_function("h => location.hash === h", arg=photo_hash)
        wait_for_results(page, "10 lookalikes")
        assert result_ids(page)[0] == photo_ids[0]


def test_a_photo_search_can_be_shared(browser, server, tiny_catalog):
    with device_page(browser, f"{server}/?seed=1", "laptop") as page:
        page.set_input_files("#file-input", str(tiny_catalog / "Footwear" / "118.jpg"))
        wait_for_results(page, "10 lookalikes")
        link, ids = page.url, result_ids(page)
    assert len(urlsplit(link).fragment) < 40_000
    # Someone else opens the link: the same search, from the photo in the address.
    with device_page(browser, link, "phone") as page:
        wait_for_results(page, "10 lookalikes")
        shared = result_ids(page)
        assert shared[0] == ids[0] and len(set(shared) & set(ids)) >= 8
        assert page.is_visible("#query-preview")
    # A damaged link is a clear error.
    with device_page(browser, f"{server}/#photo=bm90LWEtanBlZw", "phone") as page:
        page.wait_for_selector("#photo-error:not([hidden])")
        assert "damaged" in page.text_content("#photo-error")


# --- the phone layout and the filters sheet ------------------------------------------------------
def test_phone_layout_photo_first_and_filters_in_a_sheet(browser, server):
    with device_page(browser, f"{server}/?seed=1", "phone") as page:
        # Photo first, then catalog items on the first screen; the filters wait in a sheet.
        assert page.is_visible("#camera-button") and page.is_visible("#upload-button")
        assert page.get_attribute("#camera-input", "capture") == "environment"
        assert page.get_attribute("#camera-input", "accept") == "image/*"
        assert "drop" not in page.inner_text(".query-panel").lower()
        assert page.is_hidden("#filters-panel")
        assert in_viewport(page, "#samples .card:first-child .card-main img")

        page.tap("#open-filters")
        assert page.is_visible("#filters-panel")
        assert page.get_attribute("#filters-panel", "role") == "dialog"
        assert page.get_attribute("#open-filters", "aria-expanded") == "true"
        assert page.evaluate(
            "document.getElementById('filters-panel').contains(document.activeElement)"
        )
        page.tap('#facets .chip[data-column="Colour"][data-value="Blue"]')
        assert page.get_attribute('.chip[data-value="Blue"]', "aria-pressed") == "true"
        screenshot(page, "browser-phone-sheet.png")
        page.tap("#close-filters")
        page.wait_for_selector("#filters-panel", state="hidden")

        # The chosen filter shows above the results, removable; the items follow it.
        assert page.text_content("#filter-count").strip() == "1"
        assert page.is_visible('#active-filters .active-chip[data-value="Blue"]')
        page.wait_for_function(
            "() => document.querySelectorAll('#samples [data-item-id]').length === 6"
        )
        assert "f.Colour=Blue" in page.evaluate("location.hash")
        assert page.evaluate("document.activeElement.id") == "open-filters"

        # The phone's Back button closes the sheet and keeps the filters; so does Escape.
        page.tap("#open-filters")
        page.go_back()
        page.wait_for_selector("#filters-panel", state="hidden")
        assert "f.Colour=Blue" in page.evaluate("location.hash")
        page.tap("#open-filters")
        page.keyboard.press("Escape")
        page.wait_for_selector("#filters-panel", state="hidden")

        page.tap('#active-filters .active-chip[data-value="Blue"]')
        page.wait_for_function(
            "() => document.querySelectorAll('#samples [data-item-id]').length === 12"
        )
        assert page.eval_on_selector_all("#active-filters li", "els => els.length") == 0
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, "the page scrolls sideways at phone width"


def test_a_large_photo_is_shrunk_before_upload(browser, server, tmp_path):
    photo = big_photo(tmp_path / "phone-photo.jpg")
    assert photo.stat().st_size > 10 * 2**20  # over the server's 2 MB limit many times
    with device_page(browser, f"{server}/?seed=1", "phone") as page:
        # Record what the page sends: the photo in the upload's form data.
        page.evaluate(
            """() => {
                window.uploads = [];
                const original = window.fetch;
                window.fetch = async (url, options = {}) => {
                    if (options.body instanceof FormData) {
                        const blob = options.body.get('image');
                        const bitmap = await createImageBitmap(blob);
                        window.uploads.push({size: blob.size, type: blob.type,
                                             side: Math.max(bitmap.width, bitmap.height)});
                    }
                    return original(url, options);
                };
            }"""
        )
        page.set_input_files("#file-input", str(photo))
        wait_for_results(page, "10 lookalikes")
        assert page.is_hidden("#photo-error")
        [sent] = page.evaluate("window.uploads")
        assert sent["type"] == "image/jpeg" and sent["side"] == 1600
        assert sent["size"] < 2 * 2**20  # under the server's limit, which stays


# --- shopper words -------------------------------------------------------------------------------
def test_cards_speak_to_shoppers_and_details_to_retailers(browser, server):
    with device_page(browser, f"{server}/?seed=1#item=101", "laptop") as page:
        wait_for_results(page)
        text = page.inner_text("#results")
        assert "distance" not in text and "#1" not in text
        cues = page.eval_on_selector_all("#results .card-cue", "els => els.map(e => e.textContent)")
        assert cues[0] in {"Closest match", "Loosely similar"}
        assert set(cues[1:]) <= {"Same design", "Very similar", "Similar", "Loosely similar"}
        assert "encoder" not in page.inner_text("body")
        page.click("#details-toggle")
        assert page.is_visible("#details") and "distance" in page.inner_text("#results")
        assert "encoder" in page.inner_text("#details").lower()


def test_nothing_close_gets_an_honest_note_and_duplicates_stay_reachable(browser, server):
    with device_page(browser, f"{server}/?seed=1", "laptop") as page:
        item = page.evaluate("async () => (await (await fetch('api/items/101')).json())")
        fake = {
            "query": {"type": "item", "item": item, "k": 10, "filters": {}},
            "results": [
                {
                    **item,
                    "id": "102",
                    "rank": 1,
                    "distance": 9.5,
                    "match": "distant",
                    "duplicates": ["103"],
                },
            ],
            "took_ms": 1.0,
        }
        page.route(
            "**/api/items/101/similar*",
            lambda route: route.fulfill(json=fake),
        )
        page.evaluate("location.hash = '#item=101'")
        wait_for_results(page, "1 lookalike")
        assert "Nothing in the catalog looks very close" in page.text_content("#results-note")
        assert page.text_content("#results .card-cue") == "Loosely similar"
        page.click("#results .card-dups summary")
        assert "1 more with the same photo" in page.text_content("#results .card-dups summary")
        page.click("#results .card-dups a")
        page.wait_for_function("() => location.hash === '#item=103'")


def test_a_close_item_below_the_first_keeps_the_note_away(browser, server):
    """A photo's list is ranked by its expanded query, so the nearest item (by the photo's
    own distance) need not be first: the note and the nearest distance read the whole list."""
    with device_page(browser, f"{server}/?seed=1", "laptop") as page:
        item = page.evaluate("async () => (await (await fetch('api/items/101')).json())")
        results = [
            {**item, "id": "102", "rank": 1, "distance": 1.9, "match": "distant"},
            {**item, "id": "103", "rank": 2, "distance": 0.4, "match": "close"},
        ]
        fake = {
            "query": {"type": "item", "item": item, "k": 10, "filters": {}},
            "results": results,
            "took_ms": 1.0,
        }
        page.route("**/api/items/101/similar*", lambda route: route.fulfill(json=fake))
        page.evaluate("location.hash = '#item=101'")
        wait_for_results(page, "2 lookalikes")
        assert page.is_hidden("#results-note")
        assert "nearest distance 0.400" in page.inner_text("#details")


# --- keyboard and touch --------------------------------------------------------------------------
def test_skip_link_and_few_tab_stops_to_the_results(browser, server):
    with device_page(browser, f"{server}/?seed=1#item=101", "laptop") as page:
        wait_for_results(page)
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip-link"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "results-start"
        assert page.evaluate("location.hash") == "#item=101" and result_ids(page)  # kept
        top = page.evaluate("document.getElementById('results-start').getBoundingClientRect().top")
        assert -1 <= top < 800  # the skip link's target is shown, not a hidden heading

        # From the top of the page, Tab reaches the first result after the photo and filter
        # controls: one stop per filter group and per grid, not one per chip or card.
        page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")
        page.focus("#home-link")
        stops = 1
        while not page.evaluate("!!document.activeElement.closest('#results .card')"):
            page.keyboard.press("Tab")
            stops += 1
            assert stops < 25, "too many tab stops before the first result"
        # Inside a grid the arrow keys move between cards.
        first = page.evaluate("document.activeElement.closest('.card').dataset.itemId")
        page.keyboard.press("ArrowRight")
        second = page.evaluate("document.activeElement.closest('.card').dataset.itemId")
        assert second != first and second == result_ids(page)[1]
        # Tab leaves the grid after the card's own buttons.
        for _ in range(3):
            page.keyboard.press("Tab")
        assert not page.evaluate("!!document.activeElement.closest('#results')")
        print(f"tab stops from the top to the first result: {stops}")


@pytest.mark.parametrize("device", ["phone", "laptop"])
def test_touch_targets_are_44_px(browser, server, device):
    with device_page(browser, f"{server}/?seed=1#item=101", device) as page:
        wait_for_results(page)
        page.click("#samples .card:first-child .feedback-like")  # profile chips appear
        page.wait_for_selector("#profile-chips li")
        if device == "phone":
            page.tap("#open-filters")
        small = page.evaluate(
            """() => [...document.querySelectorAll('button, a, select, summary')]
                .filter(el => el.getClientRects().length && !el.closest('[inert]'))
                .filter(el => !el.classList.contains('skip-link'))
                .map(el => [el.id || el.className || el.textContent.trim(),
                            el.getBoundingClientRect()])
                .filter(([, box]) => box.width < 44 || box.height < 44)
                .map(([name, box]) =>
                     `${name}: ${Math.round(box.width)}x${Math.round(box.height)}`)"""
        )
        assert small == [], small


# --- offline API docs ----------------------------------------------------------------------------
def test_api_docs_render_with_no_request_leaving_the_machine(browser, server):
    context = browser.new_context(viewport=LAPTOP)
    context.set_default_timeout(TIMEOUT_MS)
    attempted: list[str] = []

    def gate(route):
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOOPBACK:
            route.continue_()
        else:
            attempted.append(route.request.url)
            route.abort()

    context.route("**/*", gate)
    try:
        page = context.new_page()
        page.goto(f"{server}/docs")
        page.wait_for_selector(".swagger-ui .opblock-summary-path")
        paths = page.eval_on_selector_all(
            ".opblock-summary-path", "els => els.map(e => e.textContent)"
        )
        assert any("/api/recommend" in p for p in paths)
        page.wait_for_timeout(500)
        screenshot(page, "browser-docs.png")
        page.goto(f"{server}/?seed=1")
        page.wait_for_selector("#samples [data-item-id]")
    finally:
        context.close()
    assert attempted == [], f"requests that left the machine: {attempted}"


# --- accessibility (axe-core) --------------------------------------------------------------------
@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe-core's axe.min.js from the npm registry (scripts/setup.sh fetches it into .cache/;
    fetched here with ``npm pack`` when missing)."""
    if not AXE_JS.exists() and shutil.which("npm"):
        target = AXE_JS.parent
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "pack", "--silent", f"axe-core@{AXE_VERSION}"],
            cwd=target,
            check=False,
            capture_output=True,
            timeout=120,
        )
        tarball = target / f"axe-core-{AXE_VERSION}.tgz"
        if tarball.exists():
            subprocess.run(
                ["tar", "-xzf", tarball.name, "--strip-components=1", "package/axe.min.js"],
                cwd=target,
                check=False,
            )
            tarball.unlink()
    if not AXE_JS.exists():
        pytest.skip(f"axe-core is missing ({AXE_JS}); run scripts/setup.sh")
    return AXE_JS.read_text()


def axe_violations(page, axe: str) -> list[dict]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe)
    return page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"""
    )


@pytest.mark.parametrize("device", ["phone", "laptop"])
def test_axe_finds_no_serious_violations(browser, server, tiny_catalog, axe_source, device):
    found: dict[str, list[dict]] = {}
    # bypass_csp: the page's CSP allows only its own scripts; axe is injected for the test.
    with device_page(browser, f"{server}/?seed=1", device, bypass_csp=True) as page:
        found["landing"] = axe_violations(page, axe_source)
        page.click("#samples .card:first-child .feedback-like")
        page.click("#samples .card:nth-child(2) .feedback-dislike")
        page.wait_for_selector("#for-you-results [data-item-id]")
        page.set_input_files("#file-input", str(tiny_catalog / "Apparel" / "109.jpg"))
        wait_for_results(page, "10 lookalikes")
        found["results, liked and disliked cards"] = axe_violations(page, axe_source)
        page.click("#details-toggle")
        found["details view"] = axe_violations(page, axe_source)
        if device == "phone":
            page.click("#open-filters")
        page.click('#facets .chip[data-column="Colour"][data-value="Blue"]')
        page.wait_for_selector('#facets .chip[data-value="Blue"][aria-pressed="true"]')
        found["filters open, a chip pressed"] = axe_violations(page, axe_source)
        if device == "phone":
            page.click("#close-filters")
            page.wait_for_selector("#filters-panel", state="hidden")
        page.set_input_files(
            "#file-input", files=[{"name": "a.txt", "mimeType": "text/plain", "buffer": b"x"}]
        )
        page.wait_for_selector("#photo-error:not([hidden])")
        found["upload error"] = axe_violations(page, axe_source)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"axe-{device}.json").write_text(json.dumps(found, indent=2))
    serious = {
        state: [v for v in violations if v["impact"] in ("serious", "critical")]
        for state, violations in found.items()
    }
    assert all(not v for v in serious.values()), serious
