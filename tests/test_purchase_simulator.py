"""The purchase simulator: deterministic, sparse histories, repeats only by rebuy, new arrivals."""

from __future__ import annotations

import numpy as np

from lookalike.purchase_simulator import (
    PurchaseSimulatorConfig,
    cutoff_day,
    simulate_purchases,
    write_purchases_csv,
)

METADATA = [
    {"ProductType": kind, "Colour": colour}
    for kind in ("Tops", "Jeans", "Shoes")
    for colour in ("Black", "White")
    for _ in range(30)
]


def test_deterministic_per_seed_with_sparse_histories():
    config = PurchaseSimulatorConfig(customers=200, seed=3)
    a, b = simulate_purchases(METADATA, config), simulate_purchases(METADATA, config)
    assert a.items.tolist() == b.items.tolist() and a.times.tolist() == b.times.tolist()
    per_customer = np.bincount(a.user_rows, minlength=200)
    assert 6 <= np.median(per_customer) <= 12 and per_customer.min() >= 1


def test_no_rebuy_means_no_repeated_article():
    purchases = simulate_purchases(
        METADATA,
        PurchaseSimulatorConfig(customers=50, rebuy_share=0.0, purchases_sigma=0.3, seed=1),
    )
    pairs = purchases.user_rows.astype(np.int64) * len(METADATA) + purchases.items
    assert len(np.unique(pairs)) == len(pairs)
    # articles sell after they arrive
    assert (purchases.times >= 0).all() and len(purchases.arrival_days) == len(METADATA)


def test_writes_an_event_log(tmp_path):
    purchases = simulate_purchases(METADATA, PurchaseSimulatorConfig(customers=5))
    path = tmp_path / "log.csv"
    write_purchases_csv(path, purchases, [str(i) for i in range(len(METADATA))])
    lines = path.read_text().splitlines()
    assert lines[0] == "user_id,item_id,event,timestamp" and len(lines) == len(purchases.items) + 1
    assert ",purchase,20" in lines[1]
    assert cutoff_day(PurchaseSimulatorConfig()) == "2020-08-22"
