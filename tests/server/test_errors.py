"""Typed JSON errors (server/errors.py): unknown routes, unexpected exceptions, no internals."""

from __future__ import annotations

from tests.server.conftest import assert_error


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


def test_errors_carry_nosniff_and_no_internals(keyed):
    for response in (
        keyed.get("/api/items/..%2Fx/image"),
        keyed.get("/api/items?limit=0"),
        keyed.post("/api/items", headers={"X-API-Key": "nope"}),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "Traceback" not in response.text and "/lookalike/" not in response.text
