"""POST /api/events (API key): rows checked, appended atomically, read by the next profile
request of a known shopper, whose picks carry reasons."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from lookalike.server import interactions
from lookalike.server.routes.events import EVENTS_PATH, MAX_EVENTS
from lookalike.server.routes.profile import PROFILE_PATH
from lookalike.server.state import state_of, use_interactions
from tests.server.conftest import API_KEY, assert_error

KEY = {"X-API-Key": API_KEY}
HEADER = "user_id,item_id,event,timestamp\n"


@pytest.fixture
def app_with_log(app_factory, tmp_path):
    log = tmp_path / "events.csv"
    # shoppers u0..u4 bought red circles (101) and then the black triangle 124
    rows = [f"u{u},101,purchase,2020-09-0{u + 1}" for u in range(5)]
    rows += [f"u{u},124,purchase,2020-09-1{u}" for u in range(5)]
    log.write_text(HEADER + "\n".join(rows))  # no newline at the end
    app = app_factory(api_key=API_KEY, api_key_env=None, thumbnail_dir=tmp_path / "thumbs")
    use_interactions(app, log)
    return app, log


def test_events_need_the_key_and_a_log(app_factory, app_with_log, tmp_path):
    app, _ = app_with_log
    body = {"events": [{"user_id": "u9", "item_id": "101", "event": "view"}]}
    with TestClient(app) as client:
        assert_error(client.post(EVENTS_PATH, json=body), 401, "unauthorized")
    plain = app_factory(api_key=API_KEY, api_key_env=None, thumbnail_dir=tmp_path / "t2")
    with TestClient(plain) as client:
        assert_error(client.post(EVENTS_PATH, json=body, headers=KEY), 409, "no_event_log")


def test_events_are_appended_whole_and_bad_batches_write_nothing(app_with_log):
    app, log = app_with_log
    before = log.read_text()
    with TestClient(app) as client:
        bad = [
            ({"events": []}, "invalid_event"),
            ({"rows": []}, "invalid_json"),
            ({"events": [{"user_id": "u", "item_id": "101", "event": "buy"}]}, "invalid_event"),
            ({"events": [{"user_id": "", "item_id": "101", "event": "view"}]}, "invalid_event"),
            (
                {"events": [{"user_id": "u", "item_id": "101", "event": "view", "x": 1}]},
                "invalid_event",
            ),
            (
                {"events": [{"user_id": "u", "item_id": 101, "event": "view", "timestamp": "x"}]},
                "invalid_event",
            ),
            ({"events": [{"user_id": "u", "item_id": "101", "event": "view"}] * 1001}, ""),
            ({"events": [{"user_id": "u", "item_id": "nope", "event": "view"}]}, "unknown_item"),
        ]
        for body, code in bad:
            response = client.post(EVENTS_PATH, json=body, headers=KEY)
            assert response.status_code == 422, (body, response.text)
            assert response.json()["error"] == (code or "invalid_event")
        assert (
            "events[0]: event must be one of"
            in client.post(EVENTS_PATH, json=bad[2][0], headers=KEY).json()["detail"]
        )
        assert log.read_text() == before
        assert MAX_EVENTS == 1000
        good = [
            {"user_id": "new", "item_id": 101, "event": "Purchase", "timestamp": "2020-09-20"},
            {"user_id": "new, with a comma", "item_id": "102", "event": "view"},
        ]
        response = client.post(EVENTS_PATH, json={"events": good}, headers=KEY)
        assert response.status_code == 200, response.text
        assert response.json() == {"appended": 2}
    lines = log.read_text().splitlines()
    assert lines[:11] == before.splitlines()
    assert lines[11] == "new,101,purchase,2020-09-20"
    assert lines[12].startswith('"new, with a comma",102,view,')


def test_a_known_shopper_gets_history_picks_with_reasons(app_with_log):
    app, _ = app_with_log
    with TestClient(app) as client:
        event = {"user_id": "fresh", "item_id": "101", "event": "purchase"}
        event["timestamp"] = "2020-09-15"
        assert client.post(EVENTS_PATH, json={"events": [event]}, headers=KEY).status_code == 200
        response = client.post(PROFILE_PATH, json={"user": "fresh", "k": 5})  # no likes needed
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["query"]["history"] is True and body["query"]["collaborative"] is False
        results = body["results"]
        assert 0 < len(results) <= 5 and all(r["reason"] for r in results)
        assert "124" in [r["id"] for r in results]  # bought by those who bought 101
        liked = client.post(PROFILE_PATH, json={"user": "fresh", "liked": ["109"], "k": 8})
        picked = [r["id"] for r in liked.json()["results"]]
        assert "109" not in picked and any(r.startswith("11") for r in picked)
        unknown = client.post(PROFILE_PATH, json={"user": "stranger"})
        assert_error(unknown, 422, "empty_profile")


def test_appended_events_are_read_without_reading_the_log_again(app_with_log, monkeypatch):
    monkeypatch.setattr(interactions, "RETRAIN_GROWTH", 0.05)  # 10 -> 11 events retrains
    app, _ = app_with_log
    source = state_of(app).interactions
    with TestClient(app) as client:
        assert client.post(PROFILE_PATH, json={"user": "u0", "k": 3}).status_code == 200
        tail = source._tail
        assert tail.full_reads == 1 and tail.rows_parsed == 10
        event = {"user_id": "late", "item_id": "101", "event": "purchase"}
        event["timestamp"] = "2020-09-16"
        assert client.post(EVENTS_PATH, json={"events": [event]}, headers=KEY).status_code == 200
        response = client.post(PROFILE_PATH, json={"user": "late", "k": 5})
        assert response.status_code == 200 and response.json()["query"]["history"] is True
        assert "124" in [r["id"] for r in response.json()["results"]]
        assert source._tail is tail and tail.full_reads == 1 and tail.rows_parsed == 11
        source.retrain_thread.join(timeout=30)  # the blend retrained in the background
        assert not source.retrain_thread.is_alive() and source._trained_at == 11
