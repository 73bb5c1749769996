"""The learned blend: a logistic model that ranks the union of every source's candidates.

Training is a time split of the history itself: for a ``cutoff`` and a ``window``, the
events before ``cutoff - j * window`` give the candidates and their features
(:func:`~lookalike.personal_candidates.candidate_features`), the purchases in the following
window the labels (1: bought), for ``j = 1 .. windows``. The model is an L2-regularised
logistic regression on standardised features fitted by Newton's method in numpy (a few
dozen features, so a Hessian solve per step is cheap). A log too small to learn from
(fewer than :data:`MIN_POSITIVES` bought candidates) gets no model, and
:func:`learned_picks` falls back to the fixed blend (:data:`DEFAULT_BLEND`).

The model is a few arrays; :meth:`LogisticRanker.to_json` / :meth:`LogisticRanker.from_json`
keep it as JSON (no pickle).
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
from lookalike.personal_sources import Candidates, blend

K = 12
#: Candidates taken from each source for the learned blend to rank.
POOL = 50
#: Fewer bought candidates than this in the training windows: no model (fixed blend).
MIN_POSITIVES = 30
#: Shoppers sampled per training window at most (training cost stays flat in the log).
MAX_TRAIN_CUSTOMERS = 3000
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


@dataclass
class LogisticRanker:
    """A fitted logistic model over :data:`~lookalike.personal_candidates.FEATURES`.

    Attributes:
        features: the feature names, in column order.
        mean, scale: the standardisation (x - mean) / scale.
        weights: one per feature (of the standardised values).
        bias: the intercept.
        examples, positives, customers: what it was trained on.
    """

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    examples: int = 0
    positives: int = 0
    customers: int = 0

    def standardise(self, x: np.ndarray) -> np.ndarray:
        """(x - mean) / scale."""
        return (np.asarray(x, np.float64) - self.mean) / self.scale

    def score(self, x: np.ndarray) -> np.ndarray:
        """The log-odds of a purchase for each row of features ``x``."""
        return self.standardise(x) @ self.weights + self.bias

    def to_json(self) -> dict:
        """A JSON-able dict (:meth:`from_json` reads it back)."""
        return {
            "features": list(self.features),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "weights": self.weights.tolist(),
            "bias": self.bias,
            "examples": self.examples,
            "positives": self.positives,
            "customers": self.customers,
        }

    @classmethod
    def from_json(cls, data: dict) -> LogisticRanker:
        """The model of a :meth:`to_json` dict.

        Raises:
            ValueError: its features are not this version's :data:`FEATURES`.
        """
        if tuple(data["features"]) != FEATURES:
            raise ValueError("the ranker was trained on other features; train it again")
        return cls(
            tuple(data["features"]),
            np.asarray(data["mean"], np.float64),
            np.asarray(data["scale"], np.float64),
            np.asarray(data["weights"], np.float64),
            float(data["bias"]),
            int(data.get("examples", 0)),
            int(data.get("positives", 0)),
            int(data.get("customers", 0)),
        )


def fit_logistic(
    x: np.ndarray, y: np.ndarray, *, l2: float = 1.0, iterations: int = 30
) -> LogisticRanker:
    """L2-regularised logistic regression by Newton's method (IRLS) on standardised ``x``.

    Args:
        x: float (n, len(FEATURES)) features.
        y: 0/1 (n,) labels.
        l2: the penalty on the weights (not the bias).
        iterations: at most this many Newton steps (stops when a step is below 1e-8).
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-12] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    theta = np.zeros(z.shape[1])
    theta[-1] = np.log((y.mean() + 1e-9) / (1 - y.mean() + 1e-9))
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0

    def loss(t: np.ndarray) -> float:
        margin = z @ t
        return float(np.logaddexp(0.0, margin).sum() - y @ margin + 0.5 * penalty @ (t * t))

    current = loss(theta)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ theta, -30, 30)))
        gradient = z.T @ (p - y) + penalty * theta
        hessian = (z * (p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        size = 1.0  # backtracking: a full Newton step can overshoot far from the optimum
        while size > 1e-4 and loss(theta - size * step) > current:
            size /= 2
        theta -= size * step
        current = loss(theta)
        if np.abs(size * step).max() < 1e-8:
            break
    return LogisticRanker(
        FEATURES, mean, scale, theta[:-1], float(theta[-1]), len(y), int(y.sum()), 0
    )


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
    ranker: LogisticRanker | None,
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
    gain = ranker.standardise(x)[:, :n] * ranker.weights[:n]
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
) -> tuple[list[np.ndarray], list[np.ndarray], int]:
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
        if len(rows) == 0:
            continue
        xs.append(candidate_features(context, int(user), sources, rows))
        ys.append(np.isin(rows, items[users == user]).astype(np.float64))
    return xs, ys, len(customers)


def train_ranker(
    history: EventLog,
    cutoff: int,
    window: int,
    *,
    windows: int = 4,
    pool: int = POOL,
    min_positives: int = MIN_POSITIVES,
    max_customers: int = MAX_TRAIN_CUSTOMERS,
    l2: float = 1.0,
    seed: int = 0,
    progress: Callable | None = None,
    **options,
) -> LogisticRanker | None:
    """Fit the learned blend on time splits of ``history`` before ``cutoff``.

    Args:
        history: the log (events at or after ``cutoff`` are ignored).
        cutoff: seconds: picks will be made at this time.
        window: seconds: the label window (as long as the one evaluated).
        windows: how many windows back from ``cutoff`` (each one's customers are examples).
        pool: candidates per source.
        min_positives: fewer bought candidates: None (use the fixed blend).
        max_customers: shoppers sampled per window at most.
        l2: the logistic model's penalty.
        seed: the sampling seed.
        progress: wraps the loop over windows (e.g. tqdm), or None.
        options: :meth:`SourceContext.build` options (search, titles, segments, embeddings).

    Returns:
        The model, or None when the log is too small to learn from.
    """
    if not history.has_time:
        return None
    if len(history.times) and history.times.max() >= cutoff:
        history = select_events(history, history.times < cutoff)
    rng = np.random.default_rng(seed)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    customers = 0
    starts = [cutoff - j * window for j in range(1, windows + 1)]
    for start in progress(starts) if progress else starts:
        if not (history.times < start).any():
            continue
        x, y, n = _window_examples(history, start, window, rng, max_customers, pool, options)
        xs += x
        ys += y
        customers += n
    if not ys or sum(int(y.sum()) for y in ys) < min_positives:
        return None
    ranker = fit_logistic(np.vstack(xs), np.concatenate(ys), l2=l2)
    ranker.customers = customers
    return ranker
