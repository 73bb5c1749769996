"""A reproducible shopper simulator and the personalisation benchmark
(``lookalike evaluate-personal``).

There is no public interaction log for the reference catalog, so shoppers are simulated:

* every item gets an intrinsic popularity (Zipf-like, exponent ``popularity_skew``);
* a *taste* is a ProductType with one or two preferred Colours that has at least
  ``min_taste_items`` items; each shopper has one taste, or two unrelated ones
  (``two_taste_share`` of them, e.g. sneakers *and* dresses);
* a shopper likes ``likes`` items: from their tastes (popular items more often), except a
  ``noise`` share drawn from the whole catalog by popularity;
* ``holdout`` of each shopper's taste likes are hidden; methods see the rest and must
  recover the hidden ones in their top 10 (hit-rate@10, nDCG@10).

Methods compared: most popular (best-sellers), visual neighbours of one liked item, the
profile mean, the profile RRF fusion, and fusion blended with user-user collaborative KNN
over the other shoppers' visible likes.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from lookalike.evaluation import hit_rate_at_k, ndcg_at_k
from lookalike.personal import (
    EVENT_WEIGHTS,
    InteractionLog,
    Profile,
    recommend_profile,
)
from lookalike.recommend import Recommender

K = 10


@dataclass
class SimulatorConfig:
    """Settings of the synthetic shoppers (all results depend on them; keep them with results)."""

    shoppers: int = 300
    two_taste_share: float = 0.3
    likes: int = 12
    noise: float = 0.15
    holdout: float = 0.3
    min_taste_items: int = 8
    popularity_skew: float = 1.1
    type_column: str = "ProductType"
    colour_column: str = "Colour"
    seed: int = 0


@dataclass
class Shopper:
    """One simulated shopper: visible likes and hidden (held-out) likes, as bundle rows."""

    user: str
    visible: list[int]
    hidden: list[int]
    tastes: list[tuple[str, tuple[str, ...]]]


def item_popularity(n_items: int, skew: float, rng: np.random.Generator) -> np.ndarray:
    """Normalised popularity per item: rank^-skew over a random item order."""
    ranks = rng.permutation(n_items) + 1
    weights = ranks.astype(np.float64) ** -skew
    return weights / weights.sum()


def find_tastes(
    metadata: list[dict[str, str]], config: SimulatorConfig, rng: np.random.Generator
) -> list[tuple[str, tuple[str, ...], np.ndarray]]:
    """(type, colours, rows) for every type with 1-2 colours covering >= min_taste_items."""
    by_type_colour: dict[tuple[str, str], list[int]] = {}
    for row, meta in enumerate(metadata):
        kind, colour = meta.get(config.type_column, ""), meta.get(config.colour_column, "")
        if kind and colour:
            by_type_colour.setdefault((kind, colour), []).append(row)
    tastes = []
    types = sorted({kind for kind, _ in by_type_colour})
    for kind in types:
        colours = sorted(c for k, c in by_type_colour if k == kind)
        for colour in colours:
            rows = by_type_colour[(kind, colour)]
            if len(rows) >= config.min_taste_items:
                tastes.append((kind, (colour,), np.array(rows)))
        if len(colours) >= 2:
            pair = tuple(sorted(rng.choice(colours, size=2, replace=False).tolist()))
            rows = by_type_colour[(kind, pair[0])] + by_type_colour[(kind, pair[1])]
            if len(rows) >= config.min_taste_items:
                tastes.append((kind, pair, np.array(rows)))
    if not tastes:
        raise ValueError(
            f"no taste has {config.min_taste_items}+ items in columns "
            f"{config.type_column}/{config.colour_column}"
        )
    return tastes


def simulate_shoppers(
    metadata: list[dict[str, str]], config: SimulatorConfig
) -> tuple[list[Shopper], np.ndarray]:
    """Simulated shoppers and the item popularity that drove them (deterministic per seed)."""
    rng = np.random.default_rng(config.seed)
    popularity = item_popularity(len(metadata), config.popularity_skew, rng)
    tastes = find_tastes(metadata, config, rng)
    shoppers = []
    for s in range(config.shoppers):
        n_tastes = 2 if rng.random() < config.two_taste_share else 1
        picked = [tastes[i] for i in rng.choice(len(tastes), size=n_tastes, replace=False)]
        if n_tastes == 2 and picked[0][0] == picked[1][0]:
            picked = picked[:1]  # two tastes must be unrelated types
        n_noise = int(round(config.likes * config.noise))
        taste_likes: set[int] = set()
        for _kind, _colours, rows in picked:
            weights = np.sqrt(popularity[rows])
            size = min(len(rows), (config.likes - n_noise) // len(picked))
            taste_likes |= set(
                rng.choice(rows, size=size, replace=False, p=weights / weights.sum()).tolist()
            )
        noise = set(rng.choice(len(metadata), size=n_noise, replace=False, p=popularity).tolist())
        taste_list = sorted(taste_likes)
        rng.shuffle(taste_list)
        n_hidden = max(1, int(round(len(taste_list) * config.holdout)))
        hidden = taste_list[:n_hidden]
        visible = sorted((set(taste_list[n_hidden:]) | noise) - set(hidden))
        shoppers.append(
            Shopper(
                f"shopper{s:04d}", visible, hidden, [(kind, colours) for kind, colours, _ in picked]
            )
        )
    return shoppers, popularity


def interaction_log(shoppers: list[Shopper], n_items: int) -> InteractionLog:
    """The visible likes of every shopper as an interaction log (event 'like')."""
    matrix = np.zeros((len(shoppers), n_items), np.float32)
    for row, shopper in enumerate(shoppers):
        matrix[row, shopper.visible] = EVENT_WEIGHTS["like"]
    return InteractionLog([s.user for s in shoppers], matrix)


def _most_popular(counts: np.ndarray, shopper: Shopper) -> list[int]:
    order = np.argsort(-counts, kind="stable")
    seen = set(shopper.visible)
    return [int(r) for r in order if r not in seen][:K]


def run_methods(
    recommender, shoppers: list[Shopper], seed: int = 0, progress: bool = False
) -> dict[str, dict[str, float]]:
    """hit-rate@10 and nDCG@10 on hidden likes for every method (one row per shopper)."""
    from tqdm.auto import tqdm

    rng = np.random.default_rng(seed)
    log = interaction_log(shoppers, len(recommender.items))
    counts = log.matrix.sum(axis=0)
    methods = {
        "most popular (best-sellers)": lambda s: _most_popular(counts, s),
        "visual, one liked item": lambda s: [
            recommender.row(r.id)
            for r in recommender.recommend_items(
                [recommender.items.ids[int(rng.choice(s.visible))]], K
            )[0].results
        ],
        "profile mean": lambda s: _rows(
            recommend_profile(recommender, Profile(s.visible), K, method="mean"), recommender
        ),
        "profile fusion (RRF)": lambda s: _rows(
            recommend_profile(recommender, Profile(s.visible), K, method="fusion"), recommender
        ),
        "fusion + collaborative KNN": lambda s: _rows(
            recommend_profile(
                recommender, Profile(s.visible, user=s.user), K, method="fusion", interactions=log
            ),
            recommender,
        ),
    }
    results = {}
    for name, method in methods.items():
        relevant = np.zeros((len(shoppers), K), bool)
        n_relevant = np.zeros(len(shoppers), np.int64)
        started = time.perf_counter()
        for i, shopper in enumerate(tqdm(shoppers, desc=name, disable=not progress)):
            found = method(shopper)
            hidden = set(shopper.hidden)
            relevant[i, : len(found)] = [r in hidden for r in found]
            n_relevant[i] = len(hidden)
        results[name] = {
            "hit_rate@10": hit_rate_at_k(relevant, K),
            "ndcg@10": ndcg_at_k(relevant, n_relevant, K),
            "ms_per_shopper": 1000 * (time.perf_counter() - started) / len(shoppers),
        }
    return results


def _rows(recommendations, recommender) -> list[int]:
    return [recommender.row(r.id) for r in recommendations]


def evaluate_personal(
    bundle: str | Path,
    config: SimulatorConfig | None = None,
    out: Path | None = None,
    progress: bool = True,
) -> dict:
    """Simulate shoppers on ``bundle``'s catalog, run every method, print + save the table."""

    config = config or SimulatorConfig()
    recommender = Recommender.from_bundle(bundle)
    shoppers, _ = simulate_shoppers(recommender.items.metadata, config)
    results = run_methods(recommender, shoppers, config.seed, progress)
    lines = ["| method | hit-rate@10 | nDCG@10 | ms / shopper |", "|---|---|---|---|"]
    lines += [
        f"| {name} | {m['hit_rate@10']:.3f} | {m['ndcg@10']:.3f} | {m['ms_per_shopper']:.1f} |"
        for name, m in results.items()
    ]
    table = "\n".join(lines)
    payload = {
        "bundle": str(bundle),
        "simulator": asdict(config),
        "results": results,
        "table": table,
    }
    if progress:
        print(table)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(payload, indent=2))
    return payload
