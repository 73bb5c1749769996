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
  own peak day; intrinsic article popularity can be Zipf-like (``popularity_skew``; 0, the
  default, makes every article alike).

Deterministic per seed. Only purchases are simulated (no views).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.evaluation.metrics import hit_rate_at_k, map_at_12

SECONDS_PER_DAY = 86_400
#: Day 0 of the simulated period (2018-09-20, two years before the real log's cutoff).
START = int(np.datetime64("2018-09-20", "s").astype(np.int64))


@dataclass
class PurchaseSimulatorConfig:
    """Parameters of the simulated purchases (keep them with any result).

    ``freshness_half_life_days``, ``season_amplitude`` and ``popularity_skew`` set how
    concentrated demand is at any time. They were chosen on the simulator's facts alone
    (never on a method's score), over 6 markets of the demo's 17,436 articles, against the
    real log's: 864 distinct articles bought in the 4 weeks after the cutoff, 70% of them
    new, last-7-days best-sellers at MAP@12 0.0013 / HR@12 0.014. With 21 / 0.8 / 0.3 (the
    earlier values) demand piled onto few fresh hits: 735 articles, 63% new, best-sellers
    0.0042 / 0.046 (3x real); with 30 / 0.4 / 0: 806 articles, 61% new, 0.0008 / 0.019.
    Longer lives spread demand further but make fewer articles new (60 days: 862, 55%).
    """

    customers: int = 1364
    days: int = 730
    median_purchases: float = 9.0
    purchases_sigma: float = 1.35
    mean_basket: float = 4.5
    rebuy_share: float = 0.03
    taste_share: float = 0.5
    two_taste_share: float = 0.3
    colour_boost: float = 3.0
    freshness_half_life_days: float = 30.0
    preseason_share: float = 0.0
    season_amplitude: float = 0.4
    popularity_skew: float = 0.0
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


def _basket_sizes(rng: np.random.Generator, total: int, mean_basket: float) -> np.ndarray:
    """Baskets of 1 + Poisson(mean_basket - 1) articles until ``total`` are bought."""
    sizes = 1 + rng.poisson(max(mean_basket - 1.0, 0.0), total)
    sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), total)) + 1]
    sizes[-1] -= sizes.sum() - total
    return sizes


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
    type_names, type_of = np.unique(kinds, return_inverse=True)
    colour_names, colour_of = np.unique(colours, return_inverse=True)
    peaks = rng.uniform(0, 365, len(type_names))
    popularity = (rng.permutation(n) + 1.0) ** -config.popularity_skew
    preseason = rng.random(n) < config.preseason_share
    arrival = np.where(preseason, rng.uniform(-180, 0, n), rng.uniform(0, config.days, n))
    # a taste is a ProductType with a preferred Colour, drawn as the catalog has them
    type_sizes = np.bincount(type_of, minlength=len(type_names))
    taste_types = np.flatnonzero(type_sizes >= 10)
    if len(taste_types) == 0:
        raise ValueError("no ProductType has 10 articles")

    def demand(day: float) -> np.ndarray:
        age = day - arrival
        fresh = np.where(
            age >= 0, 0.5 ** (np.maximum(age, 0) / config.freshness_half_life_days), 0.0
        )
        season = 1 + config.season_amplitude * np.cos(2 * np.pi * (day - peaks[type_of]) / 365)
        return popularity * fresh * season

    users, user_rows, items, times = [], [], [], []
    for c in range(config.customers):
        users.append(f"customer{c:05d}")
        n_taste = 2 if rng.random() < config.two_taste_share else 1
        own_types = rng.choice(
            taste_types,
            n_taste,
            replace=False,
            p=type_sizes[taste_types] / type_sizes[taste_types].sum(),
        )
        in_taste = np.isin(type_of, own_types)
        own_colour = colour_of[rng.choice(np.flatnonzero(in_taste))]
        taste_weight = in_taste * np.where(colour_of == own_colour, config.colour_boost, 1.0)
        total = max(
            1, int(round(rng.lognormal(np.log(config.median_purchases), config.purchases_sigma)))
        )
        sizes = _basket_sizes(rng, total, config.mean_basket)
        bought: list[int] = []
        owned = np.zeros(n, bool)
        for day, basket in zip(
            np.sort(rng.uniform(0, config.days, len(sizes))), sizes, strict=True
        ):
            on_sale = demand(day)
            for _ in range(int(basket)):
                if bought and rng.random() < config.rebuy_share:
                    recency = 0.5 ** (np.arange(len(bought))[::-1] / 3)  # latest weighs most
                    row = bought[int(rng.choice(len(bought), p=recency / recency.sum()))]
                else:
                    # a repeat happens only as a rebuy, so rebuy_share sets the buy-again rate
                    weights = on_sale * ~owned
                    if rng.random() < config.taste_share and (weights * taste_weight).sum() > 0:
                        weights = weights * taste_weight
                    if weights.sum() <= 0:  # nothing on sale that is not owned: any article
                        weights = (~owned).astype(np.float64) if not owned.all() else np.ones(n)
                    row = int(rng.choice(n, p=weights / weights.sum()))
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


def simulator_facts(
    purchases: SimulatedPurchases, n_items: int, cutoff: int, window_days: int = 28
) -> dict:
    """The facts the real histories showed (issue 29), measured on simulated ones.

    Args:
        purchases: from :func:`simulate_purchases`.
        n_items: catalog rows.
        cutoff: seconds; the history is before it, the truth in the ``window_days`` after.

    Returns:
        {"purchases", "customers", "median_purchases", "window_customers",
        "window_articles", "new_article_share", "best_sellers": (MAP@12, HR@12),
        "buy_again": (MAP@12, HR@12)}: best-sellers of the last 7 days before the cutoff and
        each customer's own last 12 distinct articles, scored on what they bought in the window.
    """
    users, items, times = purchases.user_rows, purchases.items, purchases.times
    before = times < cutoff
    after = ~before & (times < cutoff + window_days * SECONDS_PER_DAY)
    per_customer = np.bincount(users, minlength=len(purchases.users))
    week = before & (times >= cutoff - 7 * SECONDS_PER_DAY)
    week_counts = np.bincount(items[week], minlength=n_items)
    sellers = np.argsort(-week_counts, kind="stable")[:12]
    sellers = sellers[week_counts[sellers] > 0]
    customers = np.unique(users[after])
    picks = {"best_sellers": [], "buy_again": []}
    truth = []
    for c in customers:
        mine = users == c
        truth.append(np.unique(items[mine & after]))
        history = items[mine & before][np.argsort(-times[mine & before], kind="stable")]
        _, first = np.unique(history, return_index=True)
        picks["buy_again"].append(history[np.sort(first)][:12])
        picks["best_sellers"].append(sellers)
    n_relevant = np.array([len(t) for t in truth])
    scores = {}
    for name, lists in picks.items():
        relevant = np.zeros((len(truth), 12), bool)
        for i, (found, bought) in enumerate(zip(lists, truth, strict=True)):
            relevant[i, : len(found)] = np.isin(found, bought)
        scores[name] = (map_at_12(relevant, n_relevant), hit_rate_at_k(relevant, 12))
    window_articles = np.unique(items[after])
    return {
        "purchases": int(len(items)),
        "customers": int(len(purchases.users)),
        "median_purchases": float(np.median(per_customer)),
        "window_customers": int(len(customers)),
        "window_purchases": int(after.sum()),
        "window_articles": int(len(window_articles)),
        "new_article_share": float(np.mean(~np.isin(window_articles, items[before]))),
        **scores,
    }


def variant_catalog(
    embeddings: np.ndarray,
    metadata: list[dict[str, str]],
    ids: list[str],
    variants: int,
    *,
    noise: float = 0.3,
    colour_column: str = "Colour",
    title_column: str = "ProductTitle",
    seed: int = 0,
) -> tuple[np.ndarray, list[dict[str, str]], list[str], np.ndarray]:
    """A catalog ``variants`` times larger: each photographed article stands for a product
    family of ``variants`` articles (the first keeps its colour, the others take colours
    drawn from those of its ProductType), each embedded at the photo's embedding plus
    Gaussian noise of ``noise`` x the catalog's median nearest-neighbour distance.

    The real histories cover 17,033 articles; the demo catalog has 2,906 photos, and how
    sparse purchases per article are (what makes most articles bought after a cutoff new,
    and best-sellers weak) depends on that size.

    Returns:
        (embeddings, metadata, ids ``<id>~<j>``, family: the photo row of each article).
    """
    rng = np.random.default_rng(seed)
    emb = np.asarray(embeddings, np.float32)
    sample = emb[rng.choice(len(emb), min(500, len(emb)), replace=False)]
    d2 = (sample * sample).sum(1)[:, None] + (emb * emb).sum(1)[None, :] - 2 * sample @ emb.T
    d2[d2 < 1e-9] = np.inf  # the sample's own rows
    scale = float(np.median(np.sqrt(d2.min(axis=1)))) / np.sqrt(emb.shape[1])
    family = np.repeat(np.arange(len(emb)), variants)
    out = emb[family] + rng.normal(0.0, noise * scale, (len(family), emb.shape[1]))
    out[::variants] = emb  # the first variant is the photo itself
    kinds = [m.get("ProductType", "") for m in metadata]
    colours_of: dict[str, list[str]] = {}
    for kind, m in zip(kinds, metadata, strict=True):
        colours_of.setdefault(kind, []).append(m.get(colour_column, ""))
    new_meta, new_ids = [], []
    for row, j in zip(
        family.tolist(), np.tile(np.arange(variants), len(emb)).tolist(), strict=True
    ):
        m = dict(metadata[row])
        if j:
            pool = colours_of[kinds[row]]
            m[colour_column] = pool[int(rng.integers(len(pool)))]
            m[title_column] = f"{m.get(title_column, '')} ({m[colour_column]})"
        new_meta.append(m)
        new_ids.append(f"{ids[row]}~{j}")
    return out.astype(np.float32), new_meta, new_ids, family


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
