"""Evaluation on time: the split, every method's picks, MAP@12 / HR@12 by history length."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.events import log_from_arrays
from lookalike.personal_sources import embedding_search
from lookalike.personal_time import (
    evaluate_on_time,
    format_time_table,
    method_lists,
    split_on_time,
)
from tests.tolerances import approx

DAY = 86400
CUTOFF = 100 * DAY
P, V = 4, 0


def _log():
    # (user, item, event, day): a rebuys 1 after the cutoff; b's history is long and b buys a
    # new item (7) next to what b bought; c has no history; d buys nothing after the cutoff
    events = [
        (0, 1, P, 90), (0, 1, P, 105), (0, 2, P, 95),
        (1, 3, P, 60), (1, 4, P, 70), (1, 4, V, 80), (1, 5, P, 96), (1, 6, V, 97),
        (1, 7, P, 110),
        (2, 1, P, 101),
        (3, 1, P, 98), (3, 2, P, 99),
        (0, 3, P, 140),  # after the window
    ]  # fmt: skip
    u, i, e, d = (np.array(c) for c in zip(*events, strict=True))
    return log_from_arrays(["a", "b", "c", "d"], 8, u, i, e, d * DAY)


def test_split_keeps_history_before_and_purchases_in_the_window():
    split = split_on_time(_log(), CUTOFF, 28 * DAY)
    assert split.customers.tolist() == [0, 1, 2]
    assert [t.tolist() for t in split.truth] == [[1], [7], [1]]
    assert split.history_events.tolist() == [2, 5, 0]
    assert (split.history.times < CUTOFF).all()


def test_every_method_answers_every_customer_and_buy_again_hits_the_rebuy():
    split = split_on_time(_log(), CUTOFF, 28 * DAY)
    embeddings = np.arange(8, dtype=np.float32)[:, None]
    lists = method_lists(split, search=embedding_search(embeddings), segments=np.array(["x"] * 8))
    assert {"best-sellers, last 7 days", "buy again", "trending", "co-purchase", "blend"} <= set(
        lists
    )
    assert all(len(picks) == 3 for picks in lists.values())
    assert 1 in lists["buy again"][0].rows
    assert 7 in lists["new arrivals near taste"][1].rows  # 7 had no event before the cutoff
    assert len(lists["blend"][2].rows) > 0  # no history: the best-sellers fill in


def test_evaluate_on_time_scores_by_history_length():
    evaluation = evaluate_on_time(
        _log(), CUTOFF, 28 * DAY, search=embedding_search(np.arange(8, dtype=np.float32)[:, None])
    )
    assert (evaluation["customers"], evaluation["short"], evaluation["long"]) == (3, 2, 1)
    again = evaluation["results"]["buy again"]
    assert again["all"]["hr@12"] == approx(1 / 3) and again["long"]["hr@12"] == approx(0.0)
    # a's picks: 2 (bought on day 95) before the rebought 1 (day 90): AP 1/2, mean over 3
    assert again["all"]["map@12"] == approx(1 / 6)
    assert evaluation["new_item_share"] == approx(0.5)  # of {1, 7}, 7 is new
    table = format_time_table(evaluation)
    assert "| buy again | 0.1667 | 0.333 |" in table
    with pytest.raises(ValueError, match="nobody bought"):
        evaluate_on_time(_log(), 200 * DAY)


def test_method_lists_trains_the_learned_blend_with_the_chosen_model(monkeypatch):
    from lookalike.personal_fit import OBJECTIVE

    seen = []

    def fake_train(history, now, window, **options):
        seen.append(options["objective"])
        return None  # too small a log: the fixed blend answers

    monkeypatch.setattr("lookalike.personal_time.train_ranker", fake_train)
    split = split_on_time(_log(), CUTOFF, 28 * DAY)
    method_lists(split, objective="trees")
    lists = method_lists(split)
    assert seen == ["trees", OBJECTIVE]
    assert len(lists["learned blend"]) == 3
