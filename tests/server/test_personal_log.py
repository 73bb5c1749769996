"""append_events: whole lines in the file's own column order, never interleaved."""

from __future__ import annotations

import threading

import pytest

from lookalike.events import read_events
from lookalike.server.personal_log import append_events


def test_appends_in_the_headers_order_after_a_missing_newline(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("item_id,user_id,event\nA,u1,view")  # no timestamp column, no last newline
    row = {"user_id": "u2", "item_id": "B", "event": "purchase", "timestamp": "5"}
    assert append_events(log, [row]) == 1
    assert log.read_text().splitlines() == ["item_id,user_id,event", "A,u1,view", "B,u2,purchase"]


def test_concurrent_appends_never_interleave(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("user_id,item_id,event,timestamp\n")
    batch = [{"user_id": "u" * 50, "item_id": "A", "event": "view", "timestamp": "1"}] * 200

    threads = [threading.Thread(target=append_events, args=(log, batch)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    events = read_events(log, {"A": 0})
    assert len(events.items) == 1600 and events.problems == []


def test_refuses_what_is_not_a_csv_log(tmp_path):
    with pytest.raises(ValueError, match="Parquet"):
        append_events(tmp_path / "log.parquet", [])
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n")
    with pytest.raises(ValueError, match="no user_id,item_id header"):
        append_events(bad, [{"user_id": "u"}])
