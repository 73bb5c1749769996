"""The learned blend: the logistic fit, training on time splits, the picks and the fallback."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lookalike.events import SECONDS_PER_DAY, log_from_arrays
from lookalike.personal_candidates import FEATURES, SourceContext
from lookalike.personal_ranker import (
    LogisticRanker,
    fit_logistic,
    fixed_blend,
    learned_picks,
    train_ranker,
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


def test_train_ranker_learns_on_a_simulated_log_and_picks_with_reasons():
    log, cutoff, options = _simulated()
    ranker = train_ranker(log, cutoff, WINDOW, windows=2, min_positives=10, **options)
    assert ranker is not None and ranker.positives >= 10 and ranker.customers > 0
    assert ranker.weights.shape == (len(FEATURES),)
    context = SourceContext.build(log, cutoff, **options)
    user = int(np.argmax(np.diff(context.history.indptr)))
    picks = learned_picks(context, user, ranker, 12)
    assert len(picks.rows) == 12 and len(set(picks.rows.tolist())) == 12
    assert all(picks.reasons) and (np.diff(picks.scores) <= 1e-12).all()


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
