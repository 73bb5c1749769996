"""Simulated purchase histories (lookalike/purchase_simulator.py) over a bundle's catalog.

Without ``--variants`` the log's items are the bundle's, for
``lookalike evaluate-personal --bundle DIR --interactions LOG --cutoff DATE``:

    .venv/bin/python bench/purchase_histories.py --bundle bundles/demo-hybrid --out log.csv

With ``--variants 6`` each photo stands for a product family of 6 articles (the real log's
17,033 articles, :func:`~lookalike.purchase_simulator.variant_catalog`), whose ids the bundle
does not know, so ``--evaluate`` scores every method here through the same
:func:`~lookalike.personal_time.evaluate_on_time` over the variants' embeddings:

    .venv/bin/python bench/purchase_histories.py --bundle bundles/demo-hybrid --variants 6 \\
        --evaluate --seeds 0 1 2 --markets 10 --jobs 2 --out sim-variants.json

``--facts`` only simulates and prints the facts (pooled over ``--markets``), e.g. to see what
a parameter does: ``--facts --markets 6 --set freshness_half_life_days=60``.

A market is one simulated log of ``--customers`` (the real log's 1,364) over the catalog;
``--markets M`` simulates M independent ones per seed (simulator seeds ``seed + 1000 m``,
market 0 being the seed itself), each evaluated on its own (its own history, its own learned
blend), and pools their scored customers: ~220 buy in a market's window, too few to tell
methods apart, while a market 10 times larger would change the facts that depend on how
sparse purchases per article are (new arrivals, best-sellers).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from lookalike.cli import parse_options
from lookalike.events import log_from_arrays
from lookalike.personal_sources import embedding_search
from lookalike.personal_time import evaluate_on_time, format_time_table
from lookalike.purchase_simulator import (
    START,
    PurchaseSimulatorConfig,
    cutoff_day,
    simulate_purchases,
    simulator_facts,
    variant_catalog,
    write_purchases_csv,
)
from lookalike.recommend import Recommender

WINDOW_DAYS = 28
#: Market m of seed s is simulated with seed s + MARKET_SEED_STEP * m.
MARKET_SEED_STEP = 1000


def market_log(purchases, n_items: int):
    """The purchases as an :class:`~lookalike.events.EventLog`."""
    return log_from_arrays(
        purchases.users,
        n_items,
        purchases.user_rows,
        purchases.items,
        np.full(len(purchases.items), 4, np.int8),  # EVENT_NAMES[4] == "purchase"
        purchases.times,
    )


def search_options(catalog: tuple) -> dict:
    """The visual and segment options every evaluation of ``catalog`` takes."""
    embeddings, metadata, _, _ = catalog
    return {
        "search": embedding_search(embeddings),
        "titles": [m.get("ProductTitle", "") for m in metadata],
        "segments": np.array([m.get("ProductType", "") for m in metadata]),
        "embeddings": embeddings,
        "colours": np.array([m.get("Colour", "") for m in metadata]),
    }


def pool_evaluations(evaluations: list[dict]) -> dict:
    """Several markets' :func:`evaluate_on_time` results as one: every metric is a mean over
    customers, so the pooled one is the customer-weighted mean of the markets'."""
    pooled = {key: sum(e[key] for e in evaluations) for key in ("customers", "short", "long")}
    pooled["new_item_share"] = float(np.mean([e["new_item_share"] for e in evaluations]))
    if all("pool_coverage" in e for e in evaluations):
        coverage = {
            key: sum(e["pool_coverage"][key] for e in evaluations)
            for key in ("purchases", "in_pool", "new_purchases", "new_in_pool")
        }
        coverage["pool_size"] = float(
            np.mean([e["pool_coverage"]["pool_size"] for e in evaluations])
        )
        pooled["pool_coverage"] = coverage
    results: dict = {}
    for name in evaluations[0]["results"]:
        results[name] = {}
        for group in evaluations[0]["results"][name]:
            parts = [e["results"][name][group] for e in evaluations]
            n = np.array([p["customers"] for p in parts], np.float64)
            metrics = {"customers": int(n.sum())}
            for metric in ("map@12", "hr@12", "recall@12"):
                values = np.array([p[metric] if c else 0.0 for p, c in zip(parts, n, strict=True)])
                metrics[metric] = float(values @ n / n.sum()) if n.sum() else float("nan")
            results[name][group] = metrics
    pooled["results"] = results
    return pooled


def pool_facts(facts: list[dict]) -> dict:
    """Several markets' :func:`simulator_facts`: totals of the counts, means of the rest."""
    totals = ("purchases", "customers", "window_customers", "window_purchases")
    out = {key: int(sum(f[key] for f in facts)) for key in totals}
    for key in ("median_purchases", "window_articles", "new_article_share"):
        out[key] = float(np.mean([f[key] for f in facts]))
    for key in ("best_sellers", "buy_again"):  # customer-weighted, as the pooled table
        n = np.array([f["window_customers"] for f in facts], np.float64)
        out[key] = tuple(float(np.array([f[key][i] for f in facts]) @ n / n.sum()) for i in (0, 1))
    return out


def simulator_config(args: argparse.Namespace, seed: int) -> PurchaseSimulatorConfig:
    """The simulator's parameters: the defaults, ``--customers`` and every ``--set``."""
    fields = sorted(f.name for f in dataclasses.fields(PurchaseSimulatorConfig))
    for setting in args.set:
        key, _, value = setting.partition("=")
        if key not in fields or key in ("seed", "customers") or not value:
            raise SystemExit(f"--set {setting!r}: expected KEY=VALUE, KEY one of {fields}")
    overrides = parse_options(args.set)  # the CLI's --set: numbers as numbers
    return PurchaseSimulatorConfig(customers=args.customers, seed=seed, **overrides)


def run_market(seed: int, catalog: tuple, args: argparse.Namespace) -> dict:
    """Simulate one market; its facts, and every method's scores with ``--evaluate``."""
    ids = catalog[2]
    config = simulator_config(args, seed)
    purchases = simulate_purchases(catalog[1], config)
    cutoff = START + (config.days - WINDOW_DAYS) * 86_400
    facts = simulator_facts(purchases, len(ids), cutoff, WINDOW_DAYS)
    result = {"seed": seed, "config": asdict(config), "cutoff": cutoff_day(config), "facts": facts}
    print(f"market seed {seed}: {facts}", flush=True)
    if args.log:
        write_purchases_csv(args.log.with_suffix(f".s{seed}.csv"), purchases, ids)
    if args.evaluate:
        started = time.perf_counter()
        result["evaluation"] = evaluate_on_time(
            market_log(purchases, len(ids)),
            cutoff,
            WINDOW_DAYS * 86_400,
            **search_options(catalog),
        )
        result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def pool_seed(seed: int, markets: list[dict], seconds: float) -> dict:
    """One seed's markets, pooled."""
    result = {
        "seed": seed,
        "markets": markets,
        "facts": pool_facts([m["facts"] for m in markets]),
        "seconds": round(seconds, 1),
    }
    print(f"seed {seed}, {len(markets)} markets: {result['facts']}", flush=True)
    if "evaluation" in markets[0]:
        result["evaluation"] = pool_evaluations([m["evaluation"] for m in markets])
        print(format_time_table(result["evaluation"]), flush=True)
        c = result["evaluation"].get("pool_coverage")
        if c:
            print(
                f"pool coverage: {c['in_pool']} / {c['purchases']} = "
                f"{c['in_pool'] / c['purchases']:.3f}; new articles {c['new_in_pool']} / "
                f"{c['new_purchases']} = {c['new_in_pool'] / max(c['new_purchases'], 1):.3f}; "
                f"mean pool {c['pool_size']:.0f}",
                flush=True,
            )
    return result


_SHARED: list = []  # (catalog, args), inherited by forked workers


def _market_job(seed: int) -> dict:
    return run_market(seed, *_SHARED)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="the log (CSV), or JSON")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--customers", type=int, default=1364)
    parser.add_argument("--variants", type=int, default=1, help="articles per photo")
    parser.add_argument(
        "--markets", type=int, default=1, help="independent logs per seed, scored together"
    )
    parser.add_argument("--jobs", type=int, default=1, help="markets simulated at once")
    parser.add_argument("--evaluate", action="store_true", help="score every method here")
    parser.add_argument(
        "--facts",
        action="store_true",
        help="only the simulator's facts, pooled over --markets per seed (no scores, no log)",
    )
    parser.add_argument("--log", type=Path, help="with --evaluate: also write LOG.s<seed>.csv")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a simulator parameter (PurchaseSimulatorConfig), e.g. popularity_skew=0",
    )
    args = parser.parse_args()
    recommender = Recommender.from_bundle(args.bundle)
    items = recommender.items
    catalog = (recommender.embeddings, items.metadata, list(items.ids), None)
    if args.variants > 1:
        catalog = variant_catalog(
            recommender.embeddings, items.metadata, list(items.ids), args.variants
        )
    if not args.evaluate and not args.facts:
        config = simulator_config(args, args.seeds[0])
        purchases = simulate_purchases(catalog[1], config)
        write_purchases_csv(args.out, purchases, catalog[2])
        cutoff = START + (config.days - WINDOW_DAYS) * 86_400
        print(asdict(config))
        print(simulator_facts(purchases, len(catalog[2]), cutoff, WINDOW_DAYS))
        print(f"cutoff for a {WINDOW_DAYS}-day window: {cutoff_day(config)}")
        return
    _SHARED[:] = [catalog, args]
    seeds = [seed + MARKET_SEED_STEP * m for seed in args.seeds for m in range(args.markets)]
    started = time.perf_counter()
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("fork")) as pool:
            markets = list(pool.map(_market_job, seeds))
    else:
        markets = [_market_job(seed) for seed in seeds]
    seconds = (time.perf_counter() - started) / len(args.seeds)  # wall time a seed
    m = args.markets
    results = [
        pool_seed(seed, markets[i * m : (i + 1) * m], seconds) for i, seed in enumerate(args.seeds)
    ]
    args.out.write_text(json.dumps({"variants": args.variants, "seeds": results}, indent=1))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
