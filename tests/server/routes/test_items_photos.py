"""Products with several photos over HTTP (issue 18): an item lists its photos, ``?photo=N``
serves one of them (image and thumbnail), results name the photo that matched."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from lookalike.server.app import create_app
from tests.server.conftest import assert_error


@pytest.fixture(scope="module")
def products(product_bundle, tmp_path_factory):
    app = create_app(product_bundle, thumbnail_dir=tmp_path_factory.mktemp("thumbs"))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_an_item_lists_its_photos(products):
    item = products.get("/api/items/202").json()

    assert [p["number"] for p in item["photos"]] == [1, 2, 3]
    assert item["photos"][1]["image_url"] == "/api/items/202/image?photo=2"
    assert item["photos"][1]["thumbnail_url"] == "/api/items/202/thumbnail?photo=2"
    assert item["image_url"] == "/api/items/202/image"


def test_photo_n_serves_that_photo_and_its_thumbnail(products, product_catalog):
    for number in (1, 2, 3):
        image = products.get(f"/api/items/202/image?photo={number}")
        assert image.status_code == 200
        assert image.content == (product_catalog / f"202-{number}.jpg").read_bytes()
    thumbs = [products.get(f"/api/items/202/thumbnail?photo={n}") for n in (1, 3)]
    assert all(t.status_code == 200 for t in thumbs)
    assert thumbs[0].content != thumbs[1].content
    assert Image.open(io.BytesIO(thumbs[1].content)).format == "JPEG"
    assert products.get("/api/items/202/image").content == image_of(product_catalog, 1)


def image_of(catalog, number: int) -> bytes:
    return (catalog / f"202-{number}.jpg").read_bytes()


def test_a_photo_the_item_does_not_have_is_a_clear_404(products):
    assert_error(products.get("/api/items/202/image?photo=9"), 404, "unknown_photo", "1, 2, 3")
    assert_error(products.get("/api/items/202/thumbnail?photo=4"), 404, "unknown_photo")
    assert_error(products.get("/api/items/nope/image?photo=1"), 404, "unknown_item")
    assert products.get("/api/items/202/image?photo=0").status_code == 422
    assert products.get("/api/items/202/image?photo=two").status_code == 422


def test_results_carry_the_matched_photo_and_all_photo_urls(products, product_catalog):
    found = products.get("/api/items/202/similar?k=11").json()["results"]

    ids = [r["id"] for r in found]
    assert len(ids) == 11 and len(set(ids)) == 11 and "202" not in ids
    for result in found:
        assert [p["number"] for p in result["photos"]] == [1, 2, 3]
        assert result["photo"]["number"] in (1, 2, 3)
        assert result["photo"]["image_url"].endswith(f"?photo={result['photo']['number']}")
    with open(product_catalog / "203-2.jpg", "rb") as handle:
        upload = products.post(
            "/api/recommend?k=3", files={"image": ("p.jpg", handle, "image/jpeg")}
        )
    assert upload.status_code == 200, upload.text
    top = upload.json()["results"][0]
    assert top["id"] == "203" and top["photo"]["number"] == 2


# --- photo updates (with the API key) ---------------------------------------------------------
@pytest.fixture
def keyed_products(product_bundle, tmp_path):
    import shutil

    from tests.server.conftest import API_KEY

    bundle = tmp_path / "bundle"
    shutil.copytree(product_bundle, bundle, symlinks=True)
    app = create_app(bundle, api_key=API_KEY, api_key_env=None, thumbnail_dir=tmp_path / "thumbs")
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["X-API-Key"] = API_KEY
        yield client


def test_add_and_remove_photos_over_http(keyed_products, product_catalog):
    client = keyed_products
    photo = (product_catalog / "209-2.jpg").read_bytes()

    added = client.post("/api/items/202/photos", files={"image": ("x.jpg", photo, "image/jpeg")})
    assert added.status_code == 201, added.text
    body = added.json()
    assert body["photo"] == 4 and not body["created"]
    assert [p["number"] for p in body["item"]["photos"]] == [1, 2, 3, 4]
    assert body["duplicates"][0]["of"] == "209" and body["duplicates"][0]["kind"] == "exact"
    assert client.get("/api/items/202/image?photo=4").content == photo

    new = client.post(
        "/api/items/N9/photos",
        files={"image": ("y.jpg", photo, "image/jpeg")},
        data={"Colour": "Teal"},
    )
    assert new.status_code == 201 and new.json()["created"] and new.json()["items"] == 13
    assert client.get("/api/items/N9").json()["metadata"] == {"Colour": "Teal"}

    removed = client.delete("/api/items/202/photos/1")
    assert removed.status_code == 200, removed.text
    assert [p["number"] for p in client.get("/api/items/202").json()["photos"]] == [2, 3, 4]
    assert_error(client.get("/api/items/202/image?photo=1"), 404, "unknown_photo")
    assert_error(client.delete("/api/items/202/photos/1"), 404, "unknown_photo")
    assert_error(client.delete("/api/items/N9/photos/1"), 409, "conflict", "remove the item")
    assert_error(client.delete("/api/items/zz/photos/1"), 404, "unknown_item")

    gone = client.delete("/api/items/202")
    assert gone.status_code == 200 and gone.json()["items"] == 12
    assert_error(client.get("/api/items/202/image?photo=2"), 404, "unknown_item")


def test_photo_updates_need_the_key(keyed_products, product_catalog):
    photo = (product_catalog / "209-2.jpg").read_bytes()
    del keyed_products.headers["X-API-Key"]
    response = keyed_products.post(
        "/api/items/202/photos", files={"image": ("x.jpg", photo, "image/jpeg")}
    )
    assert response.status_code == 401
    assert keyed_products.delete("/api/items/202/photos/1").status_code == 401
