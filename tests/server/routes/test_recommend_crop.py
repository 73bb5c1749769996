"""POST /api/recommend?crop=x,y,w,h: the shopper's crop of the uploaded photo."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.server.conftest import assert_error, upload


def two_items(tiny_catalog) -> bytes:
    """PNG bytes: catalog photos 101 (red circle) | 111 (blue square), side by side."""
    left = Image.open(tiny_catalog / "Apparel" / "101.jpg").convert("RGB")
    right = Image.open(tiny_catalog / "Apparel" / "111.jpg").convert("RGB")
    both = Image.new("RGB", (left.width * 2, left.height))
    both.paste(left, (0, 0))
    both.paste(right, (left.width, 0))
    out = io.BytesIO()
    both.save(out, format="PNG")
    return out.getvalue()


def test_crop_picks_the_garment(client, tiny_catalog):
    photo = two_items(tiny_catalog)
    left = upload(client, photo, "two.png", "image/png", "?k=1&crop=0,0,0.5,1")
    right = upload(client, photo, "two.png", "image/png", "?k=1&crop=0.5,0,0.5,1")
    assert left.status_code == 200 and right.status_code == 200, left.text + right.text
    assert left.json()["results"][0]["id"] == "101"
    assert right.json()["results"][0]["id"] == "111"
    # crop is a parameter, not a metadata filter, and the response names the region answered
    assert right.json()["query"]["filters"] == {}
    assert right.json()["query"]["crop"] == [0.5, 0, 0.5, 1]


@pytest.mark.parametrize("crop", ["0,0,1", "0,0,0,1", "0.5,0,0.6,1", "a,b,c,d", "-1,0,1,1"])
def test_bad_crop_is_422(client, tiny_catalog, crop):
    response = upload(client, two_items(tiny_catalog), "two.png", "image/png", f"?crop={crop}")
    assert_error(response, 422, "invalid_crop", "crop")
