"""Personal picks at scale (issue 29 item 6): 100k items, 1M synthetic shoppers x 20 events.

Builds the sparse event log (lookalike.events) from arrays, the sources' shared context
(lookalike.personal_candidates.SourceContext) and a learned blend trained on a sample, then
times one shopper's answer (every source + the learned blend's features and ranking, as the
server's profile route runs them) over random shoppers. Reports the log's and the context's
array memory, the process's peak RSS and the answer's p50 / p95; JSON to --out.

    flock /tmp/cpu.lock .venv/bin/python bench/personal_scale.py  # bench/results/*.json
    ... --ranker trees --out bench/results/personal-scale-trees.json  # LightGBM trees
    ... --index flat --out bench/results/personal-scale-flat.json  # exact visual search
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from lookalike.cli.parsers.evaluate import RANKERS
from lookalike.csr import Csr
from lookalike.events import SECONDS_PER_DAY, EventLog, log_from_arrays
from lookalike.index import INDEX_KINDS, build_index
from lookalike.personal_candidates import SourceContext
from lookalike.personal_fit import OBJECTIVE
from lookalike.personal_ranker import learned_picks, train_ranker
from lookalike.personal_sources import neighbours_without_query

START = 1_600_000_000


def synthetic_log(users: int, items: int, per_user: int, days: int, seed: int) -> EventLog:
    """Events with a skewed item popularity (Zipf-like), 70% views, 10% carts, 20% purchases
    spread over ``days``; each shopper keeps to a few item neighbourhoods (taste)."""
    rng = np.random.default_rng(seed)
    n = users * per_user
    user_rows = np.repeat(np.arange(users, dtype=np.int32), per_user)
    taste = rng.integers(0, items, users)  # each shopper's home region of the catalog
    near = (taste[user_rows] + rng.integers(-300, 300, n)) % items
    popular = (rng.pareto(1.2, n) * 50).astype(np.int64) % items
    item_rows = np.where(rng.random(n) < 0.6, near, popular).astype(np.int32)
    events = rng.choice(np.array([0, 3, 4], np.int8), n, p=[0.7, 0.1, 0.2])
    times = START + rng.integers(0, days * SECONDS_PER_DAY, n)
    names = [f"shopper-{u}" for u in range(users)]
    return log_from_arrays(names, items, user_rows, item_rows, events, times)


def index_search(embeddings: np.ndarray, kind: str = "auto"):
    """A Search through the index a bundle of this many items gets (``build_index``: flat
    under FLAT_MAX_ITEMS, HNSW above), filters answered inside the index as a served
    bundle's are. Returns (search, kind)."""
    index = build_index(embeddings, kind=kind)

    def search(rows: np.ndarray, k: int, allowed: np.ndarray | None) -> np.ndarray:
        _, found = index.search(embeddings[rows], k + 1, allowed)
        return neighbours_without_query(found, rows, k)

    return search, index.kind


def nbytes(*arrays) -> int:
    """Bytes of numpy arrays and Csr matrices."""
    total = 0
    for a in arrays:
        if isinstance(a, Csr):
            total += a.indptr.nbytes + a.indices.nbytes + a.data.nbytes
        elif isinstance(a, np.ndarray):
            total += a.nbytes
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--events-per-user", type=int, default=20)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--dim", type=int, default=64, help="embedding size (visual search)")
    parser.add_argument(
        "--index",
        choices=["auto", *INDEX_KINDS],
        default="auto",
        help="the visual index (auto: the kind a bundle of --items gets)",
    )
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--train-customers", type=int, default=300)
    parser.add_argument(
        "--ranker", choices=RANKERS, default=OBJECTIVE, help="the learned blend's model"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench/results/personal-scale.json"))
    args = parser.parse_args()

    t0 = time.perf_counter()
    log = synthetic_log(args.users, args.items, args.events_per_user, args.days, args.seed)
    built_log = time.perf_counter() - t0
    users_bytes = sum(sys.getsizeof(u) for u in log.users) + sys.getsizeof(log.users)
    log_bytes = nbytes(log.indptr, log.items, log.events, log.times) + users_bytes
    print(
        f"log: {len(log.items):,} events, {log.n_users:,} shoppers, {log_bytes / 2**30:.2f} GB "
        f"({built_log:.1f} s)",
        flush=True,
    )

    rng = np.random.default_rng(args.seed)
    embeddings = rng.normal(size=(args.items, args.dim)).astype(np.float32)
    segments = np.array([f"type{i % 40}" for i in range(args.items)])
    t0 = time.perf_counter()
    search, index_kind = index_search(embeddings, args.index)
    built_index = time.perf_counter() - t0
    print(f"index: {index_kind} ({built_index:.1f} s)", flush=True)
    options = {
        "search": search,
        "segments": segments,
        "embeddings": embeddings,
    }
    now = int(log.times.max()) + 1
    t0 = time.perf_counter()
    context = SourceContext.build(log, now, **options)
    built_context = time.perf_counter() - t0
    context_bytes = nbytes(
        context.rates,
        context.trend,
        context.trend_long,
        context.week_sales,
        context.bought,
        context.buyers,
        context.new_rows,
        context.first_seen_days,
    )
    print(f"context: {context_bytes / 2**30:.2f} GB ({built_context:.1f} s)", flush=True)

    t0 = time.perf_counter()
    ranker = train_ranker(
        log,
        now,
        28 * SECONDS_PER_DAY,
        windows=1,
        max_customers=args.train_customers,
        objective=args.ranker,
        **options,
    )
    trained = time.perf_counter() - t0
    fitted = f"{type(ranker).__name__}, {ranker.positives} bought" if ranker else "fixed"
    print(f"ranker: {fitted} ({trained:.1f} s)", flush=True)

    users = rng.choice(log.n_users, args.queries, replace=False)
    learned_picks(context, int(users[0]), ranker, 12)  # warm
    took = []
    for user in users:
        t = time.perf_counter()
        user_row = log.user_row(log.users[int(user)])
        picks = learned_picks(context, int(user_row), ranker, 12)
        took.append((time.perf_counter() - t) * 1000)
        assert len(picks.rows) == 12
    p50, p95 = np.percentile(took, [50, 95])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KB -> GB
    result = {
        "items": args.items,
        "shoppers": args.users,
        "events": int(len(log.items)),
        "embedding_dim": args.dim,
        "log_gb": round(log_bytes / 2**30, 3),
        "context_gb": round(context_bytes / 2**30, 3),
        "embeddings_gb": round(embeddings.nbytes / 2**30, 3),
        "index": index_kind,
        "build_index_s": round(built_index, 1),
        "peak_rss_gb": round(peak, 2),
        "build_log_s": round(built_log, 1),
        "build_context_s": round(built_context, 1),
        "train_s": round(trained, 1),
        "train_customers": args.train_customers,
        "learned": ranker is not None,
        "ranker": args.ranker,
        # what was fitted: "listwise+trees" fits the listwise score alone on few purchases
        "model": type(ranker).__name__ if ranker else None,
        "positives": getattr(ranker, "positives", 0),
        "answer_ms_p50": round(float(p50), 1),
        "answer_ms_p95": round(float(p95), 1),
        "queries": args.queries,
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
