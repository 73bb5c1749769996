"""Candidate sources for a shopper's personal picks, each a pure function over an
:class:`~lookalike.events.EventLog` (the history up to ``now``) and arrays.

Every source returns :class:`Candidates`: catalog rows best first, their scores (the
source's own scale) and one reason phrase per row that a page can show:

* :func:`buy_again`: the shopper's own purchases, recent and repeated ones first
  ("you bought this 2 times", "bought again by many");
* :func:`best_sellers` / :func:`trending`: purchases in the last days / popularity decaying
  with age, optionally within a segment (a metadata column value) ("trending now");
* :func:`co_purchase`: items bought by shoppers who bought what this one bought (the
  item-item co-occurrence X^T X q, computed from the few rows it touches)
  ("often bought together");
* :func:`visual_recent`: visual neighbours of the shopper's recent items, each item's list
  weighted by its age decay, fused by reciprocal rank ("because you bought <title>");
* :func:`new_arrivals`: the same search restricted to items nobody had bought yet
  ("new, like <title>");
* :func:`new_in_taste`: items nobody had bought yet in the segments (and colours) the
  shopper buys, by share of history over the segment's count of new items ("new in
  <segment>"). These two are the only sources that reach new arrivals.

:func:`blend` fuses several sources by weighted reciprocal rank (a fixed blend, for logs too
small to learn one). Visual sources take a ``search(query_rows, k, allowed)`` callable;
:func:`recommender_search` and :func:`embedding_search` make one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from lookalike.csr import Csr, co_occurrence
from lookalike.events import SECONDS_PER_DAY, EventLog, age_decay
from lookalike.neighbours import smallest_per_row
from lookalike.personal import EVENT_WEIGHTS, RRF_K

#: search(query item rows, k, allowed rows or None) -> ranked rows (q, k), -1 padded.
Search = Callable[[np.ndarray, int, np.ndarray | None], np.ndarray]

#: Share of an item's buyers who bought it twice or more above which buy-again says so.
BOUGHT_AGAIN_BY_MANY = 0.2


class Candidates(NamedTuple):
    """One source's answer: rows best first, scores, a reason per row."""

    rows: np.ndarray
    scores: np.ndarray
    reasons: list[str]


def _title(titles: Sequence[str] | None, row: int) -> str:
    return titles[row] if titles is not None and titles[row] else f"item {row}"


def top_candidates(
    scores: np.ndarray, k: int, reason: str | Sequence[str], exclude: np.ndarray | None = None
) -> Candidates:
    """The ``k`` best positive-scored rows of a per-item score vector.

    Args:
        scores: float (n_items,).
        k: how many.
        reason: one phrase for all, or one per item.
        exclude: rows never returned (e.g. the shopper's own purchases).
    """
    scores = np.asarray(scores, np.float64).copy()
    if exclude is not None and len(exclude):
        scores[exclude] = 0.0
    positive = np.flatnonzero(scores > 0)
    if len(positive) > 4 * k:  # partition first: a full sort of 100k scores costs ms
        # keep every row tied with the k-th best, so the stable sort below decides ties
        kth = -np.partition(-scores[positive], k - 1)[k - 1]
        positive = positive[scores[positive] >= kth]
    order = positive[np.argsort(-scores[positive], kind="stable")[:k]]
    reasons = [reason if isinstance(reason, str) else reason[r] for r in order]
    return Candidates(order.astype(np.int64), scores[order], reasons)


def _user_events(log: EventLog, user: int, now: int, event: str | None = None):
    """(items, times, event codes) of ``user`` before ``now``, optionally one event type."""
    start, stop = log.indptr[user], log.indptr[user + 1]
    items, times, codes = log.items[start:stop], log.times[start:stop], log.events[start:stop]
    keep = times < now
    if event is not None:
        keep &= codes == log.event_code(event)
    return items[keep], times[keep], codes[keep]


def repurchase_rates(log: EventLog, event: str = "purchase") -> np.ndarray:
    """Per item, the share of its buyers who bought it at least twice (0 for unbought)."""
    mask = log.events == log.event_code(event)
    pairs = log.user_of_event[mask].astype(np.int64) * log.n_items + log.items[mask]
    unique, counts = np.unique(pairs, return_counts=True)
    items = unique % log.n_items
    buyers = np.bincount(items, minlength=log.n_items)
    again = np.bincount(items[counts >= 2], minlength=log.n_items)
    return np.divide(again, buyers, out=np.zeros(log.n_items), where=buyers > 0)


def buy_again(
    log: EventLog,
    user: int,
    now: int,
    k: int = 12,
    *,
    half_life_days: float = 90.0,
    event: str = "purchase",
    rates: np.ndarray | None = None,
) -> Candidates:
    """The shopper's own purchases: each purchase counts its age decay, so recent and repeated
    ones come first.

    Args:
        log: the history.
        user: shopper row.
        now: seconds; events at or after it are ignored.
        k: how many.
        half_life_days: age at which a purchase counts half.
        event: the event that counts as buying.
        rates: :func:`repurchase_rates`, to say "bought again by many" where it is so.
    """
    items, times, _ = _user_events(log, user, now, event)
    scores = np.bincount(
        items, weights=age_decay(times, now, half_life_days), minlength=log.n_items
    )
    counts = np.bincount(items, minlength=log.n_items)
    found = top_candidates(scores, k, "")
    reasons = []
    for row in found.rows:
        if rates is not None and rates[row] >= BOUGHT_AGAIN_BY_MANY:
            reasons.append("bought again by many")
        elif counts[row] > 1:
            reasons.append(f"you bought this {counts[row]} times")
        else:
            reasons.append("you bought this")
    return found._replace(reasons=reasons)


def popularity(
    log: EventLog, now: int, *, half_life_days: float = 7.0, event: str = "purchase"
) -> np.ndarray:
    """Per item, the sum of 0.5 ** (age / half-life) over its ``event``s before ``now``."""
    mask = (log.events == log.event_code(event)) & (log.times < now)
    weights = age_decay(log.times[mask], now, half_life_days)
    return np.bincount(log.items[mask], weights=weights, minlength=log.n_items)


def best_sellers(
    log: EventLog, now: int, k: int = 12, *, days: float = 7.0, event: str = "purchase"
) -> Candidates:
    """The most bought items of the ``days`` before ``now`` (what sites push)."""
    mask = (
        (log.events == log.event_code(event))
        & (log.times < now)
        & (log.times >= now - days * SECONDS_PER_DAY)
    )
    counts = np.bincount(log.items[mask], minlength=log.n_items).astype(np.float64)
    return top_candidates(counts, k, "best-seller this week")


def trending(
    scores: np.ndarray,
    k: int = 12,
    *,
    segments: np.ndarray | None = None,
    segment: str | None = None,
    exclude: np.ndarray | None = None,
) -> Candidates:
    """The top of a :func:`popularity` vector, optionally within one segment.

    Args:
        scores: :func:`popularity` (computed once for all shoppers).
        k: how many.
        segments: a segment label per item (a metadata column, e.g. ProductType).
        segment: keep only items of this label (None: all).
        exclude: rows never returned.
    """
    if segments is None or segment is None:
        return top_candidates(scores, k, "trending now", exclude)
    inside = np.where(np.asarray(segments) == segment, scores, 0.0)
    return top_candidates(inside, k, f"trending in {segment}", exclude)


def favourite_segment(
    log: EventLog, user: int, now: int, segments: np.ndarray, half_life_days: float = 90.0
) -> str | None:
    """The segment label of the shopper's interactions, weighted by age (None: no history)."""
    items, times, _ = _user_events(log, user, now)
    if len(items) == 0:
        return None
    labels, inverse = np.unique(np.asarray(segments)[items], return_inverse=True)
    weight = np.bincount(inverse, weights=age_decay(times, now, half_life_days))
    return str(labels[int(np.argmax(weight))])


def co_purchase(
    bought: Csr,
    buyers: Csr,
    user: int,
    k: int = 12,
    *,
    popularity_exponent: float = 0.5,
    exclude_own: bool = True,
) -> Candidates:
    """Items bought by the shoppers who bought what this shopper bought: row ``user`` of
    X X^T X (X = shoppers x items purchases), from the rows it touches only.

    Args:
        bought: X, shoppers x items (binary: :func:`~lookalike.events.event_matrix`
            ``binary=True`` of the history).
        buyers: X^T (:func:`~lookalike.events.transpose` of ``bought``).
        user: shopper row.
        k: how many.
        popularity_exponent: scores are divided by popularity ** this, so a best-seller that
            everybody bought does not win every list (0: raw co-occurrence counts).
        exclude_own: leave out the shopper's own purchases (buy-again has them).
    """
    own, _ = bought.row(user)
    if len(own) == 0:
        return Candidates(np.zeros(0, np.int64), np.zeros(0), [])
    scores = co_occurrence(bought, buyers, user)
    popularity_ = np.diff(buyers.indptr).astype(np.float64)
    scores = np.divide(
        scores, popularity_**popularity_exponent, out=np.zeros_like(scores), where=popularity_ > 0
    )
    return top_candidates(scores, k, "often bought together", own if exclude_own else None)


def recent_items(
    log: EventLog,
    user: int,
    now: int,
    *,
    n_recent: int = 10,
    half_life_days: float = 30.0,
    event_weights: dict[str, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The shopper's ``n_recent`` most recently touched distinct items and their weights.

    Args:
        log, user, now: the history, the shopper, the time.
        n_recent: how many distinct items.
        half_life_days: age at which an event counts half.
        event_weights: weight per event name (default EVENT_WEIGHTS: a purchase 5, a view 1).

    Returns:
        (rows, weights = sum of event weight x age decay, event code of the heaviest event).
    """
    items, times, codes = _user_events(log, user, now)
    if len(items) == 0:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int8)
    table = event_weights or EVENT_WEIGHTS
    per_code = np.array([table.get(name, 0.0) for name in log.event_names])
    weight = per_code[codes] * age_decay(times, now, half_life_days)
    order = np.argsort(-times, kind="stable")  # latest first
    rows, first = np.unique(items[order], return_index=True)
    latest = rows[np.argsort(first)][:n_recent]
    totals = np.array([weight[items == r].sum() for r in latest])
    heaviest = np.array([codes[items == r][np.argmax(weight[items == r])] for r in latest], np.int8)
    return latest.astype(np.int64), totals, heaviest


def visual_recent(
    log: EventLog,
    user: int,
    now: int,
    search: Search,
    k: int = 12,
    *,
    n_recent: int = 10,
    half_life_days: float = 30.0,
    per_query: int = 50,
    allowed: np.ndarray | None = None,
    titles: Sequence[str] | None = None,
    exclude_seen: bool = True,
    reason_prefix: str = "because you",
) -> Candidates:
    """Visual neighbours of the shopper's recent items, fused by reciprocal rank with each
    item's list weighted by its age decay (yesterday's purchase outweighs last year's).

    Args:
        log, user, now: the history, the shopper, the time.
        search: ``search(query rows, k, allowed)`` -> ranked rows.
        k: how many.
        n_recent, half_life_days: see :func:`recent_items`.
        per_query: neighbours fetched per recent item.
        allowed: rows that may be returned (None: all).
        titles: item titles, for the reasons.
        exclude_seen: leave out items the shopper already touched.
        reason_prefix: "because you" -> "because you bought <title>".
    """
    rows, weights, codes = recent_items(
        log, user, now, n_recent=n_recent, half_life_days=half_life_days
    )
    keep = weights > 0
    rows, weights, codes = rows[keep], weights[keep], codes[keep]
    if len(rows) == 0:
        return Candidates(np.zeros(0, np.int64), np.zeros(0), [])
    ranked = np.asarray(search(rows, per_query, allowed))
    weights = weights / weights.max()
    # contribution[q, j]: query q's RRF vote for its j-th neighbour
    contribution = weights[:, None] / (RRF_K + np.arange(1, ranked.shape[1] + 1))[None, :]
    valid = ranked >= 0
    scores = np.bincount(ranked[valid], weights=contribution[valid], minlength=log.n_items)
    best_query = np.zeros(log.n_items, np.int64)
    best_vote = np.zeros(log.n_items)
    for q in range(len(rows)):  # the reason names the recent item that voted most
        r, v = ranked[q][valid[q]], contribution[q][valid[q]]
        better = v > best_vote[r]
        best_query[r[better]], best_vote[r[better]] = q, v[better]
    seen = _user_events(log, user, now)[0] if exclude_seen else None
    found = top_candidates(scores, k, "", seen)
    verbs = {"purchase": "bought", "cart": "added", "like": "liked"}
    reasons = []
    for row in found.rows:
        q = best_query[row]
        verb = verbs.get(log.event_names[codes[q]], "looked at")
        reasons.append(f"{reason_prefix} {verb} {_title(titles, int(rows[q]))}")
    return found._replace(reasons=reasons)


def new_item_rows(log: EventLog, now: int, *, days: float | None = None) -> np.ndarray:
    """Items nobody had interacted with before ``now`` (``days``: or first seen within the
    last ``days``): new arrivals, which only photos and metadata can reach."""
    before = log.times < now
    first = np.full(log.n_items, np.iinfo(np.int64).max)
    np.minimum.at(first, log.items[before], log.times[before])
    new = first == np.iinfo(np.int64).max
    if days is not None:
        new |= first >= now - days * SECONDS_PER_DAY
    return np.flatnonzero(new)


def new_arrivals(
    log: EventLog,
    user: int,
    now: int,
    search: Search,
    new_rows: np.ndarray,
    k: int = 12,
    **options,
) -> Candidates:
    """:func:`visual_recent` restricted to ``new_rows`` (:func:`new_item_rows`):
    new arrivals close to the shopper's taste ("new, like <title>")."""
    if len(new_rows) == 0:
        return Candidates(np.zeros(0, np.int64), np.zeros(0), [])
    found = visual_recent(log, user, now, search, k, allowed=new_rows, **options)
    reasons = [r.replace("because you ", "new, like what you ", 1) for r in found.reasons]
    return found._replace(reasons=reasons)


def decayed_shares(ids: np.ndarray, items: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per group of ``ids`` (int group per item), the share of a shopper's events
    (``items``, each weighing ``weights``, e.g. its age decay) that fall in it; sums to 1."""
    return np.bincount(ids[items], weights=weights / weights.sum(), minlength=int(ids.max()) + 1)


def new_in_taste(
    log: EventLog,
    user: int,
    now: int,
    new_rows: np.ndarray,
    segment_ids: np.ndarray,
    k: int = 12,
    *,
    group_ids: np.ndarray | None = None,
    group_weight: float = 0.5,
    half_life_days: float = 90.0,
    labels: Sequence[str] | np.ndarray | None = None,
) -> Candidates:
    """New arrivals in the shopper's segments, by metadata alone ("new in <segment>").

    A new item (``new_rows``: nobody bought it yet, so no sales and no neighbours of a
    purchase rank it) scores the shopper's age-decayed share of history in its segment
    divided by how many new items that segment holds: the chance of that item if the
    shopper's next purchase in the segment were a new one drawn at random. With
    ``group_ids`` (e.g. segment x colour) the same over groups is mixed in by
    ``group_weight``. Ties (items of one group) go to the lower row.

    Args:
        log, user, now: the history, the shopper, the time.
        new_rows: rows that may be returned (:func:`new_item_rows`).
        segment_ids: int segment per item (e.g. ProductType codes).
        k: how many.
        group_ids: int finer group per item, or None.
        group_weight: the groups' share of the score (0 without groups).
        half_life_days: age at which an event counts half.
        labels: a segment label per item, for the reasons.
    """
    items, times, _ = _user_events(log, user, now)
    if len(items) == 0 or len(new_rows) == 0:
        return Candidates(np.zeros(0, np.int64), np.zeros(0), [])
    weight = age_decay(times, now, half_life_days)
    parts = [(segment_ids, 1.0 - group_weight if group_ids is not None else 1.0)]
    if group_ids is not None:
        parts.append((group_ids, group_weight))
    scores = np.zeros(log.n_items)
    for ids, share in parts:
        taste = decayed_shares(ids, items, weight)
        n_new = np.bincount(ids[new_rows], minlength=len(taste))
        scores[new_rows] += share * taste[ids[new_rows]] / np.maximum(n_new[ids[new_rows]], 1)
    found = top_candidates(scores, k, "")
    reasons = [
        f"new in {_title(labels, int(r))}" if labels is not None else "new for you"
        for r in found.rows
    ]
    return found._replace(reasons=reasons)


def blend(
    sources: dict[str, Candidates], weights: dict[str, float], k: int = 12, k0: int = RRF_K
) -> Candidates:
    """Weighted reciprocal-rank fusion of several sources; a row's reason is that of the
    source that voted most for it.

    Args:
        sources: name -> Candidates.
        weights: name -> weight (missing names weigh 0).
        k: how many.
        k0: the RRF constant.
    """
    votes: dict[int, float] = {}
    best: dict[int, tuple[float, str]] = {}
    for name, found in sources.items():
        weight = weights.get(name, 0.0)
        if weight <= 0:
            continue
        for rank, (row, reason) in enumerate(zip(found.rows, found.reasons, strict=True), 1):
            vote = weight / (k0 + rank)
            row = int(row)
            votes[row] = votes.get(row, 0.0) + vote
            if vote > best.get(row, (0.0, ""))[0]:
                best[row] = (vote, reason)
    rows = sorted(votes, key=lambda r: (-votes[r], r))[:k]
    return Candidates(
        np.array(rows, np.int64), np.array([votes[r] for r in rows]), [best[r][1] for r in rows]
    )


def embedding_search(embeddings: np.ndarray) -> Search:
    """A :data:`Search` by exact Euclidean distance over item embeddings (tests, simulators;
    a query item is not its own neighbour).

    The float64 copy, the squared norms and the rows of the last ``allowed`` set (a shared
    context passes the same new-arrivals array for every shopper) are kept between calls;
    distances are computed and ties broken as :func:`~lookalike.neighbours.exact_search`
    does.
    """
    vectors = np.asarray(embeddings, np.float64)
    norms = np.einsum("ij,ij->i", vectors, vectors)
    last: dict = {}

    def search(rows: np.ndarray, k: int, allowed: np.ndarray | None) -> np.ndarray:
        if allowed is None:
            pool, x, xn = np.arange(len(vectors)), vectors, norms
        elif last.get("allowed") is allowed:
            pool, x, xn = last["pool"], last["x"], last["xn"]
        else:
            pool = np.asarray(allowed)
            x, xn = vectors[pool], norms[pool]
            last.update(allowed=allowed, pool=pool, x=x, xn=xn)
        q = vectors[np.asarray(rows)]
        d2 = np.einsum("ij,ij->i", q, q)[:, None] - 2.0 * (q @ x.T) + xn[None, :]
        np.maximum(d2, 0, out=d2)
        found = pool[smallest_per_row(d2, min(k + 1, len(pool)))] if len(pool) else d2[:, :0]
        return neighbours_without_query(found.astype(np.int64), rows, k)

    return search


def neighbours_without_query(found: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` of each query's ``found`` rows that are not the query row itself,
    padded with -1: int64 (len(rows), k)."""
    out = np.full((len(rows), k), -1, np.int64)
    for q, row in enumerate(rows):
        others = found[q][found[q] != row][:k]
        out[q, : len(others)] = others
    return out


def recommender_search(recommender) -> Search:
    """A :data:`Search` through a loaded Recommender's index (distinct products)."""

    def search(rows: np.ndarray, k: int, allowed: np.ndarray | None) -> np.ndarray:
        _, found, _ = recommender.nearest_products(recommender.embeddings[rows], k + 1, allowed)
        return neighbours_without_query(found, rows, k)

    return search
