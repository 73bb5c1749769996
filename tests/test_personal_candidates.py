"""Every source for one shopper, the candidate pool and its feature rows."""

from __future__ import annotations

import numpy as np

from lookalike.events import log_from_arrays
from lookalike.personal_candidates import (
    FEATURES,
    SOURCE_NAMES,
    SourceContext,
    candidate_features,
    candidate_pool,
    head_of_sources,
    segment_trend_rank,
)
from lookalike.personal_sources import embedding_search
from tests.tolerances import approx

DAY = 86400
NOW = 100 * DAY
P, V = 4, 0


def _context(**options):
    events = [
        (0, 1, P, 90), (0, 1, P, 95), (0, 2, P, 96),
        (1, 1, P, 97), (1, 3, P, 98), (1, 4, V, 99),
        (2, 5, P, 120),  # after now: ignored
    ]  # fmt: skip
    u, i, e, d = (np.array(c) for c in zip(*events, strict=True))
    log = log_from_arrays(["a", "b", "c"], 8, u, i, e, d * DAY)
    return SourceContext.build(log, NOW, **options)


def test_context_ignores_later_events_and_knows_new_items():
    context = _context()
    assert (context.history.times < NOW).all()
    assert 5 in context.new_rows and 1 not in context.new_rows
    assert context.first_seen_days[1] == approx(10.0) and context.first_seen_days[5] == 0


def test_sources_and_pool_with_a_search():
    embeddings = np.arange(8, dtype=np.float32)[:, None]
    context = _context(
        search=embedding_search(embeddings),
        segments=np.array(["x", "x", "y", "x", "y", "y", "x", "y"]),
        embeddings=embeddings,
    )
    sources = context.sources(0, 5)
    assert set(sources) == set(SOURCE_NAMES)
    assert sources["buy again"].rows.tolist()[0] == 1  # bought twice
    assert 3 in sources["co-purchase"].rows  # b bought 1 and 3
    assert all(len(found.rows) <= 2 for found in head_of_sources(sources, 2).values())
    rows, reasons = candidate_pool(sources)
    assert len(np.unique(rows)) == len(rows) and set(reasons) == set(rows.tolist())
    x = candidate_features(context, 0, sources, rows)
    assert x.shape == (len(rows), len(FEATURES)) and np.isfinite(x).all()
    column = {name: j for j, name in enumerate(FEATURES)}
    one = rows.tolist().index(1)
    assert x[one, column["rr buy again"]] == approx(1.0)
    assert x[one, column["own purchases"]] == approx(np.log1p(2))
    assert x[one, column["visual distance"]] == approx(0.0)  # item 1 is a recent item
    assert x[:, column["sources"]].max() >= 2


def test_features_without_search_or_history():
    context = _context()
    sources = context.sources(2, 5)  # c has nothing before now
    assert "visual, recent items" not in sources
    rows, _ = candidate_pool(sources)
    x = candidate_features(context, 2, sources, rows)
    column = FEATURES.index("visual distance")
    assert (x[:, column] == approx(1.0)) if len(rows) == 1 else np.allclose(x[:, column], 1.0)


def test_segment_trend_rank_ranks_within_each_segment():
    trend = np.array([0.0, 3.0, 1.0, 0.0, 2.0, 5.0, 0.0])
    segments = np.array(list("aabbabb"))
    # a: 1 (3.0), 4 (2.0), then 0 unsold; b: 5 (5.0), 2 (1.0), then 3 and 6 unsold, tied
    assert segment_trend_rank(trend, segments).tolist() == approx([3, 1, 2, 3, 2, 1, 3])
    assert segment_trend_rank(trend, None).tolist() == approx([1.0] * 7)


def test_segment_features_are_logs_of_the_share_and_the_rank():
    segments = np.array(["x", "x", "y", "x", "y", "y", "x", "y"])
    context = _context(segments=segments)
    sources = context.sources(0, 5)
    rows, _ = candidate_pool(sources)
    x = candidate_features(context, 0, sources, rows)
    column = {name: j for j, name in enumerate(FEATURES)}
    share = x[:, column["segment share"]]
    assert x[:, column["log segment share"]] == approx(np.log(share + 0.01))
    assert x[:, column["segment trend rank"]] == approx(np.log(context.segment_rank[rows]))
    # a bought 1, 1 (segment x) and 2 (segment y): x is two thirds of the decayed history
    assert share[rows.tolist().index(1)] > share[rows.tolist().index(2)] > 0


def test_group_share_is_the_log_of_the_shoppers_share_in_the_items_segment_and_colour():
    segments = np.array(["x", "x", "y", "x", "y", "y", "x", "y"])
    colours = np.array(["red", "blue", "red", "blue", "red", "red", "red", "blue"])
    context = _context(segments=segments, colours=colours)
    sources = context.sources(0, 5)
    rows, _ = candidate_pool(sources)
    x = candidate_features(context, 0, sources, rows)
    group = x[:, FEATURES.index("log group share")]
    # a bought 1 (x blue) twice and 2 (y red): no share in "x red", so log(0.01)
    for j, row in enumerate(rows.tolist()):
        if (segments[row], colours[row]) not in {("x", "blue"), ("y", "red")}:
            assert group[j] == approx(np.log(0.01))
    assert group[rows.tolist().index(1)] > np.log(0.5)  # 1 is in the pool (buy again)
    assert "new in own segments" in sources
    # without colours the feature is the same constant for every candidate
    plain = _context(segments=segments)
    x = candidate_features(plain, 0, plain.sources(0, 5), rows)
    assert x[:, FEATURES.index("log group share")] == approx(np.full(len(rows), np.log(0.01)))
