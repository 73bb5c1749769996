"""The learned blend: the logistic fit, training on time splits, the picks and the fallback."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lookalike import personal_fit
from lookalike.events import SECONDS_PER_DAY, log_from_arrays
from lookalike.personal_candidates import FEATURES, SOURCE_NAMES, SourceContext
from lookalike.personal_fit import (
    RANK_EDGES,
    calibrate_ranks,
    candidate_pairs,
    fit_listwise,
    fit_pairwise,
    fit_rank_calibration,
    fit_ranker,
)
from lookalike.personal_ranker import (
    EnsembleRanker,
    LogisticRanker,
    TreeRanker,
    fit_logistic,
    fixed_blend,
    learned_picks,
    train_ranker,
    training_examples,
)
from lookalike.personal_sources import embedding_search
from lookalike.purchase_simulator import PurchaseSimulatorConfig, simulate_purchases
from tests.tolerances import approx

METADATA = [
    {"ProductType": kind, "Colour": colour}
    for kind in ("Tops", "Jeans", "Shoes", "Dresses")
    for colour in ("Black", "White", "Red")
    for _ in range(10)
]
WINDOW = 28 * SECONDS_PER_DAY


def _random_features(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURES)))
    logit = 2.0 * x[:, 0] - 1.0 * x[:, 1] - 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return x, y


def test_fit_logistic_recovers_the_signs_and_round_trips_as_json():
    x, y = _random_features(4000)
    ranker = fit_logistic(x, y, l2=1.0)
    assert ranker.weights[0] > 0.5 and ranker.weights[1] < -0.3
    assert np.abs(ranker.weights[2:]).max() < 0.3
    again = LogisticRanker.from_json(json.loads(json.dumps(ranker.to_json())))
    assert again.score(x[:5]) == approx(ranker.score(x[:5]))
    with pytest.raises(ValueError, match="other features"):
        LogisticRanker.from_json({**ranker.to_json(), "features": ["a"]})


def test_weighted_logistic_equals_duplicated_examples():
    x, y = _random_features(600, seed=3)
    weights = np.where(np.arange(600) % 3 == 0, 2.0, 1.0)
    twice = np.arange(600) % 3 == 0
    weighted = fit_logistic(x, y, weights=weights)
    duplicated = fit_logistic(np.vstack([x, x[twice]]), np.concatenate([y, y[twice]]))
    # the standardisation differs (it is unweighted), the scores must not
    assert weighted.score(x[:20]) == approx(duplicated.score(x[:20]), rel=1e-2, abs=1e-2)
    assert not np.allclose(weighted.score(x[:20]), fit_logistic(x, y).score(x[:20]), atol=1e-3)


def _grouped_features(groups: int = 300, per: int = 20, seed: int = 0):
    """Within a shopper, feature 0 decides what is bought; feature 1 is the same for all of a
    shopper's candidates and says how many they buy (a pointwise model uses it)."""
    rng = np.random.default_rng(seed)
    n = groups * per
    group = np.repeat(np.arange(groups), per)
    x = rng.normal(size=(n, len(FEATURES)))
    busy = rng.normal(size=groups)
    x[:, 1] = busy[group]
    logit = 2.0 * x[:, 0] + 1.5 * x[:, 1] - 3.0
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return x, y, group


def test_candidate_pairs_stay_within_a_shopper_and_normalise_per_shopper():
    x, y, group = _grouped_features(groups=40)
    pos, neg, w = candidate_pairs(y, group, max_negatives=5, seed=1)
    assert len(pos) and (y[pos] == 1).all() and (y[neg] == 0).all()
    assert (group[pos] == group[neg]).all()
    for g in np.unique(group[pos]):
        mine = group[pos] == g
        assert len(np.unique(neg[mine])) <= 5
        # every shopper's pairs weigh the same in all
        assert w[mine].sum() == approx(len(w) / len(np.unique(group[pos])))
    _, _, flat = candidate_pairs(y, group, max_negatives=5, seed=1, normalise=False)
    assert flat == approx(np.ones(len(flat)))


def test_pairwise_learns_the_order_within_a_shopper_only():
    x, y, group = _grouped_features()
    pairwise = fit_pairwise(x, y, group, l2=1.0)
    pointwise = fit_logistic(x, y)
    assert pairwise.objective == "pairwise" and pairwise.bias == approx(0.0)
    assert pairwise.weights[0] > 0.5
    # constant within every shopper: no pair tells it apart, so it gets no weight
    assert abs(pairwise.weights[1]) < 1e-6 and pointwise.weights[1] > 0.3
    again = LogisticRanker.from_json(json.loads(json.dumps(pairwise.to_json())))
    assert again.objective == "pairwise" and again.score(x[:5]) == approx(pairwise.score(x[:5]))


def test_listwise_learns_the_order_within_a_shopper_whatever_the_row_order():
    x, y, group = _grouped_features(seed=2)
    listwise = fit_listwise(x, y, group)
    assert listwise.objective == "listwise" and listwise.weights[0] > 0.5
    assert abs(listwise.weights[1]) < 1e-6  # constant within every shopper
    shuffled = np.random.default_rng(0).permutation(len(y))
    again = fit_listwise(x[shuffled], y[shuffled], group[shuffled])
    assert again.weights == approx(listwise.weights, rel=1e-4, abs=1e-6)
    via_fit = fit_ranker(x, y, group, objective="listwise")
    assert via_fit.weights == approx(listwise.weights)


def test_rank_calibration_turns_each_sources_rank_into_its_purchase_rate():
    rng = np.random.default_rng(0)
    n = 20000
    x = np.zeros((n, len(FEATURES)))
    rank = rng.integers(1, 60, n)
    present = rng.random(n) < 0.7
    x[:, 0] = np.where(present, 1.0 / rank, 0.0)  # source 0: rank matters
    x[:, 1] = 1.0 / rng.integers(1, 60, n)  # source 1: rank says nothing
    rate = np.where(present & (rank <= 3), 0.3, 0.02)
    y = (rng.random(n) < rate).astype(float)
    table = fit_rank_calibration(x, y)
    assert table.shape == (len(SOURCE_NAMES), len(RANK_EDGES) + 1)
    assert np.exp(table[0, 0]) == approx(0.3, rel=0.15)  # rank 1
    assert np.exp(table[0, -1]) == approx(0.02, rel=0.3)  # absent from the source
    assert np.exp(table[0, 4]) == approx(0.02, rel=0.4)  # ranks 7-12
    assert np.ptp(table[1, :-1]) < np.ptp(table[0]) / 2  # uninformative ranks: flatter
    probe = np.zeros((4, len(FEATURES)))
    probe[:, 0] = [1.0, 1 / 5, 0.0, 1 / 55]  # ranks 1, 5 (4-6), absent, 55 (beyond 50)
    probe[:, -1] = 7.0
    calibrated = calibrate_ranks(probe, table)
    assert calibrated[:, 0] == approx(table[0, [0, 3, 8, 7]])
    assert calibrated[:, 1] == approx(np.full(4, table[1, -1]))  # absent from source 1
    assert calibrated[:, len(SOURCE_NAMES) :] == approx(probe[:, len(SOURCE_NAMES) :])
    ranker = fit_ranker(x, y, np.arange(n) // 20, objective="pointwise", calibrate=True)
    again = LogisticRanker.from_json(json.loads(json.dumps(ranker.to_json())))
    assert again.calibration == approx(table)
    assert again.score(x[:7]) == approx(ranker.score(x[:7]))
    with pytest.raises(ValueError, match="objective"):
        fit_ranker(x, y, np.arange(n) // 20, objective="lambdarank")


def _simulated():
    config = PurchaseSimulatorConfig(customers=300, days=240, seed=1)
    bought = simulate_purchases(METADATA, config)
    log = log_from_arrays(
        bought.users,
        len(METADATA),
        bought.user_rows,
        bought.items,
        np.full(len(bought.items), 4),
        bought.times,
    )
    cutoff = int(bought.times.min()) + (config.days - 28) * SECONDS_PER_DAY
    rng = np.random.default_rng(0)
    kinds = sorted({m["ProductType"] for m in METADATA})
    embeddings = np.array(
        [[kinds.index(m["ProductType"]) * 3.0, rng.normal()] for m in METADATA], np.float32
    )
    options = {
        "search": embedding_search(embeddings),
        "segments": np.array([m["ProductType"] for m in METADATA]),
        "embeddings": embeddings,
    }
    return log, cutoff, options


@pytest.mark.parametrize(
    "objective, kind",
    [("listwise", LogisticRanker), ("trees", TreeRanker), (None, EnsembleRanker)],
)
def test_train_ranker_learns_on_a_simulated_log_and_picks_with_reasons(objective, kind):
    if kind is not LogisticRanker:
        pytest.importorskip("lightgbm")
    log, cutoff, options = _simulated()
    chosen = {"objective": objective} if objective else {}  # None: the default
    ranker = train_ranker(log, cutoff, WINDOW, windows=2, min_positives=10, **chosen, **options)
    assert ranker is not None and ranker.positives >= 10 and ranker.customers > 0
    assert ranker.features == FEATURES
    assert isinstance(ranker, kind)
    if objective is None:  # enough bought candidates for the trees beside the listwise score
        assert ranker.positives >= personal_fit.ENSEMBLE_MIN_POSITIVES
    context = SourceContext.build(log, cutoff, **options)
    user = int(np.argmax(np.diff(context.history.indptr)))
    picks = learned_picks(context, user, ranker, 12)
    assert len(picks.rows) == 12 and len(set(picks.rows.tolist())) == 12
    assert all(picks.reasons) and (np.diff(picks.scores) <= 1e-12).all()


def test_training_examples_and_a_pairwise_calibrated_ranker():
    log, cutoff, options = _simulated()
    examples = training_examples(log, cutoff, WINDOW, windows=2, **options)
    assert examples.x.shape == (len(examples.y), len(FEATURES))
    assert len(examples.groups) == len(examples.y) and examples.y.sum() >= 10
    # each group is one shopper of one window: a label window never leaks into its features
    assert len(np.unique(examples.groups)) >= examples.customers
    ranker = train_ranker(
        log, cutoff, WINDOW, windows=2, min_positives=10, objective="pairwise", calibrate=True,
        **options,
    )  # fmt: skip
    assert ranker is not None and ranker.objective == "pairwise"
    assert ranker.calibration is not None
    context = SourceContext.build(log, cutoff, **options)
    user = int(np.argmax(np.diff(context.history.indptr)))
    picks = learned_picks(context, user, ranker, 12)
    assert len(picks.rows) == 12 and all(picks.reasons)
    # the model ranks its own training shoppers' bought candidates above the others
    scores = ranker.score(examples.x)
    bought, other = scores[examples.y > 0].mean(), scores[examples.y == 0].mean()
    assert bought > other


def test_a_small_log_falls_back_to_the_fixed_blend():
    log, cutoff, options = _simulated()
    assert train_ranker(log, cutoff, WINDOW, min_positives=10**6, **options) is None
    no_time = log_from_arrays(
        ["a"], 4, np.zeros(1, int), np.ones(1, int), np.full(1, 4), np.zeros(1, int), has_time=False
    )
    assert train_ranker(no_time, 10, WINDOW) is None
    context = SourceContext.build(log, cutoff, **options)
    fixed = learned_picks(context, 0, None, 12)
    expected = fixed_blend(context.sources(0, 50), 12)
    assert fixed.rows.tolist() == expected.rows.tolist()
