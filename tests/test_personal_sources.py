"""Candidate sources over a tiny hand-made log: each one's rows, order and reason."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.events import event_matrix, log_from_arrays, transpose
from lookalike.neighbours import exact_search
from lookalike.personal_sources import (
    Candidates,
    best_sellers,
    blend,
    buy_again,
    co_purchase,
    embedding_search,
    favourite_segment,
    neighbours_without_query,
    new_arrivals,
    new_in_taste,
    new_item_rows,
    popularity,
    repurchase_rates,
    trending,
    visual_recent,
)
from tests.tolerances import approx

DAY = 86400
NOW = 100 * DAY
P, V = 4, 0  # event codes of purchase and view in EVENT_NAMES
TITLES = [f"t{i}" for i in range(8)]
# items 0..7 on a line, so visual neighbours are the adjacent rows
EMBEDDINGS = np.arange(8, dtype=np.float32)[:, None] * np.array([[1.0, 0.0]], np.float32)


def _log():
    # (user, item, event, day)
    events = [
        (0, 1, P, 10), (0, 1, P, 95), (0, 2, P, 50), (0, 5, V, 99),
        (1, 1, P, 90), (1, 3, P, 91), (1, 3, P, 92),
        (2, 2, P, 97), (2, 3, P, 98), (2, 4, P, 98),
        (2, 6, P, 150),  # after NOW: never seen by anything below
    ]  # fmt: skip
    u, i, e, d = (np.array(c) for c in zip(*events, strict=True))
    return log_from_arrays(["a", "b", "c"], 8, u, i, e, d * DAY)


def test_buy_again_prefers_recent_and_repeated_purchases():
    log = _log()
    found = buy_again(log, 0, NOW, half_life_days=30)
    assert found.rows.tolist() == [1, 2]  # bought twice, once 5 days ago; 2 fifty days ago
    assert found.scores[0] == approx(0.5 ** (90 / 30) + 0.5 ** (5 / 30))
    assert found.reasons == ["you bought this 2 times", "you bought this"]
    rates = repurchase_rates(log)
    assert rates[3] == approx(0.5) and rates[1] == approx(0.5)
    assert buy_again(log, 1, NOW, rates=rates).reasons[0] == "bought again by many"


def test_best_sellers_and_trending_use_only_the_past():
    log = _log()
    week = best_sellers(log, NOW, days=10)
    assert week.rows.tolist() == [3, 1, 2, 4] and week.scores.tolist() == approx([3, 2, 1, 1])
    assert 6 not in week.rows  # bought after NOW
    scores = popularity(log, NOW, half_life_days=1)
    assert trending(scores, 2).rows.tolist() == [3, 4]
    segments = np.array(["x", "x", "y", "y", "x", "x", "y", "y"])
    inside = trending(scores, 3, segments=segments, segment="x")
    assert set(inside.rows.tolist()) <= {0, 1, 4, 5} and inside.reasons[0] == "trending in x"
    assert favourite_segment(log, 2, NOW, segments) == "y"
    assert favourite_segment(log, 2, 0, segments) is None


def test_co_purchase_follows_shoppers_who_bought_the_same():
    log = _log()
    bought = event_matrix(log, "purchase", binary=True)
    found = co_purchase(bought, transpose(bought), 0, popularity_exponent=0)
    # a bought 1 and 2; b bought 1 (and 3); c bought 2 (and 3, 4, 6): 3 twice, 4 and 6 once
    assert found.rows.tolist() == [3, 4, 6] and found.scores.tolist() == approx([2, 1, 1])
    assert 1 not in found.rows and 2 not in found.rows
    assert found.reasons[0] == "often bought together"
    assert len(co_purchase(bought, transpose(bought), 0, exclude_own=False).rows) >= 3


def test_visual_recent_weights_recent_items_and_names_them():
    log = _log()
    search = embedding_search(EMBEDDINGS)
    found = visual_recent(log, 0, NOW, search, 3, titles=TITLES, per_query=2)
    assert not set(found.rows.tolist()) & {1, 2, 5}  # seen items excluded
    # a purchase (weight 5) 5 days ago outweighs yesterday's view (weight 1): neighbours of
    # item 1 first, then of item 2 (bought 50 days ago), then of the viewed item 5
    assert found.rows.tolist() == [0, 3, 4]
    assert found.reasons == [
        "because you bought t1",
        "because you bought t2",
        "because you looked at t5",
    ]


def test_new_arrivals_reach_only_items_nobody_had():
    log = _log()
    new = new_item_rows(log, NOW)
    assert new.tolist() == [0, 6, 7]  # 6 is bought only after NOW: new at NOW
    assert new_item_rows(log, NOW, days=2).tolist() == [0, 4, 5, 6, 7]  # first seen days 98, 99
    found = new_arrivals(log, 2, NOW, embedding_search(EMBEDDINGS), new, 2, titles=TITLES)
    assert set(found.rows.tolist()) <= set(new.tolist())
    assert found.reasons[0].startswith("new, like what you bought")


def test_new_in_taste_ranks_new_items_by_segment_share_over_new_items_in_it():
    log = _log()
    new = new_item_rows(log, NOW)  # 0, 6, 7
    segment_ids = np.array([0, 0, 1, 1, 0, 1, 0, 1])
    labels = np.array(["tee", "tee", "dress", "dress", "tee", "dress", "tee", "dress"])
    # user 0: item 1 (tee) on days 10 and 95, item 2 (dress) day 50, a view of 5 (dress) day 99
    w = {day: 0.5 ** ((100 - day) / 30) for day in (10, 95, 50, 99)}
    tee, dress = w[10] + w[95], w[50] + w[99]
    total = tee + dress
    found = new_in_taste(log, 0, NOW, new, segment_ids, 3, half_life_days=30, labels=labels)
    # two new tees share the tee taste; the one new dress has the dress taste alone
    expected = {0: tee / total / 2, 6: tee / total / 2, 7: dress / total}
    assert set(found.rows.tolist()) == {0, 6, 7}
    assert found.scores.tolist() == approx(sorted(expected.values(), reverse=True))
    assert found.rows[0] == max(expected, key=expected.get)
    assert found.reasons[found.rows.tolist().index(7)] == "new in dress"
    # a finer group (e.g. segment x colour) mixes in by its weight: 6 shares 1's group
    groups = np.array([0, 1, 2, 3, 4, 5, 1, 6])
    mixed = new_in_taste(
        log, 0, NOW, new, segment_ids, 3, group_ids=groups, half_life_days=30, group_weight=0.5
    )
    score = dict(zip(mixed.rows.tolist(), mixed.scores.tolist(), strict=True))
    assert score[6] == approx(0.5 * tee / total / 2 + 0.5 * tee / total)
    assert score[0] == approx(0.5 * tee / total / 2)
    # nothing before now: no picks
    assert len(new_in_taste(log, 2, 5 * DAY, new, segment_ids).rows) == 0


def test_blend_fuses_by_weighted_rank_and_keeps_the_strongest_reason():
    a = Candidates(np.array([1, 2]), np.array([2.0, 1.0]), ["ra1", "ra2"])
    b = Candidates(np.array([2, 3]), np.array([5.0, 4.0]), ["rb2", "rb3"])
    found = blend({"a": a, "b": b}, {"a": 1.0, "b": 2.0}, k=3, k0=1)
    assert found.rows.tolist() == [2, 3, 1]
    assert found.scores[0] == approx(1 / 3 + 2 / 2)
    assert found.reasons == ["rb2", "rb3", "ra1"]
    assert blend({"a": a}, {}, k=3).rows.tolist() == []


@pytest.mark.parametrize("user", [0, 1, 2])
def test_sources_never_return_padding_or_duplicates(user):
    log = _log()
    search = embedding_search(EMBEDDINGS)
    for found in (
        buy_again(log, user, NOW),
        visual_recent(log, user, NOW, search, 8),
        trending(popularity(log, NOW), 8),
    ):
        assert (found.rows >= 0).all() and len(set(found.rows.tolist())) == len(found.rows)
        assert len(found.reasons) == len(found.rows)


def test_embedding_search_matches_the_exact_search_and_caches_the_allowed_rows():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 8)).astype(np.float32)
    search = embedding_search(vectors)
    rows = np.array([3, 50, 299])
    allowed = np.sort(rng.choice(300, 60, replace=False))
    allowed[0] = 3  # a query inside the allowed set is still not its own neighbour
    for subset in (None, allowed, allowed, allowed[::2]):
        pool = np.arange(300) if subset is None else subset
        _, positions = exact_search(vectors[pool], vectors[rows], 6)
        expected = neighbours_without_query(pool[positions], rows, 5)
        found = search(rows, 5, subset)
        assert found.tolist() == expected.tolist()
        assert 3 not in found[0] and set(found.ravel().tolist()) <= set(pool.tolist())
    # more neighbours asked than allowed rows: padded with -1
    assert (search(rows, 10, np.array([1, 2]))[:, 2:] == -1).all()
