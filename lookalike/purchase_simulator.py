"""Simulated purchase histories that reproduce what a fashion retailer's real ones showed
(issue 29), so that what wins on them has a chance to win on real purchases:

* sparse histories: purchases per customer over two years are log-normal with median
  ``median_purchases`` (9), bought in baskets of 1-3 articles on one day;
* buy again: a ``rebuy_share`` of purchases repeat one of the customer's own earlier
  articles, recent ones more often (no other purchase repeats one);
* new arrivals: every article arrives on a day spread over the period (``preseason_share``
  of them before it starts) and sells mostly while fresh (demand halves every
  ``freshness_half_life_days``), so most articles bought after a cutoff had not been bought
  before it (70% in the real log);
* taste: each customer has one or two tastes (a ProductType with one preferred Colour); a
  ``taste_share`` of new purchases fall in a taste, the rest follow what sells;
* seasons: each ProductType's demand swings by ``season_amplitude`` over the year with its
  own peak day; intrinsic article popularity is Zipf-like (``popularity_skew``).

Deterministic per seed. Only purchases are simulated (no views).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SECONDS_PER_DAY = 86_400
#: Day 0 of the simulated period (2018-09-20, two years before the real log's cutoff).
START = int(np.datetime64("2018-09-20", "s").astype(np.int64))


@dataclass
class PurchaseSimulatorConfig:
    """Parameters of the simulated purchases (keep them with any result)."""

    customers: int = 1364
    days: int = 730
    median_purchases: float = 9.0
    purchases_sigma: float = 1.35
    max_basket: int = 3
    rebuy_share: float = 0.04
    taste_share: float = 0.75
    two_taste_share: float = 0.3
    freshness_half_life_days: float = 7.0
    preseason_share: float = 0.1
    season_amplitude: float = 0.8
    popularity_skew: float = 0.8
    type_column: str = "ProductType"
    colour_column: str = "Colour"
    seed: int = 0


@dataclass
class SimulatedPurchases:
    """One row per purchase; ``items`` are catalog rows, ``times`` epoch seconds."""

    users: list[str]
    user_rows: np.ndarray
    items: np.ndarray
    times: np.ndarray
    arrival_days: np.ndarray


def simulate_purchases(
    metadata: list[dict[str, str]], config: PurchaseSimulatorConfig | None = None
) -> SimulatedPurchases:
    """Purchase histories over a catalog's items.

    Args:
        metadata: one dict per catalog row (``type_column``, ``colour_column`` read).
        config: the parameters (default PurchaseSimulatorConfig()).

    Returns:
        The purchases, sorted by customer then time, and each article's arrival day.
    """
    config = config or PurchaseSimulatorConfig()
    rng = np.random.default_rng(config.seed)
    n = len(metadata)
    kinds = np.array([m.get(config.type_column, "") for m in metadata])
    colours = np.array([m.get(config.colour_column, "") for m in metadata])
    type_names = sorted(set(kinds.tolist()))
    type_of = np.searchsorted(type_names, kinds)
    peaks = rng.uniform(0, 365, len(type_names))
    popularity = (rng.permutation(n) + 1.0) ** -config.popularity_skew
    preseason = rng.random(n) < config.preseason_share
    arrival = np.where(preseason, rng.uniform(-180, 0, n), rng.uniform(0, config.days, n)).astype(
        np.float64
    )
    # tastes: (type, colour) pairs with enough articles to shop from over two years
    pairs, pair_counts = np.unique(
        np.char.add(np.char.add(kinds, "|"), colours), return_counts=True
    )
    tastes = [p for p, c in zip(pairs.tolist(), pair_counts.tolist(), strict=True) if c >= 10]
    if not tastes:
        raise ValueError("no ProductType and Colour pair has 10 articles")
    taste_rows = {
        t: np.flatnonzero((kinds == t.split("|")[0]) & (colours == t.split("|")[1])) for t in tastes
    }

    def demand(rows: np.ndarray, day: float) -> np.ndarray:
        age = day - arrival[rows]
        fresh = np.where(
            age >= 0, 0.5 ** (np.maximum(age, 0) / config.freshness_half_life_days), 0.0
        )
        season = 1 + config.season_amplitude * np.cos(
            2 * np.pi * (day - peaks[type_of[rows]]) / 365
        )
        return popularity[rows] * fresh * season

    all_rows = np.arange(n)
    users, user_rows, items, times = [], [], [], []
    for c in range(config.customers):
        users.append(f"customer{c:05d}")
        n_taste = 2 if rng.random() < config.two_taste_share else 1
        own_tastes = [
            taste_rows[tastes[i]] for i in rng.choice(len(tastes), n_taste, replace=False)
        ]
        total = max(
            1, int(round(rng.lognormal(np.log(config.median_purchases), config.purchases_sigma)))
        )
        sizes = rng.integers(1, config.max_basket + 1, total)  # baskets until ``total``
        sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), total)) + 1]
        sizes[-1] -= sizes.sum() - total
        bought: list[int] = []
        owned = np.zeros(n, bool)
        for day, basket in zip(
            np.sort(rng.uniform(0, config.days, len(sizes))), sizes, strict=True
        ):
            for _ in range(int(basket)):
                if bought and rng.random() < config.rebuy_share:
                    recency = 0.5 ** (np.arange(len(bought))[::-1] / 3)  # latest weighs most
                    row = bought[int(rng.choice(len(bought), p=recency / recency.sum()))]
                else:
                    in_taste = rng.random() < config.taste_share
                    pool = own_tastes[int(rng.integers(len(own_tastes)))] if in_taste else all_rows
                    # a repeat happens only as a rebuy, so rebuy_share sets the buy-again rate
                    weights = demand(pool, day) * ~owned[pool]
                    if weights.sum() <= 0:
                        pool, weights = all_rows, demand(all_rows, day) * ~owned
                    if weights.sum() <= 0:  # nothing on sale that is not owned: any article
                        weights = (~owned).astype(np.float64) if not owned.all() else np.ones(n)
                    row = int(rng.choice(pool, p=weights / weights.sum()))
                bought.append(row)
                owned[row] = True
                user_rows.append(c)
                items.append(row)
                times.append(START + int(day * SECONDS_PER_DAY) + int(rng.integers(0, 3600)))
    return SimulatedPurchases(
        users,
        np.array(user_rows, np.int32),
        np.array(items, np.int32),
        np.array(times, np.int64),
        arrival,
    )


def write_purchases_csv(
    path: str | Path, purchases: SimulatedPurchases, item_ids: list[str]
) -> None:
    """Write ``user_id,item_id,event,timestamp`` rows (event ``purchase``, ISO times)."""
    stamps = purchases.times.astype("datetime64[s]").astype(str)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "item_id", "event", "timestamp"])
        for u, i, t in zip(purchases.user_rows, purchases.items, stamps, strict=True):
            writer.writerow([purchases.users[u], item_ids[i], "purchase", t])


def cutoff_day(config: PurchaseSimulatorConfig, window_days: int = 28) -> str:
    """The cutoff date that leaves ``window_days`` of the period after it (ISO date)."""
    seconds = START + (config.days - window_days) * SECONDS_PER_DAY
    return str(np.datetime64(seconds, "s").astype("datetime64[D]"))
