"""InteractionSource: the interactions CSV read against the served catalog, cached until the
file or the catalog changes; bad rows reported, an unreadable or missing file survived."""

from __future__ import annotations

import logging
import os
from types import SimpleNamespace

import numpy as np
import pytest

from lookalike.personal import EVENT_WEIGHTS
from lookalike.server.interactions import InteractionSource

HEADER = "user_id,item_id,event\n"


def fake_recommender(*ids: str) -> SimpleNamespace:
    """What InteractionSource reads of a Recommender: ``items.ids`` in row order."""
    return SimpleNamespace(items=SimpleNamespace(ids=list(ids)))


def write(path, text: str, bump: int = 0):
    path.write_text(text)
    if bump:  # a later mtime, in case the file system's clock is coarse
        st = os.stat(path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump * 1_000_000_000))
    return path


@pytest.fixture
def csv_path(tmp_path):
    return write(tmp_path / "interactions.csv", HEADER + "u1,a,like\nu1,b,view\nu2,b,purchase\n")


def test_path_must_be_an_existing_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        InteractionSource(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="does not exist"):
        InteractionSource(tmp_path)


def test_log_is_read_against_the_recommenders_rows(csv_path):
    source = InteractionSource(str(csv_path))
    parsed = source.log_for(fake_recommender("b", "a", "c"))
    assert parsed.users == ["u1", "u2"]
    assert parsed.problems == []
    expected = np.zeros((2, 3), np.float32)
    expected[0, 1] = EVENT_WEIGHTS["like"]  # item a is row 1
    expected[0, 0] = EVENT_WEIGHTS["view"]
    expected[1, 0] = EVENT_WEIGHTS["purchase"]
    np.testing.assert_array_equal(parsed.matrix, expected)


def test_log_is_reused_while_nothing_changes(csv_path, monkeypatch):
    source = InteractionSource(csv_path)
    recommender = fake_recommender("a", "b")
    first = source.log_for(recommender)
    calls = []
    monkeypatch.setattr(
        "lookalike.server.interactions.read_interactions",
        lambda *args: calls.append(args),
    )
    assert source.log_for(recommender) is first
    assert calls == []


def test_log_is_reread_when_the_file_changes(csv_path):
    source = InteractionSource(csv_path)
    recommender = fake_recommender("a", "b")
    first = source.log_for(recommender)
    write(csv_path, HEADER + "u9,a,cart\n", bump=5)
    second = source.log_for(recommender)
    assert second is not first
    assert second.users == ["u9"]
    np.testing.assert_array_equal(second.matrix, [[EVENT_WEIGHTS["cart"], 0.0]])


def test_log_is_reread_for_another_catalog(csv_path):
    source = InteractionSource(csv_path)
    before = source.log_for(fake_recommender("a", "b"))
    after = source.log_for(fake_recommender("b", "a", "new"))  # e.g. a reload after an update
    assert after is not before
    assert after.matrix.shape == (2, 3)
    np.testing.assert_array_equal(after.matrix[:, 0], before.matrix[:, 1])  # item b moved


def test_bad_rows_are_reported_and_skipped(tmp_path, caplog):
    path = write(
        tmp_path / "log.csv",
        HEADER + "u1,a,like\nu2,zzz,like\nu3,a,teleport\n,a,like\nu4,b,\nu5,b,CART\n",
    )
    with caplog.at_level(logging.INFO, logger="lookalike.server"):
        parsed = InteractionSource(path).log_for(fake_recommender("a", "b"))
    assert parsed.users == ["u1", "u4", "u5"]  # an empty event counts as a like
    assert parsed.matrix[1, 1] == EVENT_WEIGHTS["like"]
    assert parsed.matrix[2, 1] == EVENT_WEIGHTS["cart"]  # events are case-insensitive
    problems = "\n".join(parsed.problems)
    assert len(parsed.problems) == 3
    assert "line 3: unknown item 'zzz'" in problems
    assert "line 4: unknown event 'teleport'" in problems
    assert "line 5: missing user_id or item_id" in problems
    assert "3 shoppers, 3 rows skipped" in caplog.text


def test_a_missing_file_gives_none_and_a_warning(csv_path, caplog):
    source = InteractionSource(csv_path)
    recommender = fake_recommender("a", "b")
    assert source.log_for(recommender) is not None
    csv_path.unlink()
    with caplog.at_level(logging.WARNING, logger="lookalike.server"):
        assert source.log_for(recommender) is None
    assert "is gone" in caplog.text


def test_an_unreadable_file_gives_none_and_recovers_once_fixed(tmp_path, caplog):
    path = write(tmp_path / "log.csv", "")  # no header row: reading fails
    source = InteractionSource(path)
    recommender = fake_recommender("a")
    with caplog.at_level(logging.ERROR, logger="lookalike.server"):
        assert source.log_for(recommender) is None
        assert source.log_for(recommender) is None  # the failure is cached too
    assert "could not read interactions file" in caplog.text
    write(path, HEADER + "u1,a,like\n", bump=5)
    assert source.log_for(recommender).users == ["u1"]
