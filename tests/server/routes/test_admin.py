"""POST /api/items and DELETE /api/items/{id} (API key) against hostile clients; the update
flow itself is tested with lookalike.updates in tests/test_updates.py."""

from __future__ import annotations

from pathlib import Path

import pytest

import lookalike
from lookalike.server.errors import ApiError
from lookalike.server.routes.admin import MAX_ITEM_PHOTOS, item_fields
from tests.server.conftest import API_KEY
from tests.tolerances import approx


def test_upload_file_names_never_choose_where_files_go(keyed, bundle_copy, tiny_catalog):
    photo = (tiny_catalog / "Apparel" / "102.jpg").read_bytes()
    target = bundle_copy.parent / "evil.jpg"
    response = keyed.post(
        "/api/items",
        files={"image": ("../../evil.jpg", photo, "image/jpeg")},
        data={"id": "named-evil"},
        headers={"X-API-Key": API_KEY},
    )
    assert response.status_code == 201, response.text
    assert not target.exists() and not Path("evil.jpg").exists()
    stored = Path(lookalike.load(bundle_copy).items.paths[-1])
    assert stored.parent == (bundle_copy / "images").resolve()
    assert keyed.get("/api/items/named-evil/image").content == photo


def test_too_many_form_fields_is_422(keyed, tiny_catalog):
    photo = (tiny_catalog / "Apparel" / "102.jpg").read_bytes()
    fields = {f"col{i}": "x" for i in range(200)}
    response = keyed.post(
        "/api/items",
        files={"image": ("p.jpg", photo, "image/jpeg")},
        data=fields,
        headers={"X-API-Key": API_KEY},
    )
    assert response.status_code == 422 and response.json()["error"] == "invalid_multipart"


def test_item_fields_merge_json_and_form_fields():
    item_id, metadata = item_fields(
        {"id": "x1", "metadata": '{"Colour": "Red", "Size": 42}', "Colour": " Blue "}
    )
    assert item_id == "x1" and metadata == {"Colour": "Blue", "Size": "42"}
    assert item_fields({}) == (None, {})
    for fields in ({"limit": "3"}, {"metadata": "[1]"}, {"": "x"}, {"Colour": "a\x00b"}):
        with pytest.raises(ApiError) as info:
            item_fields(fields)
        assert (info.value.status, info.value.error) == (422, "invalid_metadata"), fields


# --- a product with several photos in one request (issue 18) ----------------------------------
def photos_of(catalog: Path, *names: str) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [
        ("image", (name, (catalog / "Apparel" / name).read_bytes(), "image/jpeg")) for name in names
    ]


def versions(bundle: Path) -> list[str]:
    return sorted(p.name for p in (bundle / "versions").iterdir())


def test_several_images_make_one_product_with_those_photos(keyed, bundle_copy, tiny_catalog):
    files = photos_of(tiny_catalog, "102.jpg", "103.jpg", "104.jpg")
    before = versions(bundle_copy)

    response = keyed.post(
        "/api/items",
        files=files,
        data={"id": "P3", "Colour": "Red"},
        headers={"X-API-Key": API_KEY},
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["item"]["id"] == "P3" and body["items"] == 25
    assert [p["number"] for p in body["item"]["photos"]] == [1, 2, 3]
    assert len(versions(bundle_copy)) == len(before) + 1  # one update for all three
    for number, (_, (_, data, _)) in enumerate(files, start=1):
        assert keyed.get(f"/api/items/P3/image?photo={number}").content == data
    assert keyed.get("/api/items/P3").json()["metadata"] == {"Colour": "Red"}
    # The served catalog is the new version: a search with photo 3 finds P3 by that photo.
    found = keyed.post(
        "/api/recommend?k=3", files={"image": ("q.jpg", files[2][1][1], "image/jpeg")}
    ).json()["results"]
    # (104.jpg is byte-identical to P3's photo 3: one duplicate group, either may be shown)
    assert found[0]["id"] in ("P3", "104") and found[0]["distance"] == approx(0.0)
    assert found[0]["id"] == "104" or found[0]["photo"]["number"] == 3


def test_one_unreadable_image_adds_nothing(keyed, bundle_copy, tiny_catalog):
    files = photos_of(tiny_catalog, "102.jpg", "103.jpg")
    files.insert(1, ("image", ("broken.jpg", b"not an image at all", "image/jpeg")))
    before = versions(bundle_copy)

    response = keyed.post(
        "/api/items", files=files, data={"id": "P4"}, headers={"X-API-Key": API_KEY}
    )

    assert response.status_code == 422, response.text
    error = response.json()
    assert error["error"] == "invalid_image" and "image 2" in error["detail"]
    assert "broken.jpg" in error["detail"] and "nothing was added" in error["detail"]
    assert versions(bundle_copy) == before
    assert keyed.get("/api/items/P4").status_code == 404


def test_several_images_for_an_id_in_the_catalog_is_409(keyed, bundle_copy, tiny_catalog):
    before = versions(bundle_copy)
    response = keyed.post(
        "/api/items",
        files=photos_of(tiny_catalog, "102.jpg", "103.jpg"),
        data={"id": "102"},
        headers={"X-API-Key": API_KEY},
    )
    assert response.status_code == 409 and response.json()["error"] == "id_exists"
    assert versions(bundle_copy) == before


def test_too_many_images_or_a_stray_file_field_is_422(keyed, tiny_catalog):
    one = photos_of(tiny_catalog, "102.jpg")[0]
    too_many = keyed.post(
        "/api/items", files=[one] * (MAX_ITEM_PHOTOS + 1), headers={"X-API-Key": API_KEY}
    )
    assert too_many.status_code == 422 and too_many.json()["error"] == "invalid_multipart"
    assert str(MAX_ITEM_PHOTOS) in too_many.json()["detail"]
    stray = keyed.post(
        "/api/items",
        files=[one, ("photo", one[1])],
        headers={"X-API-Key": API_KEY},
    )
    assert stray.status_code == 422 and "'photo'" in stray.json()["detail"]
    none = keyed.post("/api/items", data={"id": "x"}, files=[], headers={"X-API-Key": API_KEY})
    assert none.status_code in (415, 422)


def test_the_openapi_document_names_several_images(keyed):
    schema = keyed.get("/openapi.json").json()["paths"]["/api/items"]["post"]["requestBody"]
    image = schema["content"]["multipart/form-data"]["schema"]["properties"]["image"]
    assert image["type"] == "array" and image["maxItems"] == MAX_ITEM_PHOTOS
    assert image["items"]["format"] == "binary"
