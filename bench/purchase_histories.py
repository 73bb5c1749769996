"""Simulated purchase histories over a bundle's catalog (lookalike/purchase_simulator.py),
written as an event log for ``lookalike evaluate-personal --interactions LOG --cutoff DATE``.

    .venv/bin/python bench/purchase_histories.py --bundle bundles/demo-hybrid --out log.csv
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

import numpy as np

from lookalike.purchase_simulator import (
    PurchaseSimulatorConfig,
    cutoff_day,
    simulate_purchases,
    write_purchases_csv,
)
from lookalike.recommend import Recommender


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--customers", type=int, default=1364)
    args = parser.parse_args()
    items = Recommender.from_bundle(args.bundle).items
    config = PurchaseSimulatorConfig(customers=args.customers, seed=args.seed)
    purchases = simulate_purchases(items.metadata, config)
    write_purchases_csv(args.out, purchases, list(items.ids))
    per_customer = np.bincount(purchases.user_rows, minlength=config.customers)
    print(asdict(config))
    print(
        f"{len(purchases.items)} purchases by {config.customers} customers (median "
        f"{np.median(per_customer):.0f}) of {len(np.unique(purchases.items))} articles; "
        f"cutoff for a 28-day window: {cutoff_day(config)}"
    )


if __name__ == "__main__":
    main()
