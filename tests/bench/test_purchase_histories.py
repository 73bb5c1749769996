"""bench/purchase_histories.py's pooling of several simulated markets: every metric is a
mean over customers, so the pooled one is the customer-weighted mean of the markets'."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from tests.tolerances import approx

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(name: str):
    """A bench script as a module (bench/ is a folder of scripts, not a package)."""
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"lookalike_bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _evaluation(customers: int, short: int, map12: float, hr: float, share: float) -> dict:
    def metrics(n: int, scale: float) -> dict:
        return {"map@12": map12 * scale, "hr@12": hr * scale, "recall@12": hr / 2, "customers": n}

    return {
        "customers": customers,
        "short": short,
        "long": customers - short,
        "new_item_share": share,
        "results": {
            "buy again": {
                "all": metrics(customers, 1.0),
                "short": metrics(short, 0.5),
                "long": metrics(customers - short, 1.0),
            }
        },
    }


def test_pooled_evaluation_weighs_each_market_by_its_customers():
    bench = load("purchase_histories")
    pooled = bench.pool_evaluations(
        [_evaluation(100, 0, 0.01, 0.1, 0.6), _evaluation(300, 30, 0.03, 0.2, 0.7)]
    )
    assert (pooled["customers"], pooled["short"], pooled["long"]) == (400, 30, 370)
    assert pooled["new_item_share"] == approx(0.65)
    everyone = pooled["results"]["buy again"]["all"]
    assert everyone["customers"] == 400
    assert everyone["map@12"] == approx((100 * 0.01 + 300 * 0.03) / 400)
    assert everyone["hr@12"] == approx((100 * 0.1 + 300 * 0.2) / 400)
    # a market with no short history adds nothing to the short group (its metric is nan)
    short = pooled["results"]["buy again"]["short"]
    assert short["customers"] == 30 and short["map@12"] == approx(0.015)


def test_pooled_facts_add_counts_and_weigh_the_baselines_by_window_customers():
    bench = load("purchase_histories")
    facts = [
        {"purchases": 100, "customers": 10, "window_customers": 2, "window_purchases": 5,
         "median_purchases": 8.0, "window_articles": 4, "new_article_share": 0.5,
         "best_sellers": (0.01, 0.1), "buy_again": (0.02, 0.2)},
        {"purchases": 300, "customers": 10, "window_customers": 6, "window_purchases": 9,
         "median_purchases": 10.0, "window_articles": 8, "new_article_share": 0.7,
         "best_sellers": (0.03, 0.3), "buy_again": (0.0, 0.0)},
    ]  # fmt: skip
    pooled = bench.pool_facts(facts)
    assert pooled["purchases"] == 400 and pooled["window_customers"] == 8
    assert pooled["median_purchases"] == approx(9.0)
    assert pooled["new_article_share"] == approx(0.6)
    assert pooled["best_sellers"] == approx((0.025, 0.25))
    assert pooled["buy_again"] == approx((0.005, 0.05))


def test_set_overrides_simulator_parameters_and_refuses_unknown_ones():
    import argparse

    import pytest

    bench = load("purchase_histories")
    args = argparse.Namespace(customers=50, set=["popularity_skew=0.2", "mean_basket=3"])
    config = bench.simulator_config(args, seed=7)
    assert config.popularity_skew == approx(0.2) and config.mean_basket == approx(3.0)
    assert config.customers == 50 and config.seed == 7 and isinstance(config.days, int)
    for bad in (["warp=1"], ["seed=3"], ["popularity_skew"]):
        with pytest.raises(SystemExit, match="KEY=VALUE"):
            bench.simulator_config(argparse.Namespace(customers=50, set=bad), seed=7)
