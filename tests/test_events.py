"""The time-aware sparse event log: chunked reading, errors naming lines, CSR helpers."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.events import (
    EventLogError,
    age_decay,
    event_matrix,
    parse_duration,
    parse_times,
    read_events,
    select_events,
    transpose,
)
from tests.tolerances import approx

ITEMS = {"a": 0, "b": 1, "c": 2}
LOG = (
    "user_id,item_id,event,timestamp\n"
    "u2,b,purchase,2020-09-03\n"
    "u1,a,view,2020-09-01 10:00:00\n"
    "u1,a,purchase,2020-09-02T00:00\n"
    "u1,zzz,purchase,2020-09-02\n"
    "u2,c,purchase,1598918400\n"
    "u1,b,PURCHASE,2020-08-01\n"
)


def test_reads_in_chunks_sorted_by_shopper_and_time(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(LOG)
    log = read_events(path, ITEMS, chunk_rows=2)  # several chunks on purpose
    assert log.users == ["u2", "u1"]
    assert log.indptr.tolist() == [0, 2, 5]
    # u2: c at 2020-09-01 (epoch seconds) then b; u1: b (Aug), a view, a purchase
    assert log.items.tolist() == [2, 1, 1, 0, 0]
    assert [log.event_names[e] for e in log.events] == ["purchase"] * 3 + ["view", "purchase"]
    assert np.all(np.diff(log.times[2:]) > 0)
    assert log.unknown_items == 1 and "line 5: unknown item 'zzz'" in log.problems[0]
    assert log.user_row("u1") == 1 and log.user_row("nobody") is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("u1,a,teleport,2020-01-01", "line 3: unknown event 'teleport'"),
        ("u1,,view,2020-01-01", "line 3: missing user_id or item_id"),
        ("u1,a,view,2020-13-01", "line 3: bad timestamp '2020-13-01'"),
        ("u1,a,view,", "line 3: bad timestamp ''"),
        ("u1,a", "line 3: missing fields"),
    ],
)
def test_a_bad_row_is_an_error_naming_its_line(tmp_path, line, message):
    path = tmp_path / "log.csv"
    path.write_text(f"user_id,item_id,event,timestamp\nu1,b,view,2020-01-01\n{line}\n")
    with pytest.raises(EventLogError, match=message):
        read_events(path, ITEMS)
    lenient = read_events(path, ITEMS, strict=False)
    assert len(lenient.items) == 1 and message in lenient.problems[0]


def test_missing_columns_and_no_timestamp(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("user,item\nu1,a\n")
    with pytest.raises(EventLogError, match="user_id,item_id"):
        read_events(path, ITEMS)
    path.write_text("user_id,item_id,event\nu1,a,like\n")
    log = read_events(path, ITEMS)
    assert not log.has_time and log.times.tolist() == [0]


def test_parquet_reads_like_csv(tmp_path):
    pa = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    rows = [line.split(",") for line in LOG.strip().splitlines()[1:]]
    table = pa.table(
        {name: [r[i] for r in rows] for i, name in enumerate(LOG.split("\n")[0].split(","))}
    )
    parquet.write_table(table, tmp_path / "log.parquet")
    (tmp_path / "log.csv").write_text(LOG)
    from_parquet = read_events(tmp_path / "log.parquet", ITEMS, chunk_rows=3)
    from_csv = read_events(tmp_path / "log.csv", ITEMS)
    assert from_parquet.items.tolist() == from_csv.items.tolist()
    assert from_parquet.times.tolist() == from_csv.times.tolist()


def test_event_matrix_counts_and_transpose(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(LOG + "u1,a,purchase,2020-09-05\n")
    log = read_events(path, ITEMS)
    purchases = event_matrix(log, "purchase")
    cols, values = purchases.row(1)  # u1 bought b once, a twice
    assert cols.tolist() == [0, 1] and values.tolist() == approx([2.0, 1.0])
    binary = event_matrix(log, "purchase", binary=True)
    assert binary.row(1)[1].tolist() == approx([1.0, 1.0])
    by_item = transpose(purchases)
    assert by_item.shape == (3, 2) and by_item.row(1)[0].tolist() == [0, 1]
    with pytest.raises(ValueError, match="unknown event"):
        event_matrix(log, "teleport")
    before = select_events(log, log.times < parse_times(["2020-09-02"])[0])
    assert before.indptr.tolist() == [0, 1, 3] and before.users == log.users


def test_parse_duration_and_age_decay():
    assert parse_duration("28d") == 28 * 86400 and parse_duration("2w") == 14 * 86400
    assert parse_duration("12h") == 12 * 3600 and parse_duration("7") == 7 * 86400
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration("soon")
    now = 10 * 86400
    decay = age_decay(np.array([now, now - 7 * 86400, now + 1]), now, half_life_days=7)
    assert decay.tolist() == approx([1.0, 0.5, 0.0])
