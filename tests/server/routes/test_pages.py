"""GET /healthz, the web page at / and its static files."""

from __future__ import annotations

from fastapi.testclient import TestClient

from lookalike.cli.commands import build_parser
from tests.server.conftest import UPLOAD_LIMIT


def test_healthz(client):
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["items"] == 24
    assert body["encoder"] == "cae"
    assert body["bundle_version"].startswith("v")
    assert body["max_upload_bytes"] == UPLOAD_LIMIT
    assert body["look"] is True  # the page shops the look of uploaded photos


def test_no_look_tells_the_page_to_send_plain_photo_queries(app_factory, tmp_path):
    app = app_factory(thumbnail_dir=tmp_path, page_look=False)
    with TestClient(app) as test_client:
        assert test_client.get("/healthz").json()["look"] is False
    args = build_parser().parse_args(["serve", "--bundle", "b", "--no-look"])
    assert args.page_look is False
    assert build_parser().parse_args(["serve", "--bundle", "b"]).page_look is True


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


def test_static_traversal_is_404(client):
    for path in ("/static/..%2f..%2fapp.py", "/static/%2e%2e/app.py", "/static/"):
        assert client.get(path).status_code == 404


def test_favicon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO header
    assert client.get("/static/favicon.svg").status_code == 200


def test_docs_load_every_file_from_this_app(client):
    for page, assets in (
        ("/docs", ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css")),
    ):
        html = client.get(page).text
        assert "http://" not in html and "https://" not in html, html
        assert "/favicon.ico" in html
        for asset in assets:
            assert asset in html
            response = client.get(asset)
            assert response.status_code == 200 and len(response.content) > 100_000
    assert "validatorUrl" in client.get("/docs").text  # the outside validator is turned off


def test_docs_assets_are_a_fixed_list(client):
    assert client.get("/redoc").status_code == 404  # ReDoc would load its logo from a CDN
    for name in ("favicon.png", "..%2fcore.py", "redoc.standalone.js"):
        response = client.get(f"/docs-assets/{name}")
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
