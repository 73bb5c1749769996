"""The learned blend's boosted trees: fit, score, contributions, JSON, the objectives."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from lookalike.personal_candidates import FEATURES
from lookalike.personal_ensemble import EnsembleRanker
from lookalike.personal_fit import (
    ENSEMBLE_MIN_POSITIVES,
    LogisticRanker,
    fit_ranker,
    ranker_from_json,
)
from lookalike.personal_trees import TreeRanker, fit_trees
from tests.tolerances import approx

pytest.importorskip("lightgbm")  # a dependency; requirements.txt pins it


def _examples(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels that depend on an interaction a linear score cannot express."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURES)))
    logit = 2.5 * ((x[:, 0] > 0) & (x[:, 1] > 0)) - 1.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return x, y


def _auc(scores: np.ndarray, y: np.ndarray) -> float:
    pos, neg = scores[y > 0], scores[y == 0]
    ties = (pos[:, None] == neg[None, :]).mean()
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * ties)


def test_trees_learn_an_interaction_deterministically_and_round_trip_as_json():
    x, y = _examples()
    test_x, test_y = _examples(seed=1)
    ranker = fit_trees(x, y, rounds=60, leaves=7, learning_rate=0.1, min_leaf=20)
    assert ranker.examples == len(y) and ranker.positives == int(y.sum())
    # near the true rule's AUC (0.731 on these rows), above a linear score's (0.697)
    truth = ((test_x[:, 0] > 0) & (test_x[:, 1] > 0)).astype(float)
    linear = fit_ranker(x, y, np.arange(len(y)), objective="pointwise")
    assert _auc(ranker.score(test_x), test_y) > _auc(truth, test_y) - 0.02
    assert _auc(ranker.score(test_x), test_y) > _auc(linear.score(test_x), test_y) + 0.015
    again = fit_trees(x, y, rounds=60, leaves=7, learning_rate=0.1, min_leaf=20)
    assert again.score(test_x[:50]) == approx(ranker.score(test_x[:50]))
    loaded = ranker_from_json(json.loads(json.dumps(ranker.to_json())))
    assert isinstance(loaded, TreeRanker)
    assert loaded.score(test_x[:50]) == approx(ranker.score(test_x[:50]))
    with pytest.raises(ValueError, match="other features"):
        TreeRanker.from_json({**ranker.to_json(), "features": ["a"]})
    nothing = ranker.score(np.zeros((0, len(FEATURES))))
    assert nothing.shape == (0,)


def test_contributions_add_up_to_the_score_and_name_the_features_used():
    x, y = _examples()
    ranker = fit_trees(x, y, rounds=40, leaves=7, learning_rate=0.1, min_leaf=20)
    parts = ranker.contributions(x[:100])
    assert parts.shape == (100, len(FEATURES))
    offset = ranker.score(x[:100]) - parts.sum(axis=1)  # the expected score, one constant
    assert offset == approx(np.full(100, offset[0]), abs=1e-6)
    used = np.abs(parts).mean(axis=0)
    assert used[:2].min() > 5 * used[2:].max()  # only features 0 and 1 carry the label


def test_ranking_objectives_learn_the_order_within_each_shopper():
    rng = np.random.default_rng(3)
    shoppers, per = 300, 20
    x = rng.normal(size=(shoppers * per, len(FEATURES)))
    groups = np.repeat(np.arange(shoppers), per)
    y = np.zeros(len(x))
    best = (x[:, 0] + 0.3 * rng.normal(size=len(x))).reshape(shoppers, per).argmax(axis=1)
    y[np.arange(shoppers) * per + best] = 1
    for objective in ("lambdarank", "rank_xendcg"):
        ranker = fit_trees(
            x, y, groups, objective=objective, rounds=40, leaves=7, learning_rate=0.1, min_leaf=20
        )
        assert ranker.objective == objective
        assert np.corrcoef(ranker.score(x), x[:, 0])[0, 1] > 0.6
    with pytest.raises(ValueError, match="needs each example's shopper"):
        fit_trees(x, y, objective="lambdarank")
    with pytest.raises(ValueError, match="unknown tree objective"):
        fit_trees(x, y, objective="huber")


def test_fit_ranker_fits_listwise_and_trees_by_default_and_either_on_request():
    x, y = _examples(2000)
    groups = np.repeat(np.arange(200), 10)
    assert isinstance(fit_ranker(x, y, groups, objective="trees"), TreeRanker)
    both = fit_ranker(x, y, groups)
    assert isinstance(both, EnsembleRanker) and both.objective == "listwise+trees"
    assert [type(m) for m in both.members] == [LogisticRanker, TreeRanker]
    assert both.members[0].objective == "listwise" and both.positives == int(y.sum())
    assert isinstance(ranker_from_json(both.to_json()), EnsembleRanker)
    # too few bought candidates for trees: the listwise score alone
    few = np.where(np.cumsum(y) <= ENSEMBLE_MIN_POSITIVES - 1, y, 0.0)
    alone = fit_ranker(x, few, groups)
    assert isinstance(alone, LogisticRanker) and alone.objective == "listwise"
    linear = fit_ranker(x, y, groups, objective="listwise")
    assert isinstance(ranker_from_json(linear.to_json()), LogisticRanker)
    parts = linear.contributions(x[:10])
    assert parts.sum(axis=1) + linear.bias == approx(linear.score(x[:10]))
    assert linear.contributions(x, np.arange(10)) == approx(parts)
    with pytest.raises(ValueError, match="linear objectives only"):
        fit_ranker(x, y, groups, objective="trees", calibrate=True)
    with pytest.raises(ValueError, match="linear objectives only"):
        fit_ranker(x, y, groups, objective="listwise+trees", normalise=True)
    with pytest.raises(ValueError, match="unknown objective"):
        fit_ranker(x, y, groups, objective="forest")


def test_without_lightgbm_the_trees_say_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # import lightgbm now fails
    with pytest.raises(RuntimeError, match="pip install lightgbm"):
        fit_trees(np.zeros((10, len(FEATURES))), np.zeros(10))
