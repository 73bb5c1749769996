"""The learned blend's model: a linear score over candidate features, fitted in numpy.

:class:`LogisticRanker` holds the standardisation, the weights and (optionally) a per-source
calibration of the reciprocal-rank columns; it is kept as JSON (:meth:`LogisticRanker.to_json`,
no pickle). Two objectives, both L2-regularised and fitted by Newton's method (a few dozen
features, so a Hessian solve per step is cheap):

* pointwise (:func:`fit_logistic`): logistic regression of "bought" on each candidate;
* pairwise (:func:`fit_pairwise`): RankNet / BPR, logistic loss on the score difference of a
  bought and a not-bought candidate of the same shopper (:func:`candidate_pairs`);
* listwise (:func:`fit_listwise`): softmax over each shopper's candidates (a conditional
  logit), each bought candidate one choice.

:func:`fit_ranker` also fits LightGBM's boosted trees (``objective="trees"``,
:mod:`lookalike.personal_trees`) and, the default, both the listwise score and the trees,
summed as per-shopper z-scores (``objective="listwise+trees"``,
:class:`~lookalike.personal_ensemble.EnsembleRanker`).

:func:`fit_rank_calibration` turns each source's rank into its observed purchase rate by rank
bucket, so that "3rd in buy again" and "3rd in trending" are not the same number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lookalike.personal_candidates import FEATURES, SOURCE_NAMES, saved_features
from lookalike.personal_ensemble import EnsembleRanker
from lookalike.personal_trees import TreeRanker, fit_trees

#: Negatives sampled per shopper for the pairwise objective (each paired with every positive).
MAX_PAIR_NEGATIVES = 64
#: Rank buckets of a source's candidates for the per-source calibration: 1, 2, 3, 4-6,
#: 7-12, 13-25, 26-50, beyond (then "absent from the source").
RANK_EDGES = np.array([1, 2, 3, 4, 7, 13, 26, 51])
#: The default training: objective, per-source calibration, per-shopper normalisation. On the
#: simulator's markets (docs/personalisation.md) listwise led pointwise and pairwise;
#: calibration and normalisation did not add; the listwise score and LightGBM's trees summed
#: as per-shopper z-scores ("listwise+trees"), trained on 8 windows, led the listwise score
#: alone on each of 6 seeds x 10 markets (MAP@12 0.0127 vs 0.0119 on the mean).
OBJECTIVE = "listwise+trees"
#: The linear objectives (:class:`LogisticRanker`); "trees" is a :class:`TreeRanker`.
LINEAR_OBJECTIVES = ("pointwise", "pairwise", "listwise")
#: Every objective :func:`fit_ranker` knows.
OBJECTIVES = (*LINEAR_OBJECTIVES, "trees", "listwise+trees")
#: Fewer bought candidates than this: "listwise+trees" fits the listwise score alone (300
#: trees need examples; measured from ~750 up, where the sum led by 5%).
ENSEMBLE_MIN_POSITIVES = 300
CALIBRATE = False
NORMALISE = False


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
    objective: str = "pointwise"
    calibration: np.ndarray | None = None

    def standardise(self, x: np.ndarray) -> np.ndarray:
        """(x - mean) / scale, after the per-source calibration (if any) of the rank columns."""
        x = np.asarray(x, np.float64)
        if self.calibration is not None:
            x = calibrate_ranks(x, self.calibration)
        return (x - self.mean) / self.scale

    def score(self, x: np.ndarray) -> np.ndarray:
        """The log-odds of a purchase for each row of features ``x``."""
        return self.standardise(x) @ self.weights + self.bias

    def contributions(self, x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Each feature's additive share of the :meth:`score` of each row of ``x`` (of
        ``x[rows]`` when given; the bias left out)."""
        return self.standardise(x if rows is None else x[rows]) * self.weights

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
            "objective": self.objective,
            "calibration": None if self.calibration is None else self.calibration.tolist(),
        }

    @classmethod
    def from_json(cls, data: dict) -> LogisticRanker:
        """The model of a :meth:`to_json` dict.

        Raises:
            ValueError: its features are not this version's :data:`FEATURES`.
        """
        return cls(
            saved_features(data),
            np.asarray(data["mean"], np.float64),
            np.asarray(data["scale"], np.float64),
            np.asarray(data["weights"], np.float64),
            float(data["bias"]),
            int(data.get("examples", 0)),
            int(data.get("positives", 0)),
            int(data.get("customers", 0)),
            str(data.get("objective", "pointwise")),
            None if data.get("calibration") is None else np.asarray(data["calibration"]),
        )


def _standardisation(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-12] = 1.0
    return mean, scale


def _newton(
    loss: Callable[[np.ndarray], float],
    gradient_hessian: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    theta: np.ndarray,
    iterations: int,
) -> np.ndarray:
    """Newton steps with backtracking (a full step can overshoot far from the optimum)."""
    current = loss(theta)
    for _ in range(iterations):
        gradient, hessian = gradient_hessian(theta)
        step = np.linalg.solve(hessian, gradient)
        size = 1.0
        while size > 1e-4 and loss(theta - size * step) > current:
            size /= 2
        theta = theta - size * step
        current = loss(theta)
        if np.abs(size * step).max() < 1e-8:
            break
    return theta


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    *,
    l2: float = 1.0,
    iterations: int = 30,
    weights: np.ndarray | None = None,
) -> LogisticRanker:
    """L2-regularised logistic regression by Newton's method (IRLS) on standardised ``x``.

    Args:
        x: float (n, len(FEATURES)) features.
        y: 0/1 (n,) labels.
        l2: the penalty on the weights (not the bias).
        iterations: at most this many Newton steps (stops when a step is below 1e-8).
        weights: per example (None: 1 each), e.g. 1 / candidates of its shopper.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, np.float64)
    mean, scale = _standardisation(x)
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    theta = np.zeros(z.shape[1])
    rate = (w @ y) / w.sum()
    theta[-1] = np.log((rate + 1e-9) / (1 - rate + 1e-9))
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0

    def loss(t: np.ndarray) -> float:
        margin = z @ t
        return float(w @ (np.logaddexp(0.0, margin) - y * margin) + 0.5 * penalty @ (t * t))

    def gradient_hessian(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ t, -30, 30)))
        gradient = z.T @ (w * (p - y)) + penalty * t
        hessian = (z * (w * p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        return gradient, hessian

    theta = _newton(loss, gradient_hessian, theta, iterations)
    return LogisticRanker(
        FEATURES, mean, scale, theta[:-1], float(theta[-1]), len(y), int(y.sum()), 0
    )


def candidate_pairs(
    y: np.ndarray,
    groups: np.ndarray,
    *,
    max_negatives: int = MAX_PAIR_NEGATIVES,
    normalise: bool = True,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positive, negative) example pairs of the same shopper and a weight per pair.

    Args:
        y: 0/1 labels.
        groups: the shopper of each example (examples of one shopper contiguous or not).
        max_negatives: negatives sampled per shopper at most (each paired with every
            positive of that shopper).
        normalise: each shopper's pairs weigh 1 in all (times the mean pairs per shopper),
            so a shopper with many candidates or purchases does not outweigh the others.
        seed: the sampling seed.

    Returns:
        (positive indices, negative indices, weights).
    """
    rng = np.random.default_rng(seed)
    order = np.argsort(groups, kind="stable")
    bounds = np.flatnonzero(np.diff(groups[order])) + 1
    pos_all, neg_all, weight_all = [], [], []
    for members in np.split(order, bounds):
        pos = members[y[members] > 0]
        neg = members[y[members] <= 0]
        if len(pos) == 0 or len(neg) == 0:
            continue
        if len(neg) > max_negatives:
            neg = rng.choice(neg, max_negatives, replace=False)
        pos_all.append(np.repeat(pos, len(neg)))
        neg_all.append(np.tile(neg, len(pos)))
        weight_all.append(np.full(len(pos) * len(neg), 1.0 / (len(pos) * len(neg))))
    if not pos_all:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    weights = np.concatenate(weight_all)
    weights = weights * len(weights) / weights.sum() if normalise else np.ones(len(weights))
    return np.concatenate(pos_all), np.concatenate(neg_all), weights


def fit_pairwise(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    *,
    l2: float = 1.0,
    iterations: int = 30,
    max_negatives: int = MAX_PAIR_NEGATIVES,
    normalise: bool = True,
    seed: int = 0,
) -> LogisticRanker:
    """A pairwise (RankNet / BPR) logistic ranker: over pairs (bought, not bought) of one
    shopper's candidates, minimise sum log(1 + exp(-(s_pos - s_neg))) + l2 / 2 |w|^2 for a
    linear score s on standardised features (Newton's method). Only the order within a
    shopper is learned, so easy negatives of other shoppers weigh nothing.

    Args:
        x, y: features and 0/1 labels.
        groups: the shopper of each example.
        l2, iterations: as :func:`fit_logistic`.
        max_negatives, normalise, seed: see :func:`candidate_pairs`.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    mean, scale = _standardisation(x)
    z = (x - mean) / scale
    pos, neg, w = candidate_pairs(
        y, np.asarray(groups), max_negatives=max_negatives, normalise=normalise, seed=seed
    )
    d = z[pos] - z[neg]

    def loss(t: np.ndarray) -> float:
        return float(w @ np.logaddexp(0.0, -(d @ t)) + 0.5 * l2 * t @ t)

    def gradient_hessian(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = 1.0 / (1.0 + np.exp(-np.clip(d @ t, -30, 30)))
        gradient = -d.T @ (w * (1 - p)) + l2 * t
        hessian = (d * (w * p * (1 - p))[:, None]).T @ d + np.eye(len(t)) * (l2 + 1e-9)
        return gradient, hessian

    theta = _newton(loss, gradient_hessian, np.zeros(z.shape[1]), iterations)
    return LogisticRanker(
        FEATURES, mean, scale, theta, 0.0, len(y), int(y.sum()), 0, objective="pairwise"
    )


def fit_listwise(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    *,
    l2: float = 1.0,
    iterations: int = 30,
) -> LogisticRanker:
    """A listwise ranker (a conditional logit: ListNet with one choice at a time): each
    bought candidate is a choice among all of its shopper's candidates, minimise
    -sum log softmax(s)[bought] + l2 / 2 |w|^2 over shoppers (Newton's method).

    Args:
        x, y, groups: features, 0/1 labels, the shopper of each example.
        l2, iterations: as :func:`fit_logistic`.
    """
    x = np.asarray(x, np.float64)
    mean, scale = _standardisation(x)
    order = np.argsort(np.asarray(groups), kind="stable")
    z = ((x - mean) / scale)[order]
    y = np.asarray(y, np.float64)[order]
    group = np.asarray(groups)[order]
    starts = np.r_[0, np.flatnonzero(np.diff(group)) + 1] if len(group) else np.zeros(0, int)
    chosen = np.add.reduceat(y, starts) if len(group) else np.zeros(0)
    member = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(group)]))

    def log_norm(s: np.ndarray) -> np.ndarray:
        top = np.maximum.reduceat(s, starts)
        return np.log(np.add.reduceat(np.exp(s - top[member]), starts)) + top

    def loss(t: np.ndarray) -> float:
        s = z @ t
        return float(-(y @ s - chosen @ log_norm(s)) + 0.5 * l2 * t @ t)

    def gradient_hessian(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = z @ t
        p = np.exp(s - log_norm(s)[member])
        expected = np.add.reduceat(p[:, None] * z, starts)  # E[z] per shopper
        gradient = -(z.T @ y - expected.T @ chosen) + l2 * t
        hessian = (z * (chosen[member] * p)[:, None]).T @ z - (
            expected * chosen[:, None]
        ).T @ expected
        return gradient, hessian + np.eye(len(t)) * (l2 + 1e-9)

    theta = _newton(loss, gradient_hessian, np.zeros(z.shape[1]), iterations)
    return LogisticRanker(
        FEATURES, mean, scale, theta, 0.0, len(y), int(y.sum()), 0, objective="listwise"
    )


def _rank_buckets(rr: np.ndarray) -> np.ndarray:
    """The bucket of each reciprocal rank (0: absent from the source -> the last bucket)."""
    rank = np.where(rr > 0, np.maximum(np.rint(1.0 / np.maximum(rr, 1e-12)), 1), np.inf)
    return np.searchsorted(RANK_EDGES, rank, side="right") - 1 + (rank == np.inf)


def fit_rank_calibration(x: np.ndarray, y: np.ndarray, smoothing: float = 20.0) -> np.ndarray:
    """Per source, the log purchase rate of its candidates by rank bucket (:data:`RANK_EDGES`,
    then "absent from the source"), smoothed towards the overall rate by ``smoothing``
    pseudo-examples: (len(SOURCE_NAMES), len(RANK_EDGES) + 1) for :func:`calibrate_ranks`."""
    y = np.asarray(y, np.float64)
    prior = (y.sum() + 1.0) / (len(y) + 2.0)
    n_buckets = len(RANK_EDGES) + 1
    table = np.zeros((len(SOURCE_NAMES), n_buckets))
    for j in range(len(SOURCE_NAMES)):
        bucket = _rank_buckets(np.asarray(x)[:, j])
        count = np.bincount(bucket, minlength=n_buckets)
        bought = np.bincount(bucket, weights=y, minlength=n_buckets)
        table[j] = np.log((bought + smoothing * prior) / (count + smoothing))
    return table


def calibrate_ranks(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``x`` with each source's reciprocal-rank column replaced by its calibrated log rate."""
    out = np.array(x, np.float64)
    for j in range(len(SOURCE_NAMES)):
        out[:, j] = table[j][_rank_buckets(out[:, j])]
    return out


#: A fitted learned blend: linear, trees or both (each ``score``, ``contributions``,
#: ``to_json``).
Ranker = LogisticRanker | TreeRanker | EnsembleRanker


def ranker_from_json(data: dict) -> Ranker:
    """The model of either ranker's ``to_json`` dict.

    Raises:
        ValueError: it was trained on other features than this version's.
    """
    if data.get("kind") == "trees":
        return TreeRanker.from_json(data)
    if data.get("kind") == "ensemble":
        return EnsembleRanker.from_json(data, ranker_from_json)
    return LogisticRanker.from_json(data)


def fit_ranker(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    *,
    objective: str = OBJECTIVE,
    calibrate: bool = CALIBRATE,
    normalise: bool = NORMALISE,
    l2: float = 1.0,
    seed: int = 0,
) -> Ranker:
    """The learned blend's model of training examples (see :func:`training_examples`).

    Args:
        x, y, groups: features, 0/1 labels, the shopper of each example.
        objective: a linear model: "pointwise" (:func:`fit_logistic`), "pairwise"
            (:func:`fit_pairwise`) or "listwise" (:func:`fit_listwise`; each shopper weighs
            by their purchases); "trees" (:func:`~lookalike.personal_trees.fit_trees`:
            LightGBM, logistic loss); or "listwise+trees" (the default: both, their
            per-shopper z-scores summed; the listwise score alone under
            :data:`ENSEMBLE_MIN_POSITIVES` bought candidates).
        calibrate: (linear only) replace the rank columns by per-source calibrated log
            rates first.
        normalise: (linear only) each shopper weighs the same (pointwise: 1 / their
            candidates; pairwise: 1 / their pairs) instead of each example or pair.
        l2: (linear only) the penalty.
        seed: pair sampling; the trees' seed.

    Raises:
        ValueError: an unknown objective, or calibrate / normalise with "trees" or
            "listwise+trees".
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}: one of {', '.join(OBJECTIVES)}")
    if objective in ("trees", "listwise+trees") and (calibrate or normalise):
        raise ValueError("calibrate and normalise apply to the linear objectives only")
    if objective == "trees":
        return fit_trees(x, y, groups, seed=seed)
    if objective == "listwise+trees":
        linear = fit_listwise(x, y, groups, l2=l2)
        if y.sum() < ENSEMBLE_MIN_POSITIVES:
            return linear
        trees = fit_trees(x, y, groups, seed=seed)
        return EnsembleRanker([linear, trees], linear.examples, linear.positives)
    table = fit_rank_calibration(x, y) if calibrate else None
    z = calibrate_ranks(x, table) if table is not None else x
    if objective == "pairwise":
        ranker = fit_pairwise(z, y, groups, l2=l2, normalise=normalise, seed=seed)
    elif objective == "listwise":
        ranker = fit_listwise(z, y, groups, l2=l2)
    else:
        weights = None
        if normalise:
            _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
            weights = len(y) / len(counts) / counts[inverse]
        ranker = fit_logistic(z, y, l2=l2, weights=weights)
    ranker.calibration = table
    return ranker
