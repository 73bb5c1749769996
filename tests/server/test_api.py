"""The HTTP API over the tiny bundle (24 items: 3 shapes x 4 colours x 2 variants)."""

from __future__ import annotations

import asyncio
import io

import anyio
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from lookalike.server.uploads import limited
from tests.server.conftest import RESULT_FIELDS, UPLOAD_LIMIT, assert_error

ITEM_FIELDS = {"id", "metadata", "image_url", "thumbnail_url"}


@pytest.fixture(scope="module")
def red_circle(tiny_catalog) -> bytes:
    """A catalog photo: item 101, a red circle."""
    return (tiny_catalog / "Apparel" / "101.jpg").read_bytes()


def upload(client, data: bytes, name="photo.jpg", ctype="image/jpeg", query=""):
    return client.post(f"/api/recommend{query}", files={"image": (name, data, ctype)})


# --- health, docs, page -------------------------------------------------------------------------
def test_healthz(client):
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["items"] == 24
    assert body["encoder"] == "cae"
    assert body["bundle_version"].startswith("v")
    assert body["max_upload_bytes"] == UPLOAD_LIMIT


def test_openapi_docs_and_page(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/recommend", "/api/items", "/api/items/{item_id}/similar", "/api/facets"):
        assert path in paths
    page = client.get("/")
    assert page.status_code == 200 and 'id="results"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200


# --- POST /api/recommend ---------------------------------------------------------------------
def test_recommend_photo(client, red_circle):
    response = upload(client, red_circle, query="?k=5")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["query"] == {
        "type": "image",
        "filename": "photo.jpg",
        "item": None,
        "k": 5,
        "filters": {},
    }
    results = body["results"]
    assert [r["rank"] for r in results] == [1, 2, 3, 4, 5]
    assert all(set(r) == RESULT_FIELDS for r in results)
    distances = [r["distance"] for r in results]
    assert distances == sorted(distances)
    assert results[0]["id"] == "101"  # the catalog photo itself is its nearest item
    assert results[0]["thumbnail_url"] == "/api/items/101/thumbnail"
    assert body["took_ms"] >= 0


def test_recommend_default_k(client, red_circle):
    assert len(upload(client, red_circle).json()["results"]) == 10


def test_recommend_filter_gives_k_matches(client, red_circle):
    # 6 red items exist; a filtered search must still fill k=5 with reds.
    results = upload(client, red_circle, query="?k=5&Colour=Red").json()["results"]
    assert len(results) == 5
    assert all(r["metadata"]["Colour"] == "Red" for r in results)


def test_recommend_far_filter_still_fills_k(client, red_circle):
    # Blue items are far from a red circle: they are found all the same.
    results = upload(client, red_circle, query="?k=6&Colour=Blue").json()["results"]
    assert len(results) == 6
    assert {r["metadata"]["Colour"] for r in results} == {"Blue"}


def test_recommend_several_values_and_columns(client, red_circle):
    body = upload(client, red_circle, query="?k=12&Colour=Red&Colour=blue").json()
    assert len(body["results"]) == 12
    assert {r["metadata"]["Colour"] for r in body["results"]} == {"Red", "Blue"}
    assert body["query"]["filters"] == {"Colour": ["Red", "blue"]}
    # Columns combine with AND: 3 red items for women; k=10 returns only those.
    results = upload(client, red_circle, query="?k=10&Colour=Red&Gender=Women").json()["results"]
    assert len(results) == 3
    assert all(r["metadata"]["Gender"] == "Women" for r in results)


def test_recommend_text_file_is_415(client):
    body = assert_error(
        upload(client, b"just some notes\n", name="notes.txt", ctype="text/plain"),
        415,
        "unsupported_media_type",
        "notes.txt",
        "not an image",
    )
    assert "text/plain" in body["detail"]


def test_recommend_text_named_jpeg_is_422(client):
    assert_error(
        upload(client, b"<html><body>404</body></html>", name="fake.jpg"),
        422,
        "invalid_image",
        "fake.jpg",
        "html",
    )


def test_recommend_truncated_jpeg_is_422(client, red_circle):
    assert_error(
        upload(client, red_circle[: len(red_circle) // 2], name="cut.jpg"),
        422,
        "invalid_image",
        "cut.jpg",
        "truncated",
    )


def test_recommend_empty_file_is_422(client):
    assert_error(upload(client, b"", name="empty.jpg"), 422, "invalid_image", "empty")


def test_recommend_needs_multipart_image_field(client, red_circle):
    assert_error(
        client.post("/api/recommend", json={"image": "x"}),
        415,
        "unsupported_media_type",
        "multipart",
    )
    assert_error(
        client.post("/api/recommend", files={"photo": ("a.jpg", red_circle, "image/jpeg")}),
        422,
        "missing_image",
        "image",
    )
    assert_error(
        client.post("/api/recommend", data={"image": "not a file"}, files={"x": ("", b"")}),
        422,
        "missing_image",
    )


def test_recommend_too_large_by_content_length(client):
    big = b"\xff\xd8" + bytes(UPLOAD_LIMIT * 3)
    assert_error(upload(client, big), 413, "payload_too_large", "64 KB")


def test_recommend_too_large_file_within_body_slack(client):
    # Just over the file limit but within the multipart allowance: caught after parsing.
    assert_error(upload(client, bytes(UPLOAD_LIMIT + 10)), 413, "payload_too_large")


def test_recommend_too_large_streamed_without_length(client):
    boundary = "lookalikeboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()

    def body():  # a generator: sent chunked, no Content-Length header
        yield head
        for _ in range(40):
            yield bytes(16 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post(
        "/api/recommend",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert_error(response, 413, "payload_too_large")


def test_upload_limit_stops_reading_early():
    """The counting stream raises once past the limit, without draining the rest."""
    consumed = 0

    async def endless():
        nonlocal consumed
        while True:
            consumed += 1
            yield bytes(1000)

    async def drain():
        async for _ in limited(endless(), limit=10_000, max_bytes=10_000):
            pass

    with pytest.raises(Exception) as info:
        anyio.run(drain)
    assert getattr(info.value, "status", None) == 413
    assert consumed == 11


@pytest.mark.parametrize("k", ["0", "101", "-3", "ten"])
def test_recommend_bad_k_is_422(client, red_circle, k):
    body = assert_error(upload(client, red_circle, query=f"?k={k}"), 422, "invalid_parameter", "k")
    assert body["errors"][0]["loc"] == ["query", "k"]


def test_recommend_unknown_filter_column_is_422(client, red_circle):
    assert_error(
        upload(client, red_circle, query="?Fabric=Silk"), 422, "invalid_filter", "Fabric", "Colour"
    )


def test_recommend_runs_in_worker_thread(client, recommender, red_circle, monkeypatch):
    seen = {}
    original = recommender.recommend_images

    def spy(*args, **kwargs):
        try:
            asyncio.get_running_loop()
            seen["in_loop"] = True
        except RuntimeError:
            seen["in_loop"] = False
        return original(*args, **kwargs)

    monkeypatch.setattr(recommender, "recommend_images", spy)
    assert upload(client, red_circle, query="?k=2").status_code == 200
    assert seen["in_loop"] is False


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


def test_static_traversal_is_404(client):
    for path in ("/static/..%2f..%2fapp.py", "/static/%2e%2e/app.py", "/static/"):
        assert client.get(path).status_code == 404


def test_catalog_path_as_id_is_404(client, tiny_catalog):
    # Looked up by id only: even the real file's absolute path is not an id.
    from urllib.parse import quote

    path = quote(str(tiny_catalog / "Apparel" / "101.jpg"), safe="")
    assert client.get(f"/api/items/{path}/image").status_code == 404
    assert client.get("/api/items/..%2F..%2F..%2Fetc%2Fpasswd/../../image").status_code == 404


# --- similar ------------------------------------------------------------------------------------
def test_similar(client):
    body = client.get("/api/items/101/similar?k=5").json()
    assert body["query"]["type"] == "item" and body["query"]["item"]["id"] == "101"
    ids = [r["id"] for r in body["results"]]
    assert len(ids) == 5 and "101" not in ids
    assert [r["rank"] for r in body["results"]] == [1, 2, 3, 4, 5]


def test_similar_filtered(client):
    # 6 reds, minus the query item itself: 5 are left even when asking for 10.
    results = client.get("/api/items/101/similar?k=10&Colour=Red").json()["results"]
    assert len(results) == 5 and "101" not in {r["id"] for r in results}
    assert {r["metadata"]["Colour"] for r in results} == {"Red"}
    results = client.get("/api/items/101/similar?k=4&Colour=Black").json()["results"]
    assert len(results) == 4 and {r["metadata"]["Colour"] for r in results} == {"Black"}


def test_similar_bad_parameters(client):
    assert_error(client.get("/api/items/101/similar?k=101"), 422, "invalid_parameter")
    assert_error(client.get("/api/items/101/similar?Size=M"), 422, "invalid_filter", "Size")


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


def test_thumbnail_cached_once_in_bundle_dir(app_factory, tmp_path):
    # Default cache folder: BUNDLE/thumbnails (here a stand-in bundle folder).
    app = app_factory(tmp_path)
    thumbs = app.state.catalog.thumbnails
    with TestClient(app) as test_client:
        first = test_client.get("/api/items/105/thumbnail")
        files = list((tmp_path / "thumbnails").rglob("*.jpg"))
        assert len(files) == 1 and thumbs.generated == 1
        stamp = files[0].stat().st_mtime_ns
        second = test_client.get("/api/items/105/thumbnail")
        assert second.content == first.content == files[0].read_bytes()
        assert thumbs.generated == 1 and files[0].stat().st_mtime_ns == stamp
        assert not list((tmp_path / "thumbnails").rglob(".tmp-*"))  # no temp files left


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


# --- errors, CORS, CLI --------------------------------------------------------------------------
def test_unknown_route_and_method(client):
    assert_error(client.get("/api/nothing"), 404, "not_found")
    assert_error(client.get("/api/recommend"), 405, "method_not_allowed")


def test_unexpected_error_is_generic_500(client, recommender, monkeypatch, caplog):
    def boom(*args, **kwargs):
        raise RuntimeError("secret internals at /srv/model.bin")

    monkeypatch.setattr(recommender, "recommend_items", boom)
    response = client.get("/api/items/101/similar")
    body = assert_error(response, 500, "internal_error")
    assert "secret" not in response.text and "model.bin" not in response.text
    assert body["detail"] == "internal server error; see the server log"
    assert "secret internals" in caplog.text  # logged server side


def test_cors_closed_by_default(client):
    response = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(
        "/api/recommend",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_configured_origins(app_factory, tmp_path):
    app = app_factory(cors_origins=["https://shop.example"], thumbnail_dir=tmp_path)
    with TestClient(app) as test_client:
        ok = test_client.get("/healthz", headers={"Origin": "https://shop.example"})
        assert ok.headers["access-control-allow-origin"] == "https://shop.example"
        other = test_client.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_create_app_rejects_bad_limits(app_factory):
    with pytest.raises(ValueError, match="max_upload_bytes"):
        app_factory(max_upload_bytes=0)


def test_cli_serve_user_errors(tmp_path, capsys):
    from lookalike.cli import main

    assert main(["serve", "--bundle", str(tmp_path / "none")]) == 2
    assert "no lookalike bundle" in capsys.readouterr().err
    assert main(["serve", "--bundle", str(tmp_path), "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err
    assert main(["serve", "--bundle", str(tmp_path), "--max-upload-mb", "0"]) == 2
    assert "--max-upload-mb" in capsys.readouterr().err
