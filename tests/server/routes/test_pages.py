"""GET /healthz, the web page at / and its static files."""

from __future__ import annotations

from tests.server.conftest import UPLOAD_LIMIT


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


def test_static_traversal_is_404(client):
    for path in ("/static/..%2f..%2fapp.py", "/static/%2e%2e/app.py", "/static/"):
        assert client.get(path).status_code == 404
