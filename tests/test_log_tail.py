"""The server's event log read incrementally: appended bytes only, same log as a full read."""

from __future__ import annotations

import os

import numpy as np

from lookalike.events import read_events
from lookalike.server.log_tail import EventLogTail
from lookalike.server.personal_log import append_events

ITEMS = {str(i): i for i in range(20)}


def _rows(rng: np.random.Generator, n: int, users: int) -> list[dict[str, str]]:
    return [
        {
            "user_id": f"u{rng.integers(users)}",
            "item_id": str(rng.integers(20)),
            "event": str(rng.choice(["view", "purchase"])),
            "timestamp": str(1_600_000_000 + int(rng.integers(0, 10**6))),
        }
        for _ in range(n)
    ]


def _same(a, b) -> None:
    assert a.users == b.users
    for name in ("indptr", "items", "events", "times"):
        assert getattr(a, name).tolist() == getattr(b, name).tolist(), name


def test_appends_are_parsed_alone_and_match_a_full_read(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id,event,timestamp\n")
    append_events(path, _rows(rng, 200, 30))
    tail = EventLogTail(path, ITEMS)
    assert tail.refresh() and tail.full_reads == 1 and tail.rows_parsed == 200
    assert not tail.refresh()  # unchanged: nothing read
    for batch in range(3):  # old and new shoppers, times before and after the old ones
        append_events(path, _rows(rng, 15, 40 + 5 * batch))
        assert tail.refresh()
        _same(tail.log, read_events(path, ITEMS, strict=False, default_event="like"))
    assert tail.full_reads == 1 and tail.rows_parsed == 200 + 3 * 15


def test_a_partial_line_waits_and_a_rewrite_reads_all(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id,event,timestamp\nu1,1,view,1600000000\n")
    tail = EventLogTail(path, ITEMS)
    tail.refresh()
    with open(path, "a") as handle:
        handle.write("u2,2,purchase,16000")
    tail.refresh()
    assert tail.log.users == ["u1"] and tail.full_reads == 1
    with open(path, "a") as handle:
        handle.write("00001\n")
    tail.refresh()
    assert tail.log.users == ["u1", "u2"] and tail.log.times.tolist() == [1600000000, 1600000001]
    path.write_text("user_id,item_id,event,timestamp\nu9,3,view,1600000000\n")  # truncated
    os.utime(path, ns=(1, 1))
    tail.refresh()
    assert tail.log.users == ["u9"] and tail.full_reads == 2
