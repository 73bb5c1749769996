"""Every candidate source for one shopper at one time, and the features a learned blend
ranks them with.

:class:`SourceContext` computes once, for a history seen at ``now``, what all shoppers share
(popularity, the week's best-sellers, the purchase matrix and its transpose, repurchase
rates, new items, each item's first sale); :meth:`SourceContext.sources` then runs every
source of :mod:`lookalike.personal_sources` for one shopper, and :func:`candidate_features`
turns their union into one feature row per candidate (:data:`FEATURES`): each source's
reciprocal rank, buy-again count and decayed score, visual distance to the shopper's recent
items, trend scores, the item's age, the share of the shopper's history in the item's
segment, co-purchase score and the item's repurchase rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lookalike.csr import Csr, transpose
from lookalike.events import (
    SECONDS_PER_DAY,
    EventLog,
    age_decay,
    event_matrix,
    select_events,
)
from lookalike.personal_sources import (
    Candidates,
    Search,
    best_sellers,
    buy_again,
    co_purchase,
    decayed_shares,
    favourite_segment,
    new_arrivals,
    new_in_taste,
    new_item_rows,
    popularity,
    recent_items,
    repurchase_rates,
    trending,
    visual_recent,
)

#: The candidate sources by name, in the order the tables list them.
SOURCE_NAMES = (
    "best-sellers, last 7 days",
    "buy again",
    "trending",
    "co-purchase",
    "trending in own segment",
    "visual, recent items",
    "new arrivals near taste",
    "new in own segments",
)
#: One feature column per name (see :func:`candidate_features`).
FEATURES = (
    *(f"rr {name}" for name in SOURCE_NAMES),
    "sources",
    "own purchases",
    "own decayed purchases",
    "own events",
    "visual distance",
    "visual distance to latest",
    "trend 7d",
    "trend 30d",
    "week sales",
    "item age",
    "never sold",
    "segment share",
    "co-purchase score",
    "repurchase rate",
    "log segment share",
    "segment trend rank",
    "log group share",
)


def saved_features(data: dict) -> tuple[str, ...]:
    """The feature names of a saved ranker (its ``to_json`` dict), checked against this
    version's :data:`FEATURES`.

    Raises:
        ValueError: it was trained on other features (the columns would be misread).
    """
    names = tuple(data["features"])
    if names != FEATURES:
        raise ValueError("the ranker was trained on other features; train it again")
    return names


@dataclass
class SourceContext:
    """What every shopper's sources share, for a history seen at ``now``.

    Build it with :meth:`build`; ``search`` / ``embeddings`` are optional (without them the
    visual sources and distances are left out).
    """

    history: EventLog
    now: int
    search: Search | None = None
    titles: Sequence[str] | None = None
    segments: np.ndarray | None = None
    embeddings: np.ndarray | None = None
    rates: np.ndarray = field(default_factory=lambda: np.zeros(0))
    week: Candidates | None = None
    trend: np.ndarray = field(default_factory=lambda: np.zeros(0))
    trend_long: np.ndarray = field(default_factory=lambda: np.zeros(0))
    week_sales: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bought: Csr | None = None
    buyers: Csr | None = None
    new_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    first_seen_days: np.ndarray = field(default_factory=lambda: np.zeros(0))
    segment_rank: np.ndarray = field(default_factory=lambda: np.zeros(0))
    segment_ids: np.ndarray | None = None
    group_ids: np.ndarray | None = None

    @classmethod
    def build(
        cls,
        history: EventLog,
        now: int,
        *,
        search: Search | None = None,
        titles: Sequence[str] | None = None,
        segments: np.ndarray | None = None,
        embeddings: np.ndarray | None = None,
        colours: np.ndarray | None = None,
        pool: int = 50,
    ) -> SourceContext:
        """The shared pieces of ``history`` (events at or after ``now`` are ignored).

        Args:
            history: the log.
            now: seconds.
            search: a visual search (None: no visual sources).
            titles: item titles, for the reasons.
            segments: a segment label per item (trending in the shopper's own segment).
            embeddings: item embeddings, for the visual distance features.
            colours: a second label per item (e.g. Colour): with ``segments``, new
                arrivals in the shopper's segment x colour groups and their share.
            pool: how many of the week's best-sellers to keep.
        """
        if history.has_time and len(history.times) and history.times.max() >= now:
            history = select_events(history, history.times < now)
        week = best_sellers(history, now, pool, days=7)
        sold = history.events == history.event_code("purchase")
        week_mask = sold & (history.times >= now - 7 * SECONDS_PER_DAY)
        first = np.full(history.n_items, np.iinfo(np.int64).max)
        np.minimum.at(first, history.items, history.times)
        never = first == np.iinfo(np.int64).max
        age = np.where(never, 0.0, (now - np.where(never, now, first)) / SECONDS_PER_DAY)
        bought = event_matrix(history, "purchase", binary=True)
        trend = popularity(history, now, half_life_days=7)
        segment_ids = group_ids = None
        if segments is not None:
            labels = np.asarray(segments).astype(str)
            segment_ids = np.unique(labels, return_inverse=True)[1].ravel()
            if colours is not None:
                pairs = np.char.add(np.char.add(labels, "\x1f"), np.asarray(colours).astype(str))
                group_ids = np.unique(pairs, return_inverse=True)[1].ravel()
        return cls(
            history,
            now,
            search,
            titles,
            None if segments is None else np.asarray(segments),
            embeddings,
            rates=repurchase_rates(history),
            week=week,
            trend=trend,
            trend_long=popularity(history, now, half_life_days=30),
            week_sales=np.bincount(history.items[week_mask], minlength=history.n_items),
            bought=bought,
            buyers=transpose(bought),
            new_rows=new_item_rows(history, now),
            first_seen_days=age,
            segment_rank=segment_trend_rank(trend, segments),
            segment_ids=segment_ids,
            group_ids=group_ids,
        )

    def own_items(self, user: int) -> np.ndarray:
        """Items ``user`` touched in the history."""
        log = self.history
        return log.items[log.indptr[user] : log.indptr[user + 1]]

    def sources(self, user: int, k: int = 12) -> dict[str, Candidates]:
        """Every source's ``k`` picks for shopper row ``user`` (names: :data:`SOURCE_NAMES`,
        the segment and visual ones only when the context has segments / a search)."""
        log, now = self.history, self.now
        assert self.week is not None and self.bought is not None and self.buyers is not None
        found = {
            "best-sellers, last 7 days": _head(self.week, k),
            "buy again": buy_again(log, user, now, k, rates=self.rates),
            "trending": trending(self.trend, k),
            "co-purchase": co_purchase(self.bought, self.buyers, user, k),
        }
        if self.segments is not None:
            segment = favourite_segment(log, user, now, self.segments)
            found["trending in own segment"] = trending(
                self.trend, k, segments=self.segments, segment=segment, exclude=self.own_items(user)
            )
        if self.segments is not None and self.segment_ids is not None:
            found["new in own segments"] = new_in_taste(
                log,
                user,
                now,
                self.new_rows,
                self.segment_ids,
                k,
                group_ids=self.group_ids,
                labels=self.segments,
            )
        if self.search is not None:
            per_query = max(50, k)
            found["visual, recent items"] = visual_recent(
                log, user, now, self.search, k, titles=self.titles, per_query=per_query
            )
            found["new arrivals near taste"] = new_arrivals(
                log,
                user,
                now,
                self.search,
                self.new_rows,
                k,
                titles=self.titles,
                per_query=per_query,
            )
        return found


def segment_trend_rank(trend: np.ndarray, segments: np.ndarray | None) -> np.ndarray:
    """Per item, its rank (1 = first) by ``trend`` within its own segment (ties: the lower
    row first); items that did not sell share the rank after all that did. All 1 without
    segments."""
    rank = np.ones(len(trend))
    if segments is None:
        return rank
    labels = np.unique(np.asarray(segments), return_inverse=True)[1].ravel()
    order = np.lexsort((np.arange(len(trend)), -trend, labels))
    starts = np.searchsorted(labels[order], labels[order], side="left")
    rank[order] = np.arange(len(order)) - starts + 1
    sold = np.bincount(labels[trend > 0], minlength=labels.max() + 1 if len(labels) else 0)
    unsold = trend <= 0
    rank[unsold] = sold[labels[unsold]] + 1
    return rank


def _head(found: Candidates, k: int) -> Candidates:
    return Candidates(found.rows[:k], found.scores[:k], found.reasons[:k])


def head_of_sources(sources: dict[str, Candidates], k: int) -> dict[str, Candidates]:
    """Each source's first ``k`` picks (a source's top k of a longer list is its own top k)."""
    return {name: _head(found, k) for name, found in sources.items()}


def candidate_pool(sources: dict[str, Candidates]) -> tuple[np.ndarray, dict[int, str]]:
    """The union of the sources' rows (first seen order) and, per row, the reason of the
    source where it ranks best."""
    best: dict[int, tuple[int, str]] = {}
    for found in sources.values():
        for rank, (row, reason) in enumerate(zip(found.rows, found.reasons, strict=True)):
            row = int(row)
            if rank < best.get(row, (1 << 30, ""))[0]:
                best[row] = (rank, reason)
    rows = np.fromiter(best, np.int64, len(best))
    return rows, {row: reason for row, (_, reason) in best.items()}


def candidate_features(
    context: SourceContext, user: int, sources: dict[str, Candidates], rows: np.ndarray
) -> np.ndarray:
    """One row of :data:`FEATURES` per candidate ``rows`` of shopper ``user``.

    Args:
        context: the shared pieces.
        user: shopper row.
        sources: that shopper's :meth:`SourceContext.sources` (longer lists: more pool).
        rows: the candidates (e.g. :func:`candidate_pool`).

    Returns:
        float64 (len(rows), len(FEATURES)).
    """
    log, now = context.history, context.now
    n = len(rows)
    out = np.zeros((n, len(FEATURES)))
    position = {int(r): i for i, r in enumerate(rows)}
    co_scores = np.zeros(n)
    for j, name in enumerate(SOURCE_NAMES):
        found = sources.get(name)
        if found is None:
            continue
        for rank, (row, score) in enumerate(zip(found.rows, found.scores, strict=True), 1):
            i = position.get(int(row))
            if i is not None:
                out[i, j] = 1.0 / rank
                if name == "co-purchase":
                    co_scores[i] = score
    col = len(SOURCE_NAMES)
    out[:, col] = (out[:, :col] > 0).sum(axis=1)
    start, stop = log.indptr[user], log.indptr[user + 1]
    items, times, codes = log.items[start:stop], log.times[start:stop], log.events[start:stop]
    bought = codes == log.event_code("purchase")
    decay = age_decay(times, now, 90.0)
    own_count = np.bincount(items[bought], minlength=log.n_items)
    own_decayed = np.bincount(items[bought], weights=decay[bought], minlength=log.n_items)
    own_events = np.bincount(items, minlength=log.n_items)
    out[:, col + 1] = np.log1p(own_count[rows])
    out[:, col + 2] = own_decayed[rows]
    out[:, col + 3] = np.log1p(own_events[rows])
    out[:, col + 4 : col + 6] = _visual_distances(context, user, rows)
    out[:, col + 6] = np.log1p(context.trend[rows])
    out[:, col + 7] = np.log1p(context.trend_long[rows])
    out[:, col + 8] = np.log1p(context.week_sales[rows])
    out[:, col + 9] = np.log1p(context.first_seen_days[rows])
    out[:, col + 10] = context.first_seen_days[rows] == 0
    if context.segments is not None and len(items):
        labels = context.segments[items]
        weight = age_decay(times, now, 90.0)
        total = weight.sum()
        share = {lab: weight[labels == lab].sum() / total for lab in np.unique(labels)}
        out[:, col + 11] = [share.get(s, 0.0) for s in context.segments[rows]]
    out[:, col + 12] = np.log1p(co_scores)
    out[:, col + 13] = context.rates[rows]
    # in logs, so that a linear score can multiply taste by demand
    out[:, col + 14] = np.log(out[:, col + 11] + 0.01)
    out[:, col + 15] = np.log(context.segment_rank[rows]) if len(context.segment_rank) else 0.0
    out[:, col + 16] = np.log(0.01)
    if context.group_ids is not None and len(items):
        taste = decayed_shares(context.group_ids, items, decay)
        out[:, col + 16] = np.log(taste[context.group_ids[rows]] + 0.01)
    return out


def _visual_distances(context: SourceContext, user: int, rows: np.ndarray) -> np.ndarray:
    """(min distance to the shopper's recent items, distance to the latest one), each
    divided by the median distance of the pair set; 1 where there is nothing to compare."""
    out = np.ones((len(rows), 2))
    if context.embeddings is None or len(rows) == 0:
        return out
    recent, _, _ = recent_items(context.history, user, context.now)
    if len(recent) == 0:
        return out
    emb = context.embeddings
    a, b = emb[rows].astype(np.float64), emb[recent].astype(np.float64)
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    dist = np.sqrt(np.maximum(d2, 0.0))
    scale = float(np.median(dist)) or 1.0
    out[:, 0] = dist.min(axis=1) / scale
    out[:, 1] = dist[:, 0] / scale  # recent_items puts the latest first
    return out
