"""The learned blend's gradient-boosted trees (LightGBM): a nonlinear score over candidate
features, the alternative to the linear models of :mod:`lookalike.personal_fit`.

A linear score adds its features; the purchases it ranks depend on products of them (a new
article is likely when it is in the shopper's own segment *and* fresh *and* the segment
sells now). Trees find such interactions themselves. :class:`TreeRanker` keeps LightGBM's
own text model inside its JSON (:meth:`TreeRanker.to_json`: no pickle), and explains a
pick by each feature's contribution to its score (LightGBM's SHAP values), which is what
the reason phrase of :func:`~lookalike.personal_ranker.learned_picks` needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lookalike.personal_candidates import FEATURES, saved_features

#: The trees' defaults (issue 29, docs/personalisation.md): on the simulator's markets the
#: logistic loss ("binary") scored as rank_xendcg and above lambdarank by MAP@12.
TREE_OBJECTIVE = "binary"
TREE_ROUNDS = 300
TREE_LEAVES = 15
TREE_LEARNING_RATE = 0.03
#: Examples a leaf needs at least: ~0.3% of the candidates are bought, so a leaf of 100
#: holds a purchase or two on average and cannot memorise one shopper.
TREE_MIN_LEAF = 100


def _lightgbm() -> Any:
    try:
        import lightgbm
    except ImportError as error:  # an optional extra (pip install 'lookalike[trees]')
        raise RuntimeError(
            "the tree ranker needs LightGBM: pip install lightgbm (or use a linear objective, "
            "e.g. listwise)"
        ) from error
    return lightgbm


@dataclass
class TreeRanker:
    """Fitted LightGBM trees over :data:`~lookalike.personal_candidates.FEATURES`.

    Attributes:
        features: the feature names, in column order.
        model: LightGBM's text model (``Booster.model_to_string``).
        examples, positives, customers: what it was trained on.
        objective: the LightGBM objective it was fitted with.
    """

    features: tuple[str, ...]
    model: str
    examples: int = 0
    positives: int = 0
    customers: int = 0
    objective: str = TREE_OBJECTIVE
    _booster: Any = field(default=None, repr=False, compare=False)

    def booster(self) -> Any:
        """The LightGBM booster (parsed from :attr:`model` once)."""
        if self._booster is None:
            self._booster = _lightgbm().Booster(model_str=self.model)
        return self._booster

    def score(self, x: np.ndarray) -> np.ndarray:
        """The raw score (log-odds for "binary") of each row of features ``x``; one thread, so
        that no OpenMP pool spins beside a query (see :mod:`lookalike.threads`)."""
        x = np.asarray(x, np.float64)
        if len(x) == 0:
            return np.zeros(0)
        return self.booster().predict(x, raw_score=True, num_threads=1)

    def contributions(self, x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Each feature's additive share of the :meth:`score` of each row of ``x`` (of
        ``x[rows]`` when given; SHAP values, ~0.5 ms a row), shape (rows, len(features));
        what is left (the expected score) is dropped."""
        x = np.asarray(x if rows is None else np.asarray(x)[rows], np.float64)
        if len(x) == 0:
            return np.zeros((0, len(self.features)))
        out = self.booster().predict(x, pred_contrib=True, num_threads=1)
        return np.asarray(out)[:, : len(self.features)]

    def to_json(self) -> dict:
        """A JSON-able dict (:meth:`from_json` reads it back)."""
        return {
            "kind": "trees",
            "features": list(self.features),
            "model": self.model,
            "examples": self.examples,
            "positives": self.positives,
            "customers": self.customers,
            "objective": self.objective,
        }

    @classmethod
    def from_json(cls, data: dict) -> TreeRanker:
        """The model of a :meth:`to_json` dict.

        Raises:
            ValueError: its features are not this version's :data:`FEATURES`.
        """
        return cls(
            saved_features(data),
            str(data["model"]),
            int(data.get("examples", 0)),
            int(data.get("positives", 0)),
            int(data.get("customers", 0)),
            str(data.get("objective", TREE_OBJECTIVE)),
        )


def fit_trees(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray | None = None,
    *,
    objective: str = TREE_OBJECTIVE,
    rounds: int = TREE_ROUNDS,
    leaves: int = TREE_LEAVES,
    learning_rate: float = TREE_LEARNING_RATE,
    min_leaf: int = TREE_MIN_LEAF,
    seed: int = 0,
    threads: int = 0,
) -> TreeRanker:
    """Fit boosted trees on training examples (see
    :func:`~lookalike.personal_ranker.training_examples`).

    Args:
        x, y: features (n, len(FEATURES)) and 0/1 labels.
        groups: the shopper of each example, in contiguous runs (needed by the ranking
            objectives "lambdarank" and "rank_xendcg"; ignored by "binary").
        objective: a LightGBM objective: "binary", "lambdarank" or "rank_xendcg".
        rounds, leaves, learning_rate, min_leaf: the trees (boosting rounds, leaves per
            tree, shrinkage, examples per leaf at least).
        seed: LightGBM's seed (the fit is deterministic for a seed).
        threads: LightGBM's threads (0: OpenMP's default).

    Raises:
        ValueError: an unknown objective, or a ranking objective without ``groups``.
    """
    if objective not in ("binary", "lambdarank", "rank_xendcg"):
        raise ValueError(f"unknown tree objective {objective!r}: binary, lambdarank or rank_xendcg")
    lgb = _lightgbm()
    x = np.asarray(x, np.float64)
    y = np.asarray(y)
    params = {
        "objective": objective,
        "num_leaves": leaves,
        "learning_rate": learning_rate,
        "min_data_in_leaf": min_leaf,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": threads,
        "verbose": -1,
    }
    group_sizes = None
    if objective != "binary":
        if groups is None:
            raise ValueError(f"the objective {objective!r} needs each example's shopper")
        starts = np.flatnonzero(np.r_[True, np.asarray(groups)[1:] != np.asarray(groups)[:-1]])
        group_sizes = np.diff(np.r_[starts, len(y)])
        params["eval_at"] = [12]
    data = lgb.Dataset(x, (y > 0).astype(np.int32), group=group_sizes, free_raw_data=True)
    booster = lgb.train(params, data, num_boost_round=rounds)
    return TreeRanker(
        FEATURES,
        booster.model_to_string(),
        examples=len(y),
        positives=int((y > 0).sum()),
        objective=objective,
        _booster=booster,
    )
