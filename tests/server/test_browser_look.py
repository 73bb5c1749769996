"""End-to-end: shop the look on the page, in headless Chromium.

A street photo (``tests/data/street/0002.jpg``: a dress and a jacket) is uploaded; the page
asks ``POST /api/recommend?look=true`` and draws a labelled box over each garment the shipped
garment parser finds, the main one chosen, the crop box on it. Choosing another garment (a
click, a finger's tap, Enter) shows that garment's results from the same answer, with no new
request, and moves the crop box onto it; dragging the crop box is a plain ``crop=`` query
that leaves every garment unchosen. The tiny bundle's items are synthetic shapes, so the
results are arbitrary, but each garment's differ. Same Chromium and helpers as
``test_browser_crop.py``; skipped without them.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.server.conftest import running_server, screenshot
from tests.server.test_browser_crop import assert_crop, box_crop, photo_rect
from tests.server.test_browser_phone import (  # noqa: F401 - axe_source is a fixture
    axe_source,
    axe_violations,
    device_page,
    result_ids,
    wait_for_results,
)

pytestmark = pytest.mark.browser

STREET_PHOTO = Path(__file__).resolve().parents[1] / "data" / "street" / "0002.jpg"


@pytest.fixture(scope="module")
def server(tiny_bundle, tmp_path_factory):
    """``lookalike serve`` over the tiny bundle."""
    with running_server(tiny_bundle, tmp_path_factory.mktemp("look")) as url:
        yield url


def record_searches(page) -> list[dict[str, list[str]]]:
    """The query parameters of every photo search the page sends, in order."""
    sent: list[dict[str, list[str]]] = []

    def note(request) -> None:
        if request.method == "POST" and urlsplit(request.url).path.endswith("/api/recommend"):
            sent.append(parse_qs(urlsplit(request.url).query))

    page.on("request", note)
    return sent


def upload_look(page) -> dict:
    """Upload the street photo; the look answer once its garments are drawn."""
    with page.expect_response(lambda r: "look=true" in r.url) as answer:
        page.set_input_files("#file-input", str(STREET_PHOTO))
    look = answer.value.json()
    wait_for_results(page, "10 lookalikes")
    page.wait_for_selector("#garment-boxes .garment-box")
    return look


def found(look: dict) -> list[int]:
    """Indexes of the garments drawn (every kind but "photo")."""
    return [i for i, g in enumerate(look["garments"]) if g["kind"] != "photo"]


def box(page, index: int):
    return page.locator(f'#garment-boxes [data-garment="{index}"]')


def pressed(page) -> list[str]:
    return page.eval_on_selector_all(
        '#garment-boxes [aria-pressed="true"]', "els => els.map(e => e.dataset.garment)"
    )


def garment_ids(look: dict, index: int) -> list[str]:
    return [r["id"] for r in look["garments"][index]["results"]]


def test_a_street_photos_garments_are_boxes_that_choose_the_results(
    browser,
    server,
    axe_source,  # noqa: F811
):
    # bypass_csp: axe-core is injected for the accessibility check.
    with device_page(browser, f"{server}/?seed=1", "laptop", bypass_csp=True) as page:
        sent = record_searches(page)
        look = upload_look(page)
        assert len(sent) == 1 and sent[0].get("look") == ["true"] and "crop" not in sent[0]
        garments = found(look)
        assert len(garments) >= 2, look["garments"]  # a dress and outerwear, as shipped
        main = look["main"]
        assert main in garments

        # Each garment is a labelled toggle button; the main one is chosen and answered.
        assert page.locator("#garment-boxes .garment-box").count() == len(garments)
        for index in garments:
            kind = look["garments"][index]["kind"]
            assert box(page, index).text_content() == kind
            named = page.get_by_role("button", name=f"{kind}, show lookalikes")
            assert named.count() >= 1 and named.first.get_attribute("aria-pressed")
        assert pressed(page) == [str(main)]
        assert result_ids(page) == garment_ids(look, main)
        main_box = look["garments"][main]["box"]
        assert_crop(box_crop(page), main_box, 0.01)
        assert "garment=" not in page.evaluate("location.hash")
        screenshot(page, "browser-look.png")

        # Clicking another garment shows its results from the same answer: no request.
        other = next(i for i in garments if i != main)
        other_kind = look["garments"][other]["kind"]
        box(page, other).click()
        wait_for_results(page, f"10 lookalikes of the {other_kind}")
        assert result_ids(page) == garment_ids(look, other) != garment_ids(look, main)
        assert_crop(box_crop(page), look["garments"][other]["box"], 0.01)
        assert box_crop(page) != main_box
        assert pressed(page) == [str(other)]
        assert f"garment={other}" in page.evaluate("location.hash")
        assert len(sent) == 1

        # Enter on the main garment's box (the focus stays on it) goes back.
        box(page, main).focus()
        page.keyboard.press("Enter")
        page.wait_for_function(
            "i => document.querySelector(`[data-garment='${i}']`)"
            ".getAttribute('aria-pressed') === 'true'",
            arg=str(main),
        )
        wait_for_results(page, "10 lookalikes of the")
        assert result_ids(page) == garment_ids(look, main)
        assert_crop(box_crop(page), main_box, 0.01)
        assert page.evaluate("document.activeElement.dataset.garment") == str(main)
        assert "garment=" not in page.evaluate("location.hash")
        assert len(sent) == 1

        # axe-core: nothing serious with the garments drawn.
        violations = axe_violations(page, axe_source)
        assert not [v for v in violations if v["impact"] in ("serious", "critical")], violations

        # Dragging the crop box by hand is a plain crop= query; no garment stays chosen.
        rect = photo_rect(page)
        x, y, w, h = main_box
        start = (
            rect["x"] + (x + w / 2) * rect["width"],
            rect["y"] + (y + h * 0.8) * rect["height"],
        )
        page.mouse.move(*start)
        page.mouse.down()
        page.mouse.move(start[0] + 0.1 * rect["width"], start[1], steps=5)
        page.mouse.up()
        page.wait_for_function("() => location.hash.includes('crop=')")
        wait_for_results(page, "10 lookalikes")
        assert len(sent) == 2 and "look" not in sent[1] and sent[1]["crop"]
        assert pressed(page) == []
        assert page.locator("#garment-boxes .garment-box").count() == len(garments)

        # A garment chosen again comes from the kept answer, and the crop leaves the address.
        box(page, other).click()
        wait_for_results(page, f"10 lookalikes of the {other_kind}")
        assert result_ids(page) == garment_ids(look, other)
        assert_crop(box_crop(page), look["garments"][other]["box"], 0.01)
        assert "crop=" not in page.evaluate("location.hash")
        assert len(sent) == 2

        # A reload (or a shared link) asks for the look again and shows the same garment.
        # The address holds a smaller copy of the photo, so the parser's boxes may move a
        # little: the crop is compared with the new answer's box.
        with page.expect_response(lambda r: "look=true" in r.url) as answer:
            page.reload()
        again = answer.value.json()
        assert again["garments"][other]["kind"] == other_kind
        wait_for_results(page, f"10 lookalikes of the {other_kind}")
        assert pressed(page) == [str(other)]
        assert_crop(box_crop(page), again["garments"][other]["box"], 0.01)
        assert len(sent) == 3 and sent[2].get("look") == ["true"]


def test_a_finger_taps_a_garment_on_a_phone(browser, server):
    with device_page(browser, f"{server}/?seed=1", "phone") as page:
        sent = record_searches(page)
        look = upload_look(page)
        main = look["main"]
        other = next(i for i in found(look) if i != main)
        # The boxes are full-size touch targets on the phone's small photo.
        for index in found(look):
            size = box(page, index).bounding_box()
            assert size["width"] >= 24 and size["height"] >= 24, size
        before = box_crop(page)
        # A tap in the middle of the other garment's box (where it may lie over the crop
        # box: a tap there chooses the garment, it does not drag the box).
        box(page, other).tap()
        kind = look["garments"][other]["kind"]
        wait_for_results(page, f"10 lookalikes of the {kind}")
        assert pressed(page) == [str(other)]
        assert result_ids(page) == garment_ids(look, other)
        assert box_crop(page) != before
        assert_crop(box_crop(page), look["garments"][other]["box"], 0.01)
        assert len(sent) == 1
        assert (
            page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            <= 0
        )
        screenshot(page, "browser-look-phone.png")
