"""End-to-end: the crop box on an uploaded photo, in headless Chromium.

The photo is catalog item 101 (red circle) beside item 111 (blue square): a box on the left
half finds 101 first, on the right half 111. The box is dragged with the mouse, with a
finger (CDP touch events) and moved with the keyboard; each change sends the same photo
again with ``?crop=`` and the results follow. Same Chromium and helpers as
``test_browser_phone.py``; skipped without them.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image

from tests.server.conftest import PHONE, running_server, screenshot
from tests.server.routes.test_recommend_crop import two_items
from tests.server.test_browser_phone import (  # noqa: F401 - axe_source is a fixture
    LAPTOP,
    axe_source,
    axe_violations,
    device_page,
    result_ids,
    wait_for_results,
)

pytestmark = pytest.mark.browser

WHOLE = [0.0, 0.0, 1.0, 1.0]


@pytest.fixture(scope="module")
def server(tiny_bundle, tmp_path_factory):
    """``lookalike serve`` over the tiny bundle. ``--no-look``: the photos here are synthetic
    shapes, where garment boxes would be chance (the crop box with the look's garments is
    tested in ``test_browser_look.py``)."""
    with running_server(tiny_bundle, tmp_path_factory.mktemp("crop"), "--no-look") as url:
        yield url


@pytest.fixture(scope="module")
def photo(tiny_catalog, tmp_path_factory) -> Path:
    """A 512x256 PNG: item 101 (red circle) on the left, item 111 (blue square) on the right."""
    image = Image.open(io.BytesIO(two_items(tiny_catalog))).resize((512, 256))
    path = tmp_path_factory.mktemp("photo") / "two.png"
    image.save(path)
    return path


def record_uploads(page) -> list[str]:
    """The ``crop`` of every photo search the page sends, in order ("" = none)."""
    sent: list[str] = []

    def note(request) -> None:
        if request.method == "POST" and urlsplit(request.url).path.endswith("/api/recommend"):
            sent.append(parse_qs(urlsplit(request.url).query).get("crop", [""])[0])

    page.on("request", note)
    return sent


def box_crop(page) -> list[float]:
    """The crop the box shows, measured on screen: its rectangle as fractions of the photo's."""
    return page.evaluate(
        """() => {
            const img = document.getElementById('query-image').getBoundingClientRect();
            const box = document.getElementById('crop-box').getBoundingClientRect();
            return [(box.left - img.left) / img.width, (box.top - img.top) / img.height,
                    box.width / img.width, box.height / img.height];
        }"""
    )


def photo_rect(page) -> dict:
    return page.eval_on_selector(
        "#query-image",
        "el => { const r = el.getBoundingClientRect();"
        " return {x: r.x, y: r.y, width: r.width, height: r.height}; }",
    )


def assert_crop(actual, expected, tolerance=0.02) -> None:
    assert all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True)), (
        actual,
        expected,
    )


def parse(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def wait_for_crop_results(page, sent: list[str], count: int) -> None:
    """Wait for the ``count``-th photo search and its results."""
    deadline = time.monotonic() + 30
    while len(sent) < count:
        assert time.monotonic() < deadline, f"only {len(sent)} searches were sent: {sent}"
        page.wait_for_timeout(50)
    wait_for_results(page, "10 lookalikes")


def upload(page, photo: Path) -> None:
    page.set_input_files("#file-input", str(photo))
    wait_for_results(page, "10 lookalikes")
    page.wait_for_selector("#crop-box:not([hidden])")


def test_drag_the_box_with_the_mouse_and_the_results_follow(browser, server, photo):
    with device_page(browser, f"{server}/?seed=1", "laptop") as page:
        sent = record_uploads(page)
        upload(page, photo)
        whole_ids = result_ids(page)
        # The tiny encoder makes no garment pick: the box covers the whole photo.
        assert sent == [""]
        assert page.get_attribute("#crop-box", "aria-valuetext") == "Whole photo"
        assert_crop(box_crop(page), WHOLE, 0.01)
        assert page.is_disabled("#crop-reset")

        # Drag the right edge to the middle: the left half, the red circle.
        rect = photo_rect(page)
        mid_y = rect["y"] + rect["height"] / 2
        page.mouse.move(rect["x"] + rect["width"] - 3, mid_y)
        page.mouse.down()
        page.mouse.move(rect["x"] + rect["width"] / 2, mid_y, steps=6)
        assert_crop(box_crop(page), [0, 0, 0.5, 1])  # the box follows the pointer at once
        assert len(sent) == 1  # ... and the search waits for the drag to end
        page.mouse.up()
        wait_for_crop_results(page, sent, 2)
        assert_crop(parse(sent[1]), [0, 0, 0.5, 1])
        left_ids = result_ids(page)
        assert left_ids[0] == "101" and left_ids != whole_ids
        words = page.get_attribute("#crop-box", "aria-valuetext")
        assert re.fullmatch(
            r"(49|50|51)% wide, 100% high, 0% from the left, 0% from the top", words
        ), words
        assert "crop=" in page.evaluate("location.hash")
        assert page.is_enabled("#crop-reset")
        screenshot(page, "browser-crop-left.png")

        # Drag the box from its middle to the right half: the blue square. The photo, the
        # controls and the results heading stay where they are (no layout shift).
        places = (
            "['crop-frame', 'crop-controls', 'results-heading'].map(id => "
            "JSON.stringify(document.getElementById(id).getBoundingClientRect()))"
        )
        before = page.evaluate(places)
        page.mouse.move(rect["x"] + rect["width"] / 4, mid_y)
        page.mouse.down()
        page.mouse.move(rect["x"] + rect["width"], mid_y, steps=6)  # past the edge: clamped
        page.mouse.up()
        wait_for_crop_results(page, sent, 3)
        assert_crop(parse(sent[2]), [0.5, 0, 0.5, 1])
        assert result_ids(page)[0] == "111"
        assert_crop(box_crop(page), [0.5, 0, 0.5, 1])
        assert len(sent) == 3  # one search per drag
        assert page.evaluate(places) == before

        # A shared link carries the crop: the same box and the same search elsewhere.
        link, right_ids = page.url, result_ids(page)
        with device_page(browser, link, "phone") as shared:
            shared_sent = record_uploads(shared)
            wait_for_results(shared, "10 lookalikes")
            shared.wait_for_selector("#crop-box:not([hidden])")
            assert_crop(box_crop(shared), [0.5, 0, 0.5, 1])
            assert shared.evaluate("location.hash") == page.evaluate("location.hash")
            assert result_ids(shared)[0] == right_ids[0]
            assert len(shared_sent) <= 1  # (the first may go out before the recorder)
        # A garbled crop in an address is left out: the whole photo is searched.
        garbled = re.sub(r"crop=[^&]*", "crop=0.9%2C0%2C0.5%2C1", link)
        with device_page(browser, garbled, "laptop") as shared:
            wait_for_results(shared, "10 lookalikes")
            shared.wait_for_selector("#crop-box:not([hidden])")
            assert_crop(box_crop(shared), WHOLE, 0.01)
            assert shared.is_hidden("#photo-error")

        # "Whole photo" puts the box back over the whole photo and searches it all.
        page.click("#crop-reset")
        wait_for_crop_results(page, sent, 4)
        assert parse(sent[3]) == WHOLE
        assert_crop(box_crop(page), WHOLE, 0.01)
        assert page.is_disabled("#crop-reset")
        assert page.evaluate("document.activeElement.id") == "crop-box"
        # Back goes to the search before the photo, not to an earlier box.
        page.go_back()
        page.wait_for_function("() => !location.hash.includes('photo=')")


def test_keyboard_moves_and_resizes_the_box(browser, server, photo, axe_source):  # noqa: F811
    # bypass_csp: axe-core is injected for the accessibility check at the end.
    with device_page(browser, f"{server}/?seed=1", "laptop", bypass_csp=True) as page:
        sent = record_uploads(page)
        upload(page, photo)
        page.focus("#upload-button")
        page.keyboard.press("Tab")  # the crop box is the next stop after the photo buttons
        assert page.evaluate("document.activeElement.id") == "crop-box"
        box = page.query_selector("#crop-box")
        assert box.get_attribute("role") == "slider"
        assert box.get_attribute("aria-label") and box.get_attribute("aria-describedby")
        assert box.evaluate("el => el.matches(':focus-visible')")
        assert box.evaluate("el => getComputedStyle(el).outlineStyle") == "solid"

        # Shift+Left 25 times: 50% narrower; one search after the last key, not 25.
        for _ in range(25):
            page.keyboard.press("Shift+ArrowLeft")
        assert page.get_attribute("#crop-box", "aria-valuetext") == (
            "50% wide, 100% high, 0% from the left, 0% from the top"
        )
        wait_for_crop_results(page, sent, 2)
        assert sent[1] == "0,0,0.5,1"
        assert result_ids(page)[0] == "101"
        # Right 25 times: the same box on the right half.
        for _ in range(25):
            page.keyboard.press("ArrowRight")
        wait_for_crop_results(page, sent, 3)
        assert sent[2] == "0.5,0,0.5,1"
        assert result_ids(page)[0] == "111"
        assert len(sent) == 3
        assert page.evaluate("document.activeElement.id") == "crop-box"  # focus stays
        # It never leaves the photo, nor shrinks below a tenth of it.
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        for _ in range(50):
            page.keyboard.press("Shift+ArrowUp")
        page.wait_for_timeout(100)
        assert_crop(box_crop(page), [0.5, 0, 0.5, 0.1], 0.01)
        screenshot(page, "browser-crop-keyboard.png")
        # axe-core: nothing serious with the box focused and cropped.
        found = axe_violations(page, axe_source)
        assert not [v for v in found if v["impact"] in ("serious", "critical")], found


def is_search(url: str) -> bool:
    return urlsplit(url).path.endswith("/api/recommend")


def test_a_newer_crop_wins_over_a_slow_answer(browser, server, photo):
    with device_page(browser, f"{server}/?seed=1", "laptop") as page:
        sent = record_uploads(page)
        upload(page, photo)
        aborted: list[str] = []
        page.on(
            "requestfailed",
            lambda request: aborted.append(parse_qs(urlsplit(request.url).query)["crop"][0]),
        )
        held = []

        def hold_the_left_half(route):
            # The left half's answer is held back until the right half's has been shown.
            if "crop=0%2C0%2C0.5%2C1" in route.request.url:
                held.append(route)
            else:
                route.continue_()

        page.route(is_search, hold_the_left_half)
        page.focus("#crop-box")
        for _ in range(25):
            page.keyboard.press("Shift+ArrowLeft")
        deadline = time.monotonic() + 10
        while not held:
            assert time.monotonic() < deadline, sent
            page.wait_for_timeout(50)
        for _ in range(25):
            page.keyboard.press("ArrowRight")
        wait_for_crop_results(page, sent, 3)
        assert sent[1:] == ["0,0,0.5,1", "0.5,0,0.5,1"]
        assert aborted == ["0,0,0.5,1"]  # the stale search was cancelled
        try:
            held[0].continue_()  # too late: the page no longer listens
        except Exception:  # noqa: BLE001 - Playwright refuses a cancelled request's route
            pass
        page.wait_for_timeout(300)
        assert result_ids(page)[0] == "111"
        assert_crop(box_crop(page), [0.5, 0, 0.5, 1], 0.01)


def test_the_box_starts_on_the_servers_garment_pick(browser, server, photo):
    """When the server answers a crop of its own (the garment focus), the box shows it."""
    with device_page(browser, f"{server}/?seed=1", "laptop") as page:

        def with_a_pick(route):
            # (Playwright cannot forward a request whose body is a Blob: ask the server here.)
            answer = httpx.post(
                route.request.url, files={"image": ("two.png", photo.read_bytes(), "image/png")}
            ).json()
            answer["query"]["crop"] = [0.15, 0.15, 0.7, 0.7]
            route.fulfill(json=answer)

        page.route(is_search, with_a_pick)
        sent = record_uploads(page)
        upload(page, photo)
        assert_crop(box_crop(page), [0.15, 0.15, 0.7, 0.7], 0.01)
        assert page.get_attribute("#crop-box", "aria-valuetext") == (
            "70% wide, 70% high, 15% from the left, 15% from the top"
        )
        assert "crop=" not in page.evaluate("location.hash")  # the server's pick, not a choice
        assert page.is_enabled("#crop-reset")
        # A click on the box without a move searches nothing again; nor does a drag that
        # Escape cancels (the box goes back).
        rect = photo_rect(page)
        middle = (rect["x"] + rect["width"] / 2, rect["y"] + rect["height"] / 2)
        page.mouse.click(*middle)
        page.mouse.down()
        page.mouse.move(middle[0] + 40, middle[1] + 20, steps=4)
        assert box_crop(page)[0] > 0.2
        page.keyboard.press("Escape")
        page.mouse.up()
        page.wait_for_timeout(400)
        assert_crop(box_crop(page), [0.15, 0.15, 0.7, 0.7], 0.01)
        assert sent == [""]
        # The retailer's details name the crop the results answer.
        assert "crop 0.15,0.15,0.7,0.7" in page.text_content("#details-query")


def test_touch_drag_and_the_box_stays_on_the_photo_when_the_layout_changes(browser, server, photo):
    with device_page(browser, f"{server}/?seed=1", "phone") as page:
        sent = record_uploads(page)
        upload(page, photo)
        assert_crop(box_crop(page), WHOLE, 0.01)
        touch = page.context.new_cdp_session(page)
        rect = photo_rect(page)
        mid_y = rect["y"] + rect["height"] / 2
        scroll_before = page.evaluate("window.scrollY")

        def finger(kind: str, x: float | None = None) -> None:
            points = [] if x is None else [{"x": x, "y": mid_y}]
            touch.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

        # A finger drags the left edge to the middle: the right half, the blue square.
        finger("touchStart", rect["x"] + 4)
        for step in range(1, 7):
            finger("touchMove", rect["x"] + 4 + step * (rect["width"] / 2 - 4) / 6)
        finger("touchEnd")
        wait_for_crop_results(page, sent, 2)
        assert_crop(parse(sent[1]), [0.5, 0, 0.5, 1], 0.03)
        assert result_ids(page)[0] == "111"
        assert page.evaluate("window.scrollY") == scroll_before  # the page did not scroll
        assert (
            page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            <= 0
        )
        # The reset button is a full-size touch target.
        reset = page.eval_on_selector("#crop-reset", "el => el.getBoundingClientRect().height")
        assert reset >= 44
        screenshot(page, "browser-crop-phone.png")

        # Phone to laptop width and back: the box stays on the same part of the photo.
        shown = box_crop(page)
        for viewport in (LAPTOP, PHONE):
            page.set_viewport_size(viewport)
            page.wait_for_timeout(100)
            assert_crop(box_crop(page), shown, 0.01)
        assert len(sent) == 2  # a resize is no new search
