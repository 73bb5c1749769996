"""Browsing over the tiny bundle: GET /api/items, /api/items/{id}, its image and thumbnail, and
/api/facets; ids never reach a file except through the catalog."""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from lookalike.bundle import current_version_dir
from tests.server.conftest import API_KEY, ITEM_FIELDS, SECRET, assert_error

TRAVERSALS = [
    "..%2F..%2F..%2Fsecret.txt",
    "%2e%2e%2f%2e%2e%2fsecret.txt",
    "%2e%2e/%2e%2e/secret.txt",
    "..%252F..%252Fsecret.txt",  # double-encoded
    "..%5C..%5Csecret.txt",
    "%2Fetc%2Fpasswd",
    "%2F%2Fetc%2Fpasswd",
    "101%00",
    "101%00.jpg",
    "%00",
    "..",
    "%2e%2e",
    "%c0%ae%c0%ae%2fsecret.txt",  # overlong UTF-8 dots
    "101%2F..%2F..%2Fsecret.txt",
    "~%2F.ssh%2Fid_rsa",
    "file%3A%2F%2F%2Fetc%2Fpasswd",
]


# --- browsing -----------------------------------------------------------------------------------
def test_items_pages(client):
    first = client.get("/api/items").json()
    assert first["total"] == 24 and first["limit"] == 24 and len(first["items"]) == 24
    assert all(set(item) == ITEM_FIELDS for item in first["items"])
    assert "path" not in first["items"][0]  # server file paths stay private
    page = client.get("/api/items?offset=20&limit=10").json()
    assert [i["id"] for i in page["items"]] == [i["id"] for i in first["items"][20:]]
    assert client.get("/api/items?offset=100").json()["items"] == []


def test_items_filtered(client):
    body = client.get("/api/items?Colour=Red&limit=100").json()
    assert body["total"] == 6
    assert {i["metadata"]["Colour"] for i in body["items"]} == {"Red"}
    body = client.get("/api/items?Colour=Red&Colour=Green&ProductType=Circle").json()
    assert body["total"] == 4


def test_items_random_is_deterministic(client):
    a = [i["id"] for i in client.get("/api/items?random=7&limit=24").json()["items"]]
    b = [i["id"] for i in client.get("/api/items?random=7&limit=24").json()["items"]]
    c = [i["id"] for i in client.get("/api/items?random=8&limit=24").json()["items"]]
    plain = [i["id"] for i in client.get("/api/items").json()["items"]]
    assert a == b and a != c and a != plain
    assert sorted(a) == sorted(plain)
    reds = client.get("/api/items?random=3&Colour=Red").json()
    assert reds["total"] == 6 and reds["random"] == 3


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=201", "offset=-1", "random=-1", "random=abc", "limit=x"]
)
def test_items_bad_parameters_are_422(client, query):
    assert_error(client.get(f"/api/items?{query}"), 422, "invalid_parameter")


def test_items_unknown_filter_is_422(client):
    # A misspelt parameter is an unknown column, not silently ignored.
    assert_error(client.get("/api/items?limt=5"), 422, "invalid_filter", "limt")


def test_item(client):
    body = client.get("/api/items/101").json()
    assert set(body) == ITEM_FIELDS
    assert body["metadata"]["ProductTitle"] == "Red circle 0"
    assert body["image_url"] == "/api/items/101/image"


def test_unknown_item_is_404(client):
    for path in (
        "/api/items/999",
        "/api/items/999/similar",
        "/api/items/999/image",
        "/api/items/999/thumbnail",
    ):
        assert_error(client.get(path), 404, "unknown_item", "999")


@pytest.mark.parametrize(
    "url",
    [
        "/api/items/101/similar?k=0",
        "/api/items/101/similar?k=101",
        "/api/items/101/similar?k=-1",
        "/api/items/101/similar?k=1e3",
        "/api/items/101/similar?k=99999999999999999999999",
        "/api/items/101/similar?k=",
        "/api/items?offset=-1",
        "/api/items?offset=1.5",
        "/api/items?limit=0",
        "/api/items?limit=201",
        "/api/items?limit=-5",
        "/api/items?random=-1",
        f"/api/items?random={2**32}",
        "/api/items?offset=99999999999999999999999999",
        f"/api/items?offset={2**31}",
    ],
)
def test_out_of_range_parameters_are_422(client, url):
    response = client.get(url)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_parameter"


def test_huge_offset_within_range_is_an_empty_page(client):
    body = client.get(f"/api/items?offset={2**31 - 1}&limit=200").json()
    assert body["items"] == [] and body["total"] == 24


# --- path traversal -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "item_id",
    [
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "%2Fetc%2Fpasswd",
        "..",
        "%2e%2e",
        "..%5C..%5Cwindows",
        "101%2F..%2F102",
        "101%00",
    ],
)
@pytest.mark.parametrize("suffix", ["", "/image", "/thumbnail", "/similar"])
def test_traversal_ids_are_404(client, item_id, suffix):
    response = client.get(f"/api/items/{item_id}{suffix}")
    assert response.status_code == 404, response.text
    assert response.json()["error"] in {"unknown_item", "not_found"}
    assert "root:" not in response.text


@pytest.mark.parametrize("item_id", TRAVERSALS)
def test_traversal_in_every_id_parameter_is_404(keyed, bundle_copy, secret, item_id):
    version = current_version_dir(bundle_copy)
    for method, suffix in [("GET", ""), ("GET", "/image"), ("GET", "/thumbnail"),
                           ("GET", "/similar"), ("DELETE", "")]:  # fmt: skip
        response = keyed.request(
            method, f"/api/items/{item_id}{suffix}", headers={"X-API-Key": API_KEY}
        )
        assert response.status_code == 404, (method, item_id, suffix, response.text)
        assert SECRET not in response.text and "root:" not in response.text
        assert response.json()["error"] in {"unknown_item", "not_found"}
    assert current_version_dir(bundle_copy) == version  # nothing was deleted


def test_catalog_path_as_id_is_404(client, tiny_catalog):
    # Looked up by id only: even the real file's absolute path is not an id.
    path = quote(str(tiny_catalog / "Apparel" / "101.jpg"), safe="")
    assert client.get(f"/api/items/{path}/image").status_code == 404
    assert client.get("/api/items/..%2F..%2F..%2Fetc%2Fpasswd/../../image").status_code == 404


# --- images and thumbnails ----------------------------------------------------------------------
def test_image(client, tiny_catalog):
    response = client.get("/api/items/101/image")
    assert response.status_code == 200
    assert response.content == (tiny_catalog / "Apparel" / "101.jpg").read_bytes()
    assert response.headers["content-type"] == "image/jpeg"
    assert "max-age=86400" in response.headers["cache-control"]
    etag = response.headers["etag"]
    again = client.get("/api/items/101/image", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    weak = client.get("/api/items/101/image", headers={"If-None-Match": f'"x", W/{etag}'})
    assert weak.status_code == 304
    other = client.get("/api/items/101/image", headers={"If-None-Match": '"nope"'})
    assert other.status_code == 200
    assert client.get("/api/items/102/image").headers["etag"] != etag


def test_thumbnail(client):
    response = client.get("/api/items/117/thumbnail")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert "max-age=86400" in response.headers["cache-control"]
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "JPEG" and image.size == (192, 192)
    etag = response.headers["etag"]
    assert (
        client.get("/api/items/117/thumbnail", headers={"If-None-Match": etag}).status_code == 304
    )


def test_thumbnail_of_unreadable_image_is_404(app_factory, recommender, tmp_path, monkeypatch):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    paths = list(recommender.items.paths)
    paths[recommender.row("110")] = str(broken)
    paths[recommender.row("111")] = str(tmp_path / "missing.jpg")
    monkeypatch.setattr(recommender.items, "paths", paths)
    with TestClient(app_factory(thumbnail_dir=tmp_path / "t")) as test_client:
        assert_error(test_client.get("/api/items/110/thumbnail"), 404, "image_unavailable")
        assert_error(test_client.get("/api/items/111/thumbnail"), 404, "image_unavailable")
        assert_error(test_client.get("/api/items/111/image"), 404, "image_unavailable")


# --- facets -------------------------------------------------------------------------------------
def test_facets(client):
    body = client.get("/api/facets").json()
    assert body["total"] == 24
    facets = {f["column"]: {v["value"]: v["count"] for v in f["values"]} for f in body["facets"]}
    assert set(facets) == {"Gender", "ProductType", "Colour"}  # not the unique titles
    assert facets["Colour"] == {"Red": 6, "Green": 6, "Blue": 6, "Black": 6}
    assert facets["Gender"] == {"Women": 12, "Men": 12}


def test_facets_under_filters(client):
    body = client.get("/api/facets?Gender=Women&Colour=Red").json()
    assert body["total"] == 3
    facets = {f["column"]: {v["value"]: v["count"] for v in f["values"]} for f in body["facets"]}
    # Each column counts under the other columns' filters; every value stays listed.
    assert facets["Colour"] == {"Red": 3, "Green": 3, "Blue": 3, "Black": 3}
    assert facets["Gender"] == {"Women": 3, "Men": 3}
    assert sum(facets["ProductType"].values()) == 3
    assert_error(client.get("/api/facets?Fabric=Silk"), 422, "invalid_filter")


# --- filter names -------------------------------------------------------------------------------
def test_filter_names_match_columns_ignoring_case(client):
    women = client.get("/api/items?Gender=Women&limit=100").json()
    assert client.get("/api/items?gender=Women&limit=100").json() == women
    assert women["total"] == 12
    facets = client.get("/api/facets?gender=Women&COLOUR=Red").json()
    assert facets == client.get("/api/facets?Gender=Women&Colour=Red").json()
    assert facets["total"] == 3
    assert_error(client.get("/api/items?gendre=Women"), 422, "invalid_filter", "gendre", "Gender")


def test_ambiguous_filter_name_is_422(keyed, tiny_catalog):
    # An item with a "colour" column beside the catalog's "Colour": only exact names then.
    photo = (tiny_catalog / "Apparel" / "102.jpg").read_bytes()
    added = keyed.post(
        "/api/items",
        files={"image": ("p.jpg", photo, "image/jpeg")},
        data={"id": "lower-colour", "colour": "Teal"},
        headers={"X-API-Key": API_KEY},
    )
    assert added.status_code == 201, added.text
    assert_error(
        keyed.get("/api/items?COLOUR=Red"), 422, "invalid_filter", "'COLOUR'", "ambiguous", "colour"
    )
    assert_error(keyed.get("/api/items/101/similar?cOLOUR=Red"), 422, "invalid_filter", "ambiguous")
    assert_error(keyed.get("/api/facets?COLOUR=Red"), 422, "invalid_filter", "ambiguous")
    assert keyed.get("/api/items?Colour=Red").json()["total"] == 6
    assert [i["id"] for i in keyed.get("/api/items?colour=Teal").json()["items"]] == [
        "lower-colour"
    ]
    assert keyed.get("/api/items?gender=Men").json()["total"] == 12  # still unambiguous


def test_image_browsers_cannot_show_comes_as_a_cached_jpeg(
    app_factory, recommender, tmp_path, monkeypatch
):
    """A HEIC catalog image (an iPhone photo) is sent as a JPEG copy any browser shows,
    made once; ``original=true`` sends the file itself."""
    heic = tmp_path / "blocks.heic"
    heic.write_bytes((Path(__file__).parents[2] / "data" / "heic" / "blocks.heic").read_bytes())
    paths = list(recommender.items.paths)
    paths[recommender.row("110")] = str(heic)
    monkeypatch.setattr(recommender.items, "paths", paths)
    app = app_factory(thumbnail_dir=tmp_path / "t")
    with TestClient(app) as test_client:
        response = test_client.get("/api/items/110/image")
        assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
        with Image.open(io.BytesIO(response.content)) as shown, Image.open(heic) as source:
            assert shown.format == "JPEG" and shown.size == source.size
        assert app.state.catalog.thumbnails.generated == 1
        etag = response.headers["etag"]
        again = test_client.get("/api/items/110/image", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert test_client.get("/api/items/110/image").content == response.content
        assert app.state.catalog.thumbnails.generated == 1  # made once
        original = test_client.get("/api/items/110/image?original=true")
        assert original.status_code == 200 and original.content == heic.read_bytes()
        # a JPEG is still sent as it is
        plain = test_client.get("/api/items/101/image")
        assert plain.content == Path(recommender.items.paths[recommender.row("101")]).read_bytes()
        heic.write_bytes(b"not a photo any more")
        broken = test_client.get("/api/items/110/image")
        assert_error(broken, 404, "image_unavailable")
