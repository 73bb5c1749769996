"""End-to-end: the web page in headless Chromium against ``lookalike serve`` on loopback.

Needs Debian's Chromium (``apt-get install -y chromium chromium-driver``) and the playwright
Python package; Playwright's own browser download is never used (only ``executable_path``).
Screenshots go to ``test-artifacts/``.

``LOOKALIKE_DOCS_SCREENSHOT=/path/to/bundle pytest -m browser -k docs_screenshot`` also
renders ``docs/screenshot.png`` from a real catalog bundle (opt-in: it rewrites a doc file).
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from lookalike.server.testing import start_server, stop_server
from tests.server.conftest import (
    ROOT,
    open_page,
    phone_context,
    running_server,
    screenshot,
    server_env,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tiny_bundle, tmp_path_factory):
    """``lookalike serve`` over the tiny bundle; yields its base URL."""
    work = tmp_path_factory.mktemp("server")
    with running_server(tiny_bundle, work, "--max-upload-mb", "2") as url:
        yield url


@pytest.fixture
def page(browser, server):
    with open_page(
        browser, f"{server}/?seed=1", "#samples [data-item-id]", "#facets .chip"
    ) as page:
        yield page


def result_ids(page) -> list[str]:
    return page.eval_on_selector_all(
        "#results [data-item-id]", "els => els.map(e => e.dataset.itemId)"
    )


def wait_for_results(page, status_text: str) -> None:
    """Wait until the status line says ``status_text`` and nothing is loading."""
    page.wait_for_function(
        """text => {
            const status = document.getElementById('status');
            return status.textContent.includes(text) && !status.classList.contains('loading');
        }""",
        arg=status_text,
    )


def test_upload_click_and_filter(page, server, tiny_catalog):
    # 1. Upload a photo: at least k results.
    page.set_input_files("#file-input", str(tiny_catalog / "Apparel" / "109.jpg"))
    wait_for_results(page, "10 lookalikes")
    ids = result_ids(page)
    assert len(ids) == 10 and ids[0] == "109"
    # Shopper words on the cards: a cue, never a distance or a time.
    cards = page.text_content("#results")
    assert "Closest match" in page.text_content("#results [data-item-id] .card-cue")
    assert "distance" not in page.inner_text("#results") and " ms" not in cards
    assert "ms" not in page.text_content("#status")
    assert page.is_visible("#query-preview")
    screenshot(page, "browser-upload.png")

    # 2. Click a result: its own lookalikes, never itself; the URL names the item.
    clicked = ids[1]
    page.click(f'#results [data-item-id="{clicked}"] .card-main')
    page.wait_for_function(
        "id => location.hash === '#item=' + id && !document.getElementById('status')"
        ".classList.contains('loading') && document.getElementById('status').textContent"
        ".includes('10 lookalikes')",
        arg=clicked,
    )
    ids = result_ids(page)
    assert len(ids) == 10 and clicked not in ids
    title = httpx.get(f"{server}/api/items/{clicked}").json()["metadata"]["ProductTitle"]
    assert title in page.text_content("#results-heading")

    # 3. A filter chip: only matching items.
    page.click('#facets .chip[data-column="Colour"][data-value="Blue"]')
    assert page.get_attribute('.chip[data-value="Blue"]', "aria-pressed") == "true"
    wait_for_results(page, "lookalikes (Blue)")
    ids = result_ids(page)
    clicked_colour = httpx.get(f"{server}/api/items/{clicked}").json()["metadata"]["Colour"]
    assert len(ids) == 6 - (clicked_colour == "Blue")  # every blue item but the query itself
    colours = {httpx.get(f"{server}/api/items/{i}").json()["metadata"]["Colour"] for i in ids}
    assert colours == {"Blue"}
    samples = page.eval_on_selector_all("#samples [data-item-id]", "els => els.length")
    assert samples == 6  # the sample grid follows the filters too
    screenshot(page, "browser-filtered.png")

    # The active filter shows above the results; removing it restores the unfiltered list.
    page.click('#active-filters .active-chip[data-value="Blue"]')
    wait_for_results(page, "10 lookalikes.")
    assert page.eval_on_selector_all("#active-filters li", "els => els.length") == 0


def test_heic_upload_is_previewed_answered_and_shared_as_a_jpeg(page):
    """Chromium cannot decode an iPhone's HEIC: the server's JPEG (POST /api/preview) is
    shown upright, answered, and carried in the address like any photo."""
    heic = ROOT / "tests" / "data" / "heic" / "blocks-rotated.heic"
    page.set_input_files("#file-input", str(heic))
    wait_for_results(page, "10 lookalikes")
    size = page.eval_on_selector(
        "#query-preview img", "img => [img.naturalWidth, img.naturalHeight]"
    )
    assert size == [48, 64]  # the file's rotation applied
    assert "blocks-rotated.heic" in page.text_content("#query-preview")
    assert "photo=" in page.evaluate("location.hash")
    assert "photo=local-" not in page.evaluate("location.hash")  # a real JPEG copy


def test_text_upload_shows_server_message(page):
    page.set_input_files(
        "#file-input",
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a photo"}],
    )
    page.wait_for_selector("#photo-error:not([hidden])")
    message = page.text_content("#photo-error")
    assert "notes.txt" in message and "isn't a photo we can read" in message
    assert page.get_attribute("#photo-error", "role") == "alert"
    assert page.is_hidden("#query-preview") and page.is_hidden("#results-section")
    screenshot(page, "browser-error.png")
    # Over the server's limit (--max-upload-mb 2) and unreadable here: refused before
    # uploading, with the sizes.
    page.set_input_files(
        "#file-input",
        files=[{"name": "huge.jpg", "mimeType": "image/jpeg", "buffer": bytes(3 * 2**20)}],
    )
    page.wait_for_function(
        "() => document.getElementById('photo-error').textContent.includes('huge')"
    )
    assert "huge.jpg” is too large (3 MB)" in page.text_content("#photo-error")
    assert "under 2 MB" in page.text_content("#photo-error")


def test_keyboard_only(page):
    # Tab to a sample card and press Enter: its lookalikes load.
    first = page.get_attribute("#samples [data-item-id]", "data-item-id")
    page.focus("#samples [data-item-id] .card-main")
    page.keyboard.press("Enter")
    wait_for_results(page, "lookalikes")
    assert page.evaluate("location.hash") == f"#item={first}"
    assert first not in result_ids(page)
    # The results heading takes focus so screen-reader users land on the results.
    assert page.evaluate("document.activeElement.id") == "results-heading"
    # Chips are buttons that Enter toggles.
    page.focus('.chip[data-value="Men"]')
    page.keyboard.press("Enter")
    wait_for_results(page, "lookalikes (Men)")
    assert page.get_attribute('.chip[data-value="Men"]', "aria-pressed") == "true"
    assert page.get_attribute("#status", "aria-live") == "polite"


def test_phone_width(browser, server, tiny_catalog):
    context = phone_context(browser)
    page = context.new_page()
    try:
        page.goto(f"{server}/?seed=2")
        page.wait_for_selector("#samples [data-item-id]")
        page.set_input_files("#file-input", str(tiny_catalog / "Footwear" / "118.jpg"))
        wait_for_results(page, "10 lookalikes")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, "the page scrolls sideways at phone width"
        screenshot(page, "browser-phone.png")
    finally:
        context.close()


def test_docs_screenshot(browser, tmp_path):
    """Opt-in: render docs/screenshot.png (laptop) and docs/screenshot-phone.png from a real
    catalog bundle."""
    bundle = os.environ.get("LOOKALIKE_DOCS_SCREENSHOT")
    if not bundle:
        pytest.skip("set LOOKALIKE_DOCS_SCREENSHOT=BUNDLE_DIR to render docs/screenshot*.png")
    process, url = start_server(Path(bundle), tmp_path, env=server_env())
    try:
        query = os.environ.get("LOOKALIKE_DOCS_QUERY")  # an item id, else the 3rd sample
        for name, options in (
            ("screenshot.png", {"viewport": {"width": 1280, "height": 1000}}),
            (
                "screenshot-phone.png",
                {
                    "viewport": {"width": 390, "height": 844},
                    "device_scale_factor": 2,
                    "is_mobile": True,
                    "has_touch": True,
                },
            ),
        ):
            context = browser.new_context(**options)
            context.set_default_timeout(120_000)
            try:
                page = context.new_page()
                page.goto(f"{url}/?seed=11")
                page.wait_for_selector("#samples [data-item-id]")
                if not query:
                    query = page.eval_on_selector_all(
                        "#samples [data-item-id]", "els => els[2].dataset.itemId"
                    )
                page.goto(f"{url}/?seed=11#item={query}")
                wait_for_results(page, "10 lookalikes")
                page.evaluate("window.scrollTo(0, 0)")
                page.wait_for_function("() => [...document.images].every(img => img.complete)")
                page.screenshot(path=str(ROOT / "docs" / name))
            finally:
                context.close()
    finally:
        stop_server(process)
