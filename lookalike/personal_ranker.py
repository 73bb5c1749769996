"""The learned blend: a model (:mod:`lookalike.personal_fit`: by default a linear listwise
score and LightGBM's trees, summed as per-shopper z-scores) that ranks the union of every
source's candidates.

Training is a time split of the history itself: for a ``cutoff`` and a ``window``, the
events before ``cutoff - j * window`` give the candidates and their features
(:func:`~lookalike.personal_candidates.candidate_features`), the purchases in the following
window the labels (1: bought), for ``j = 1 .. windows`` (:func:`training_examples`). The
model (:func:`~lookalike.personal_fit.fit_ranker`: a listwise, pointwise or pairwise
linear score, trees, or the listwise score and trees together) is fitted on them. A log too
small to learn from (fewer than :data:`MIN_POSITIVES` bought candidates) gets no model, and
:func:`learned_picks` falls back to the fixed blend (:data:`DEFAULT_BLEND`).

The model is kept as JSON (``to_json``; LightGBM's own text model inside; no pickle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lookalike.events import EventLog, select_events
from lookalike.personal_candidates import (
    FEATURES,
    SOURCE_NAMES,
    SourceContext,
    candidate_features,
    candidate_pool,
    head_of_sources,
)
from lookalike.personal_ensemble import EnsembleRanker
from lookalike.personal_fit import (
    CALIBRATE,
    NORMALISE,
    OBJECTIVE,
    LogisticRanker,
    Ranker,
    fit_logistic,
    fit_ranker,
    ranker_from_json,
)
from lookalike.personal_sources import Candidates, blend
from lookalike.personal_trees import TreeRanker

__all__ = [
    "EnsembleRanker",
    "LogisticRanker",
    "Ranker",
    "TreeRanker",
    "fit_logistic",
    "fit_ranker",
    "learned_picks",
    "ranker_from_json",
    "train_ranker",
]

K = 12
#: Candidates taken from each source for the learned blend to rank.
POOL = 50
#: Fewer bought candidates than this in the training windows: no model (fixed blend).
MIN_POSITIVES = 30
#: Shoppers sampled per training window at most (training cost stays flat in the log).
MAX_TRAIN_CUSTOMERS = 3000
#: Label windows before the cutoff the learned blend trains on. 8 four-week windows (~7
#: months) gave the trees of the default blend twice the examples of 4 and led 4 and 12 on
#: the simulator (docs/personalisation.md); older windows sell other seasons and articles.
TRAIN_WINDOWS = 8
#: The fixed blend's weight per source: buy-again leads (the strongest single source on real
#: histories), the sources that reach other items follow, popularity fills what is left.
DEFAULT_BLEND = {
    "buy again": 1.0,
    "visual, recent items": 0.7,
    "new arrivals near taste": 0.7,
    "co-purchase": 0.5,
    "trending in own segment": 0.4,
    "trending": 0.3,
}


def fixed_blend(
    sources: dict[str, Candidates],
    k: int = K,
    weights: dict[str, float] | None = None,
) -> Candidates:
    """The fixed blend of each source's first ``k`` picks (weighted reciprocal rank, the
    week's best-sellers filling empty places at a low weight)."""
    weights = DEFAULT_BLEND if weights is None else weights
    heads = head_of_sources(sources, k)
    fill = heads.get("best-sellers, last 7 days")
    if fill is not None:
        heads = {**heads, "fill": fill}
    return blend(heads, {**weights, "fill": 0.05}, k)


def learned_picks(
    context: SourceContext,
    user: int,
    ranker: Ranker | None,
    k: int = K,
    *,
    sources: dict[str, Candidates] | None = None,
    pool: int = POOL,
) -> Candidates:
    """``k`` picks for shopper row ``user``: the candidates of every source ranked by
    ``ranker`` (None: the fixed blend). A pick's reason is that of the source whose rank
    adds most to its score.

    Args:
        context: the shared pieces at the time of the picks.
        user: shopper row.
        ranker: from :func:`train_ranker`, or None.
        k: how many.
        sources: ``context.sources(user, pool)`` when already computed.
        pool: candidates per source.
    """
    sources = context.sources(user, pool) if sources is None else sources
    if ranker is None:
        return fixed_blend(sources, k)
    rows, best_reason = candidate_pool(sources)
    if len(rows) == 0:
        return Candidates(np.zeros(0, np.int64), np.zeros(0), [])
    x = candidate_features(context, user, sources, rows)
    scores = ranker.score(x)
    order = np.lexsort((rows, -scores))[:k]
    n = len(SOURCE_NAMES)
    gain = np.zeros((len(rows), n))
    gain[order] = ranker.contributions(x, order)[:, :n]  # only the picks need a reason
    reason_of = {
        name: dict(zip(found.rows.tolist(), found.reasons, strict=True))
        for name, found in sources.items()
    }
    reasons = []
    for i in order:
        row = int(rows[i])
        named = [
            (gain[i, j], name)
            for j, name in enumerate(SOURCE_NAMES)
            if x[i, j] > 0 and row in reason_of.get(name, {})
        ]
        reasons.append(reason_of[max(named)[1]][row] if named else best_reason[row])
    return Candidates(rows[order], scores[order], reasons)


def _window_examples(
    history: EventLog,
    start: int,
    window: int,
    rng: np.random.Generator,
    max_customers: int,
    pool: int,
    options: dict,
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Features and labels of the shoppers who bought in [start, start + window)."""
    bought = (
        (history.times >= start)
        & (history.times < start + window)
        & (history.events == history.event_code("purchase"))
    )
    users = history.user_of_event[bought]
    items = history.items[bought]
    customers = np.unique(users)
    if len(customers) > max_customers:
        customers = np.sort(rng.choice(customers, max_customers, replace=False))
    before = select_events(history, history.times < start)
    context = SourceContext.build(before, start, **options)
    xs, ys = [], []
    for user in customers:
        sources = context.sources(int(user), pool)
        rows, _ = candidate_pool(sources)
        xs.append(candidate_features(context, int(user), sources, rows))
        ys.append(np.isin(rows, items[users == user]).astype(np.float64))
    return xs, ys, customers


@dataclass
class TrainingExamples:
    """The learned blend's examples: one row per candidate of a shopper in a window.

    Attributes:
        x: float (n, len(FEATURES)) features.
        y: 0/1 (n,): bought in the window after.
        groups: (n,) one id per (window, shopper): whose candidates are ranked together.
        customers: shoppers sampled, all windows together.
    """

    x: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    customers: int


def training_examples(
    history: EventLog,
    cutoff: int,
    window: int,
    *,
    windows: int = TRAIN_WINDOWS,
    pool: int = POOL,
    max_customers: int = MAX_TRAIN_CUSTOMERS,
    seed: int = 0,
    progress: Callable | None = None,
    **options,
) -> TrainingExamples:
    """The time splits of ``history`` before ``cutoff``: for j = 1 .. ``windows``, the
    candidates of the events before ``cutoff - j * window`` labelled by the purchases of the
    following window (arguments as :func:`train_ranker`)."""
    if len(history.times) and history.times.max() >= cutoff:
        history = select_events(history, history.times < cutoff)
    rng = np.random.default_rng(seed)
    xs: list[np.ndarray] = [np.zeros((0, len(FEATURES)))]
    ys: list[np.ndarray] = [np.zeros(0)]
    customers = 0
    starts = [cutoff - j * window for j in range(1, windows + 1)]
    for start in progress(starts) if progress else starts:
        if not (history.times < start).any():
            continue
        x, y, users = _window_examples(history, start, window, rng, max_customers, pool, options)
        xs += x
        ys += y
        customers += len(users)
    groups = np.repeat(np.arange(len(xs)), [len(y) for y in ys])
    return TrainingExamples(np.vstack(xs), np.concatenate(ys), groups, customers)


def train_ranker(
    history: EventLog,
    cutoff: int,
    window: int,
    *,
    windows: int = TRAIN_WINDOWS,
    pool: int = POOL,
    min_positives: int = MIN_POSITIVES,
    max_customers: int = MAX_TRAIN_CUSTOMERS,
    l2: float = 1.0,
    objective: str = OBJECTIVE,
    calibrate: bool = CALIBRATE,
    normalise: bool = NORMALISE,
    seed: int = 0,
    progress: Callable | None = None,
    **options,
) -> Ranker | None:
    """Fit the learned blend on time splits of ``history`` before ``cutoff``.

    Args:
        history: the log (events at or after ``cutoff`` are ignored).
        cutoff: seconds: picks will be made at this time.
        window: seconds: the label window (as long as the one evaluated).
        windows: how many windows back from ``cutoff`` (each one's customers are examples).
        pool: candidates per source.
        min_positives: fewer bought candidates: None (use the fixed blend).
        max_customers: shoppers sampled per window at most.
        l2: the model's penalty.
        objective, calibrate, normalise: see :func:`~lookalike.personal_fit.fit_ranker`.
        seed: the sampling seed.
        progress: wraps the loop over windows (e.g. tqdm), or None.
        options: :meth:`SourceContext.build` options (search, titles, segments, embeddings).

    Returns:
        The model, or None when the log is too small to learn from.
    """
    if not history.has_time:
        return None
    examples = training_examples(
        history,
        cutoff,
        window,
        windows=windows,
        pool=pool,
        max_customers=max_customers,
        seed=seed,
        progress=progress,
        **options,
    )
    if examples.y.sum() < min_positives:
        return None
    ranker = fit_ranker(
        examples.x,
        examples.y,
        examples.groups,
        objective=objective,
        calibrate=calibrate,
        normalise=normalise,
        l2=l2,
        seed=seed,
    )
    ranker.customers = examples.customers
    return ranker
