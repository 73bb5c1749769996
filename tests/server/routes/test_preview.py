"""POST /api/preview: the shopper's photo as a JPEG the page can show."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from lookalike.server.thumbnails import PREVIEW_SIDE, photo_preview_jpeg
from tests.server.conftest import UPLOAD_LIMIT, assert_error

HEIC = Path(__file__).resolve().parents[2] / "data" / "heic"


def preview(client, data: bytes, name: str, ctype: str):
    return client.post("/api/preview", files={"image": (name, data, ctype)})


def test_a_heic_photo_comes_back_as_an_upright_jpeg(client):
    response = preview(
        client, (HEIC / "blocks-rotated.heic").read_bytes(), "IMG.HEIC", "image/heic"
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "no-store"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "JPEG" and image.size == (48, 64)  # turned as the file says
    red_top = np.asarray(image.convert("RGB"))[5, 5]
    assert np.all(np.abs(red_top.astype(int) - (220, 30, 30)) <= 16), red_top


def test_a_large_photo_is_shrunk_to_the_preview_side():
    big = io.BytesIO()
    Image.new("RGB", (4000, 1000), (10, 120, 200)).save(big, "PNG")
    jpeg = Image.open(io.BytesIO(photo_preview_jpeg(big.getvalue())))
    assert jpeg.size == (PREVIEW_SIDE, PREVIEW_SIDE // 4)


def test_not_an_image_is_422_naming_the_file(client):
    response = preview(client, b"<html>nope</html>", "page.heic", "image/heic")
    assert_error(response, 422, "invalid_image", "'page.heic'")


def test_the_upload_limit_holds(client):
    response = preview(client, b"\xff\xd8" + bytes(UPLOAD_LIMIT * 3), "big.jpg", "image/jpeg")
    assert response.status_code == 413


def test_preview_is_in_the_openapi_document(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "image/jpeg" in paths["/api/preview"]["post"]["responses"]["200"]["content"]
