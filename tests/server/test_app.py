"""create_app (server/app.py): limits, CORS, routing of odd paths, and the serve command."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from lookalike.server import app as app_module
from lookalike.server import deps, profile_api, state
from lookalike.server.state import ServedCatalog
from tests.server.conftest import API_KEY, SECRET, asgi_request


def test_create_app_rejects_bad_limits(app_factory):
    with pytest.raises(ValueError, match="max_upload_bytes"):
        app_factory(max_upload_bytes=0)


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


def test_cors_is_closed_by_default_for_every_method(keyed):
    for method in ("GET", "POST", "DELETE"):
        preflight = keyed.options(
            "/api/items",
            headers={
                "Origin": "https://evil.example",
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "x-api-key",
            },
        )
        assert "access-control-allow-origin" not in preflight.headers
    simple = keyed.get("/api/items", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


def test_cors_opens_for_a_configured_origin_only(app_factory, bundle_copy, tmp_path):
    app = app_factory(
        bundle_copy, cors_origins=["https://shop.example"], api_key=API_KEY, thumbnail_dir=tmp_path
    )
    with TestClient(app) as test_client:
        preflight = test_client.options(
            "/api/items/101",
            headers={
                "Origin": "https://shop.example",
                "Access-Control-Request-Method": "DELETE",
                "Access-Control-Request-Headers": "x-api-key",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
        assert "DELETE" in preflight.headers["access-control-allow-methods"]
        evil = test_client.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in evil.headers


def test_literal_dot_segments_and_absolute_paths_never_reach_a_file(keyed, secret, tiny_catalog):
    app = keyed.app
    real = tiny_catalog / "Apparel" / "101.jpg"
    for path in [
        "/api/items/../../secret.txt/image",
        "/api/items/../../../../etc/passwd",
        f"/api/items/{secret}/image",
        f"/api/items/{real}/image",
        "/api/items/101/../../../secret.txt",
        "/static/../../secret.txt",
        "/static/../app.py",
        f"/static/{secret}",
        "/api/items/101\x00/image",
    ]:
        for method in ("GET", "DELETE"):
            status, body = asgi_request(app, method, path)
            assert status in (404, 405), (method, path, status, body[:200])
            assert SECRET.encode() not in body and b"root:" not in body
            assert b"create_app" not in body  # no source file either
    # Even the real absolute path of a catalog image is not an id.
    assert keyed.get(f"/api/items/{quote(str(real), safe='')}/image").status_code == 404


def test_routes_keep_their_order(client):
    assert list(client.get("/openapi.json").json()["paths"]) == [
        "/api/recommend",
        "/api/items/{item_id}/similar",
        "/api/preview",
        "/api/recommend/profile",
        "/api/items",
        "/api/items/{item_id}",
        "/api/items/{item_id}/image",
        "/api/items/{item_id}/thumbnail",
        "/api/facets",
        "/api/items/{item_id}/photos",
        "/api/items/{item_id}/photos/{number}",
        "/api/events",
        "/healthz",
    ]


def test_old_import_paths_still_work():
    assert all(hasattr(app_module, name) for name in app_module.__all__)
    assert all(hasattr(profile_api, name) for name in profile_api.__all__)
    assert app_module.Catalog is ServedCatalog  # the old name of the served catalog
    assert app_module.check_api_key is deps.check_api_key
    assert profile_api.use_interactions is state.use_interactions
