"""The web page with products of several photos (issue 18), in headless Chromium: cards show
the photo that matched and count the product's photos; picking a product shows all its
photos and its lookalikes, each product once."""

from __future__ import annotations

import pytest

from tests.server.conftest import open_page, running_server, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(product_bundle, tmp_path_factory):
    with running_server(product_bundle, tmp_path_factory.mktemp("server")) as url:
        yield url


def test_a_product_shows_its_photos_and_lookalikes(browser, server):
    with open_page(browser, f"{server}/#item=202", "#results [data-item-id]") as page:
        page.wait_for_selector("#preview-photos:not([hidden]) img")
        alts = page.eval_on_selector_all("#preview-photos img", "els => els.map(e => e.alt)")
        assert alts == ["Photo 1 of 3", "Photo 2 of 3", "Photo 3 of 3"]
        links = page.eval_on_selector_all(
            "#preview-photos a", "els => els.map(e => e.getAttribute('href'))"
        )
        assert links[1].endswith("/api/items/202/image?photo=2")

        cards = page.eval_on_selector_all(
            "#results [data-item-id]",
            """els => els.map(e => [e.dataset.itemId, e.dataset.photo,
                e.querySelector('img').getAttribute('src'),
                e.querySelector('.card-photos').textContent])""",
        )
        ids = [c[0] for c in cards]
        assert ids and len(ids) == len(set(ids)) and "202" not in ids
        for item_id, photo, src, count in cards:
            assert src.endswith(f"/api/items/{item_id}/thumbnail?photo={photo}")
            assert count == "3 photos"
        # the matched-photo thumbnails in view load (the others are lazy)
        page.wait_for_function(
            "() => [...document.querySelectorAll('#results img')].slice(0, 3)"
            ".every(e => e.complete && e.naturalWidth > 0)"
        )
        screenshot(page, "products.png")

        # picking a result shows that product's photos and lookalikes
        page.click(f"#results [data-item-id='{ids[0]}'] .card-main")
        page.wait_for_function(
            "id => document.getElementById('results-heading').textContent.length && "
            "location.hash.includes('item=' + id)",
            arg=ids[0],
        )
        page.wait_for_function(
            "id => [...document.querySelectorAll('#preview-photos a')].length === 3 && "
            "document.querySelector('#preview-photos a').getAttribute('href').includes(id)",
            arg=ids[0],
        )
