"""The API-key check (server/deps.py): constant-time, and before any of the body is read."""

from __future__ import annotations

import inspect

from lookalike.bundle import read_bundle
from lookalike.server.deps import check_api_key
from tests.server.conftest import API_KEY, asgi_request, chunked_body


def test_updates_without_a_key_are_refused_before_the_body_is_read(keyed, bundle_copy):
    boundary = "hostileboundary"
    counter = [0]
    status, _ = asgi_request(
        keyed.app,
        "POST",
        "/api/items",
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        body=chunked_body(boundary, 400, counter),
    )
    assert status == 401 and counter[0] == 0
    assert len(read_bundle(bundle_copy).items) == 24


def test_keys_compare_in_constant_time_and_wrong_keys_learn_nothing(keyed):
    assert "hmac.compare_digest" in inspect.getsource(check_api_key)
    near = API_KEY[:-1] + "X"
    for headers in ({"X-API-Key": near}, {"X-API-Key": API_KEY + " "},
                    {"Authorization": f"bearer {near}"}, {"X-API-Key": ""}):  # fmt: skip
        response = keyed.delete("/api/items/101", headers=headers)
        assert response.status_code == 401 and API_KEY not in response.text
    assert keyed.get("/api/items/101").status_code == 200
