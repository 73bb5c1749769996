"""Ways to train the learned blend, compared on the purchase simulator's markets.

Per market (bench/purchase_histories.py's: one simulated log of 1,364 customers over the
6-variant catalog), the training examples (:func:`~lookalike.personal_ranker.training_examples`)
and every scored customer's candidates and features are computed once; each variant (an
objective, per-source rank calibration, per-shopper normalisation, the feature set; or
LightGBM's trees with an objective and a size) is then fitted on the same examples and ranks
the same candidates. Every single source and the fixed
blend are scored alongside, and the customers of all markets of a seed are pooled:

    flock /tmp/cpu.lock .venv/bin/python bench/ranker_variants.py \\
        --bundle bundles/demo-hybrid --seeds 0 1 2 --markets 10 --out ranker-variants.json
    # only some variants (the sources and the fixed blend are always scored):
    ... --only "listwise, new features" "trees (default)" "trees, lambdarank"

With both "listwise, new features" and "trees (default)" fitted, their sum of per-shopper
z-scores is scored too ("listwise + trees (per-shopper z-scores)").

``--windows 4 8 12`` fits every variant on the 4, 8 and 12 label windows before the cutoff
(the same examples, each window computed once; names get " [8 windows]", except 4's).

Also printed per seed, to see why a blend falls below its best input: how many bought
candidates the pool holds, and each variant's and source's MAP@12 on its own training
examples (a model that ranks its training shoppers worse than one of its input columns does
is fitting the wrong objective, not missing information).
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from purchase_histories import (
    MARKET_SEED_STEP,
    WINDOW_DAYS,
    market_log,
    pool_facts,
    search_options,
)

from lookalike.evaluation import map_at_12
from lookalike.personal_candidates import (
    FEATURES,
    SOURCE_NAMES,
    SourceContext,
    candidate_features,
    candidate_pool,
    head_of_sources,
)
from lookalike.personal_ensemble import per_shopper_spread
from lookalike.personal_ranker import (
    POOL,
    TrainingExamples,
    fit_ranker,
    fixed_blend,
    training_examples,
)
from lookalike.personal_sources import Candidates
from lookalike.personal_time import score_method, split_on_time
from lookalike.personal_trees import fit_trees
from lookalike.purchase_simulator import (
    START,
    PurchaseSimulatorConfig,
    simulate_purchases,
    simulator_facts,
    variant_catalog,
)
from lookalike.recommend import Recommender

K = 12
#: Label windows of the variants named without " [N windows]" (the blend's training before
#: 2026-12-07; the library's default is now personal_ranker.TRAIN_WINDOWS, 8).
DEFAULT_WINDOWS = 4
#: The features added for issue 29's second round (the first 21 are the original ones).
NEW_FEATURES = ("log segment share", "segment trend rank")
#: name -> (objective, calibrate, normalise, all features)
VARIANTS = {
    "pointwise": ("pointwise", False, False, False),
    "pointwise, normalised": ("pointwise", False, True, False),
    "pointwise, calibrated": ("pointwise", True, False, False),
    "pointwise, new features": ("pointwise", False, False, True),
    "pointwise, all": ("pointwise", True, True, True),
    "pairwise": ("pairwise", False, False, False),
    "pairwise, normalised": ("pairwise", False, True, False),
    "pairwise, calibrated": ("pairwise", True, False, False),
    "pairwise, new features": ("pairwise", False, False, True),
    "pairwise, calibrated, new features": ("pairwise", True, False, True),
    "pairwise, all": ("pairwise", True, True, True),
    "listwise": ("listwise", False, False, False),
    "listwise, new features": ("listwise", False, False, True),
    "listwise, calibrated, new features": ("listwise", True, False, True),
}
#: name -> fit_trees options (every feature; the default is 300 rounds x 15 leaves, rate
#: 0.03, 100 examples a leaf, logistic loss)
TREE_VARIANTS = {
    "trees (default)": {},
    "trees, 150 rounds, rate 0.05": {"rounds": 150, "learning_rate": 0.05},
    "trees, 500 rounds x 31 leaves, rate 0.02, 200 a leaf": {
        "rounds": 500,
        "leaves": 31,
        "learning_rate": 0.02,
        "min_leaf": 200,
    },
    "trees, lambdarank": {"objective": "lambdarank"},
    "trees, lambdarank, 7 leaves, rate 0.05": {
        "objective": "lambdarank",
        "leaves": 7,
        "learning_rate": 0.05,
    },
    "trees, rank_xendcg": {"objective": "rank_xendcg"},
}


#: name -> the two variants whose per-shopper standardised scores are summed (computed when
#: both are fitted).
ENSEMBLES = {
    "listwise + trees (per-shopper z-scores)": ("listwise, new features", "trees (default)")
}


def _standardised(scores: np.ndarray) -> np.ndarray:
    """One shopper's candidate scores as z-scores (a constant list becomes zeros), as
    :class:`~lookalike.personal_ensemble.EnsembleRanker` standardises its members."""
    return (scores - scores.mean()) / per_shopper_spread(scores)


def _base(x: np.ndarray) -> np.ndarray:
    """``x`` without the new features (constant columns weigh nothing after standardising)."""
    out = x.copy()
    out[:, [FEATURES.index(name) for name in NEW_FEATURES]] = 0.0
    return out


def _ranked(rows: np.ndarray, scores: np.ndarray) -> Candidates:
    order = np.lexsort((rows, -scores))[:K]
    return Candidates(rows[order], scores[order], [])


def _in_sample_map(scores: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    """MAP@12 of ranking each training shopper's candidates by ``scores`` (relevant = the
    bought candidates)."""
    relevant, n_relevant = [], []
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        if y[members].sum() == 0:
            continue
        order = members[np.lexsort((members, -scores[members]))][:K]
        row = np.zeros(K, bool)
        row[: len(order)] = y[order] > 0
        relevant.append(row)
        n_relevant.append(int(y[members].sum()))
    return map_at_12(np.array(relevant), np.array(n_relevant))


def _merged(parts: list[TrainingExamples]) -> TrainingExamples:
    """Examples of several windows as one set (each window's groups kept apart)."""
    offsets = np.cumsum([0] + [int(p.groups.max()) + 1 if len(p.y) else 0 for p in parts])
    return TrainingExamples(
        np.vstack([p.x for p in parts]),
        np.concatenate([p.y for p in parts]),
        np.concatenate([p.groups + o for p, o in zip(parts, offsets, strict=False)]),
        sum(p.customers for p in parts),
    )


def _windowed(name: str, windows: int) -> str:
    return name if windows == DEFAULT_WINDOWS else f"{name} [{windows} windows]"


def run_market(
    seed: int,
    catalog: tuple,
    customers: int,
    only: list[str] | None = None,
    windows: tuple[int, ...] = (DEFAULT_WINDOWS,),
) -> dict:
    """Every source, the fixed blend and every variant (or those named in ``only``) on one
    market, each variant fitted on each number of ``windows`` before the cutoff."""
    config = PurchaseSimulatorConfig(customers=customers, seed=seed)
    purchases = simulate_purchases(catalog[1], config)
    cutoff = START + (config.days - WINDOW_DAYS) * 86_400
    window = WINDOW_DAYS * 86_400
    options = search_options(catalog)
    split = split_on_time(market_log(purchases, len(catalog[2])), cutoff, window)
    # window j alone = the examples of one window before cutoff - (j - 1) x window
    per_window = [
        training_examples(split.history, cutoff - j * window, window, windows=1, **options)
        for j in range(max(windows))
    ]
    examples = _merged(per_window[:DEFAULT_WINDOWS])
    context = SourceContext.build(split.history, cutoff, **options)
    picks: dict[str, list[Candidates]] = {}
    evaluated = []
    in_pool = 0
    for user, bought in zip(split.customers, split.truth, strict=True):
        pool = context.sources(int(user), POOL)
        for name, found in head_of_sources(pool, K).items():
            picks.setdefault(name, []).append(found)
        picks.setdefault("blend", []).append(fixed_blend(pool, K))
        rows, _ = candidate_pool(pool)
        x = candidate_features(context, int(user), pool, rows)
        evaluated.append((rows, x))
        in_pool += int(np.isin(bought, rows).sum())
    diagnostics = {
        "examples": len(examples.y),
        "positives": int(examples.y.sum()),
        "training shoppers": examples.customers,
        "bought in window": int(sum(len(t) for t in split.truth)),
        "bought and in the pool": in_pool,
        "in-sample map": {},
    }
    scored: dict[str, list[np.ndarray]] = {}
    for j, name in enumerate(SOURCE_NAMES):
        rr = examples.x[:, j]
        diagnostics["in-sample map"][name] = _in_sample_map(rr, examples.y, examples.groups)
    for n_windows in windows:
        examples = _merged(per_window[:n_windows])
        diagnostics[_windowed("positives", n_windows)] = int(examples.y.sum())
        for name, (objective, calibrate, normalise, new) in VARIANTS.items():
            if only is not None and name not in only:
                continue
            label = _windowed(name, n_windows)
            train_x = examples.x if new else _base(examples.x)
            ranker = fit_ranker(
                train_x,
                examples.y,
                examples.groups,
                objective=objective,
                calibrate=calibrate,
                normalise=normalise,
            )
            diagnostics["in-sample map"][label] = _in_sample_map(
                ranker.score(train_x), examples.y, examples.groups
            )
            scored[label] = [ranker.score(x if new else _base(x)) for _, x in evaluated]
            picks[label] = [
                _ranked(rows, sc) for (rows, _), sc in zip(evaluated, scored[label], strict=True)
            ]
            if name in ("pointwise", "pairwise, all", "listwise, calibrated, new features"):
                diagnostics[f"weights {label}"] = dict(
                    zip(FEATURES, np.round(ranker.weights, 3).tolist(), strict=True)
                )
        for name, settings in TREE_VARIANTS.items():
            if only is not None and name not in only:
                continue
            label = _windowed(name, n_windows)
            # one thread: the markets run in parallel processes
            trees = fit_trees(examples.x, examples.y, examples.groups, threads=1, **settings)
            diagnostics["in-sample map"][label] = _in_sample_map(
                trees.score(examples.x), examples.y, examples.groups
            )
            scored[label] = [trees.score(x) for _, x in evaluated]
            picks[label] = [
                _ranked(rows, sc) for (rows, _), sc in zip(evaluated, scored[label], strict=True)
            ]
        for name, (first, second) in ENSEMBLES.items():
            first, second = _windowed(first, n_windows), _windowed(second, n_windows)
            if first in scored and second in scored:
                picks[_windowed(name, n_windows)] = [
                    _ranked(rows, _standardised(a) + _standardised(b))
                    for (rows, _), a, b in zip(
                        evaluated, scored[first], scored[second], strict=True
                    )
                ]
    facts = simulator_facts(purchases, len(catalog[2]), cutoff, WINDOW_DAYS)
    return {
        "seed": seed,
        "picks": picks,
        "truth": split.truth,
        "diagnostics": diagnostics,
        "facts": facts,
    }


def _market_job(job: tuple[int, int]) -> dict:
    return run_market(job[0], _CATALOG[0], job[1], _CATALOG[1], _CATALOG[2])


_CATALOG: list = []  # the catalog, --only and --windows, inherited by forked workers


def pool_seed(seed: int, markets: list[dict], seconds: float) -> dict:
    """One seed's markets, their customers pooled."""
    truth = [t for m in markets for t in m["truth"]]
    scores = {
        name: score_method([p for m in markets for p in m["picks"][name]], truth)
        for name in markets[0]["picks"]
    }
    result = {
        "seed": seed,
        "customers": len(truth),
        "scores": scores,
        "diagnostics": [m["diagnostics"] for m in markets],
        "facts": pool_facts([m["facts"] for m in markets]),
        "seconds": round(seconds, 1),
    }
    print(f"seed {seed}: {len(truth)} customers, {result['seconds']} s a seed", flush=True)
    print(f"  facts: {result['facts']}", flush=True)
    for name, s in scores.items():
        print(f"  {name:36s} {s['map@12']:.4f} {s['hr@12']:.3f} {s['recall@12']:.3f}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--markets", type=int, default=10)
    parser.add_argument("--customers", type=int, default=1364)
    parser.add_argument("--variants", type=int, default=6)
    parser.add_argument("--jobs", type=int, default=2, help="markets simulated at once")
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="fit only these variants (names as printed)"
    )
    parser.add_argument(
        "--windows",
        type=int,
        nargs="+",
        default=[DEFAULT_WINDOWS],
        help="label windows before the cutoff to train on (each a set of variants)",
    )
    args = parser.parse_args()
    known = [*VARIANTS, *TREE_VARIANTS]
    unknown = sorted(set(args.only or ()) - set(known))
    if unknown:
        raise SystemExit(f"--only: unknown variants {unknown}; known: {known}")
    recommender = Recommender.from_bundle(args.bundle)
    items = recommender.items
    catalog = variant_catalog(
        recommender.embeddings, items.metadata, list(items.ids), args.variants
    )
    _CATALOG[:] = [catalog, args.only, tuple(args.windows)]
    jobs = [
        (seed + MARKET_SEED_STEP * m, args.customers)
        for seed in args.seeds
        for m in range(args.markets)
    ]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("fork")) as pool:
        markets = list(pool.map(_market_job, jobs))
    seconds = (time.perf_counter() - started) / len(args.seeds)
    results = [
        pool_seed(seed, markets[i * args.markets : (i + 1) * args.markets], seconds)
        for i, seed in enumerate(args.seeds)
    ]
    names = list(results[0]["scores"])
    print("\n| picks | MAP@12 | HR@12 | recall@12 | MAP@12 per seed | HR@12 per seed |")
    print("|---|---|---|---|---|---|")
    for name in names:
        per = [r["scores"][name] for r in results]
        mean = {m: np.mean([p[m] for p in per]) for m in ("map@12", "hr@12", "recall@12")}
        maps = " / ".join(f"{p['map@12']:.4f}" for p in per)
        hrs = " / ".join(f"{p['hr@12']:.3f}" for p in per)
        print(
            f"| {name} | {mean['map@12']:.4f} | {mean['hr@12']:.3f} | {mean['recall@12']:.3f} "
            f"| {maps} | {hrs} |"
        )
    args.out.write_text(json.dumps(results, indent=1, default=float))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
