"""Simulated purchase histories (lookalike/purchase_simulator.py) over a bundle's catalog.

Without ``--variants`` the log's items are the bundle's, for
``lookalike evaluate-personal --bundle DIR --interactions LOG --cutoff DATE``:

    .venv/bin/python bench/purchase_histories.py --bundle bundles/demo-hybrid --out log.csv

With ``--variants 6`` each photo stands for a product family of 6 articles (the real log's
17,033 articles, :func:`~lookalike.purchase_simulator.variant_catalog`), whose ids the bundle
does not know, so ``--evaluate`` scores every method here through the same
:func:`~lookalike.personal_time.evaluate_on_time` over the variants' embeddings:

    .venv/bin/python bench/purchase_histories.py --bundle bundles/demo-hybrid --variants 6 \\
        --evaluate --seeds 0 1 2 --out sim-variants.json
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

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


def run_seed(seed: int, catalog: tuple, args: argparse.Namespace) -> dict:
    """Simulate one seed; its facts, and every method's scores with ``--evaluate``."""
    embeddings, metadata, ids, family = catalog
    config = PurchaseSimulatorConfig(customers=args.customers, seed=seed)
    purchases = simulate_purchases(metadata, config)
    cutoff = START + (config.days - WINDOW_DAYS) * 86_400
    facts = simulator_facts(purchases, len(ids), cutoff, WINDOW_DAYS)
    result = {"seed": seed, "config": asdict(config), "cutoff": cutoff_day(config), "facts": facts}
    print(f"seed {seed}: {facts}", flush=True)
    if args.log:
        write_purchases_csv(args.log.with_suffix(f".s{seed}.csv"), purchases, ids)
    if args.evaluate:
        log = log_from_arrays(
            purchases.users,
            len(ids),
            purchases.user_rows,
            purchases.items,
            np.full(len(purchases.items), 4, np.int8),  # EVENT_NAMES[4] == "purchase"
            purchases.times,
        )
        started = time.perf_counter()
        evaluation = evaluate_on_time(
            log,
            cutoff,
            WINDOW_DAYS * 86_400,
            search=embedding_search(embeddings),
            titles=[m.get("ProductTitle", "") for m in metadata],
            segments=np.array([m.get("ProductType", "") for m in metadata]),
            embeddings=embeddings,
        )
        result["evaluation"] = evaluation
        result["seconds"] = round(time.perf_counter() - started, 1)
        print(format_time_table(evaluation), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="the log (CSV), or JSON")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--customers", type=int, default=1364)
    parser.add_argument("--variants", type=int, default=1, help="articles per photo")
    parser.add_argument("--evaluate", action="store_true", help="score every method here")
    parser.add_argument("--log", type=Path, help="with --evaluate: also write LOG.s<seed>.csv")
    args = parser.parse_args()
    recommender = Recommender.from_bundle(args.bundle)
    items = recommender.items
    catalog = (recommender.embeddings, items.metadata, list(items.ids), None)
    if args.variants > 1:
        catalog = variant_catalog(
            recommender.embeddings, items.metadata, list(items.ids), args.variants
        )
    if not args.evaluate:
        config = PurchaseSimulatorConfig(customers=args.customers, seed=args.seeds[0])
        purchases = simulate_purchases(catalog[1], config)
        write_purchases_csv(args.out, purchases, catalog[2])
        cutoff = START + (config.days - WINDOW_DAYS) * 86_400
        print(asdict(config))
        print(simulator_facts(purchases, len(catalog[2]), cutoff, WINDOW_DAYS))
        print(f"cutoff for a {WINDOW_DAYS}-day window: {cutoff_day(config)}")
        return
    results = [run_seed(seed, catalog, args) for seed in args.seeds]
    args.out.write_text(json.dumps({"variants": args.variants, "seeds": results}, indent=1))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
