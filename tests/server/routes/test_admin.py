"""POST /api/items and DELETE /api/items/{id} (API key) against hostile clients; the update
flow itself is tested with lookalike.updates in tests/test_updates.py."""

from __future__ import annotations

from pathlib import Path

import pytest

import lookalike
from lookalike.server.errors import ApiError
from lookalike.server.routes.admin import item_fields
from tests.server.conftest import API_KEY


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
