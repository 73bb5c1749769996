"""The purchase simulator: deterministic, sparse histories, repeats only by rebuy, new arrivals."""

from __future__ import annotations

import numpy as np

from lookalike.purchase_simulator import (
    START,
    PurchaseSimulatorConfig,
    cutoff_day,
    simulate_purchases,
    simulator_facts,
    variant_catalog,
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


def test_facts_and_a_variant_catalog():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(len(METADATA), 8)).astype(np.float32)
    ids = [str(i) for i in range(len(METADATA))]
    emb6, meta6, ids6, family = variant_catalog(emb, METADATA, ids, 3)
    assert emb6.shape == (3 * len(METADATA), 8) and ids6[:4] == ["0~0", "0~1", "0~2", "1~0"]
    assert np.array_equal(emb6[::3], emb) and family[:4].tolist() == [0, 0, 0, 1]
    assert all(
        m["ProductType"] == METADATA[f]["ProductType"] for m, f in zip(meta6, family, strict=True)
    )
    config = PurchaseSimulatorConfig(customers=300, seed=2)
    purchases = simulate_purchases(meta6, config)
    cutoff = START + (config.days - 28) * 86_400
    facts = simulator_facts(purchases, len(ids6), cutoff)
    assert facts["purchases"] == len(purchases.items) and facts["median_purchases"] >= 5
    assert 0 < facts["window_customers"] < 300 and 0 <= facts["new_article_share"] <= 1
    assert 0 <= facts["buy_again"][0] <= 1 and 0 <= facts["best_sellers"][1] <= 1
