"""lookalike.personal_eval: simulated shoppers, personalised methods vs best-sellers."""

from __future__ import annotations

import pytest

import lookalike
from lookalike.personal_eval import SimulatorConfig, run_methods, simulate_shoppers


@pytest.fixture(scope="module")
def rec(tiny_bundle):
    return lookalike.load(tiny_bundle)


def test_simulator_is_deterministic_and_personal_methods_beat_best_sellers(rec):
    config = SimulatorConfig(shoppers=40, likes=6, min_taste_items=2, seed=3)
    a, _ = simulate_shoppers(rec.items.metadata, config)
    b, _ = simulate_shoppers(rec.items.metadata, config)
    assert [s.hidden for s in a] == [s.hidden for s in b]
    assert all(not set(s.hidden) & set(s.visible) for s in a)
    results = run_methods(rec, a)
    assert set(results) >= {"most popular (best-sellers)", "profile fusion (RRF)"}
    for metrics in results.values():
        assert 0.0 <= metrics["hit_rate@10"] <= 1.0
