"""Scale benchmark for lookalike.index: build time, memory, latency and recall per kind.

Usage (the full run wants a machine with >= 24 GB RAM and many cores; 10M ivfpq builds
in minutes on 16 cores, hours on 2):

    python bench/index_scale.py --sizes 100000 1000000 10000000
    python bench/index_scale.py --sizes 20000 --threads 1        # smoke run

Data are synthetic clustered float32 vectors generated in deterministic chunks, so
neither the collection nor its ground truth is ever materialised: peak memory is the
index under test plus one chunk (~100 MB at 256-d) plus the ivfpq training sample.
flat and hnsw hold raw vectors and are skipped above --max-raw-items (10M x 256-d
float32 alone is 10 GB); ivfpq runs at every size.

Per (size, kind) it reports: build seconds (create + train + add), on-disk size of
``index.save`` (faiss files + sidecar), RSS growth while building (includes transient
training memory and allocator slack, so an upper bound), single-query p50/p95 latency
(one query per call, after a warm-up) and recall@10 against exact ground truth
computed by faiss IndexFlatL2 over the chunks for the first --gt-queries queries.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import faiss
import numpy as np

from lookalike import index as ix

K = 10
CHUNK_ROWS = 100_000
N_CLUSTERS = 1000
# Within-cluster spread relative to the spread of centres: neighbours are mostly in the
# same cluster but not trivially so, roughly like image embeddings of similar items.
NOISE = 0.7


class Clustered:
    """Deterministic clustered vectors: chunk c is a function of (seed, c) only."""

    def __init__(self, n: int, dim: int, seed: int):
        self.n, self.dim, self.seed = n, dim, seed
        self.centers = np.random.default_rng([seed, 0]).standard_normal(
            (N_CLUSTERS, dim), dtype=np.float32
        )

    def _draw(self, rng: np.random.Generator, rows: int) -> np.ndarray:
        x = self.centers[rng.integers(N_CLUSTERS, size=rows)]
        x += NOISE * rng.standard_normal((rows, self.dim), dtype=np.float32)
        return x

    def chunks(self) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (first row, vectors) chunks covering rows 0..n-1."""
        for c, start in enumerate(range(0, self.n, CHUNK_ROWS)):
            rows = min(CHUNK_ROWS, self.n - start)
            yield start, self._draw(np.random.default_rng([self.seed, 1, c]), rows)

    def head(self, rows: int) -> np.ndarray:
        """The first ``rows`` rows (rows are i.i.d., so this is a random sample)."""
        parts, have = [], 0
        for _, x in self.chunks():
            parts.append(x[: rows - have])
            have += len(parts[-1])
            if have >= rows:
                break
        return np.concatenate(parts)

    def queries(self, nq: int) -> np.ndarray:
        # Same distribution, different stream: queries are not in the collection.
        return self._draw(np.random.default_rng([self.seed, 2]), nq)


def release_memory() -> None:
    """Collect garbage and hand freed heap back to the OS so RSS deltas mean something."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: deltas are just noisier
        pass


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def ground_truth(data: Clustered, queries: np.ndarray) -> np.ndarray:
    """Exact top-K ids over all chunks with faiss IndexFlatL2 and a running heap."""
    heap = faiss.ResultHeap(len(queries), K)
    for start, x in data.chunks():
        flat = faiss.IndexFlatL2(data.dim)
        flat.add(x)
        d, i = flat.search(queries, K)
        heap.add_result(d, np.where(i >= 0, i + start, -1))
    heap.finalize()
    return heap.I


def build(kind: str, data: Clustered, params: dict) -> ix.VectorIndex:
    if kind == "ivfpq":
        # Train on a sample with the nlist the full collection would get.
        params = {"nlist": ix.default_nlist(data.n), **params}
        index = ix.create_index(kind, data.dim, **params)
        sample_rows = max(64 * params["nlist"], 65_536)
        index.train(data.head(min(data.n, sample_rows)))
    else:
        index = ix.create_index(kind, data.dim, **params)
    for start, x in data.chunks():
        index.add(x, np.arange(start, start + len(x), dtype=np.int64))
    return index


def disk_bytes(index: ix.VectorIndex, tmp_root: str | None) -> int:
    directory = Path(tempfile.mkdtemp(prefix="index_scale_", dir=tmp_root))
    try:
        index.save(directory)
        return sum(p.stat().st_size for p in directory.iterdir())
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def latency_ms(index: ix.VectorIndex, queries: np.ndarray) -> tuple[float, float]:
    for q in queries[:5]:  # warm caches and faiss' lazily allocated tables
        index.search(q[None, :], K)
    times = []
    for q in queries:
        t = time.perf_counter()
        index.search(q[None, :], K)
        times.append(time.perf_counter() - t)
    p50, p95 = np.percentile(np.array(times) * 1e3, [50, 95])
    return float(p50), float(p95)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [len(set(f[f >= 0]) & set(t)) for f, t in zip(found, truth, strict=True)]
    return float(np.sum(hits) / truth.size)


def run_one(size: int, kind: str, data: Clustered, queries: np.ndarray, gt, args) -> dict:
    release_memory()
    rss0 = rss_bytes()
    t = time.perf_counter()
    index = build(kind, data, {})
    build_s = time.perf_counter() - t
    release_memory()
    rss_delta = rss_bytes() - rss0
    p50, p95 = latency_ms(index, queries)
    _, found = index.search(queries[: len(gt)], K)
    row = {
        "size": size,
        "kind": kind,
        "dim": data.dim,
        "params": index.params(),
        "build_s": round(build_s, 3),
        "index_bytes": disk_bytes(index, args.tmp_dir),
        "rss_delta_bytes": int(rss_delta),
        "p50_ms": round(p50, 4),
        "p95_ms": round(p95, 4),
        "recall_at_10": round(recall_at_k(found, gt), 4),
        "recall_queries": len(gt),
    }
    if kind == "ivfpq" and args.k_factors:
        row["k_factor_sweep"] = k_factor_sweep(index, queries, gt, args.k_factors)
    del index
    return row


def k_factor_sweep(index, queries: np.ndarray, gt: np.ndarray, k_factors: list[int]) -> list:
    """Recall and latency of one trained IVF-PQ index re-ranking k * k_factor candidates."""
    auto = index.params()["k_factor"]
    rows = []
    for k_factor in k_factors:
        index._params["k_factor"] = k_factor  # a search-time knob: no rebuild needed
        p50, p95 = latency_ms(index, queries)
        _, found = index.search(queries[: len(gt)], K)
        rows.append({"k_factor": k_factor, "p50_ms": round(p50, 4), "p95_ms": round(p95, 4),
                     "recall_at_10": round(recall_at_k(found, gt), 4)})  # fmt: skip
        print(f"{'':>17} k_factor {k_factor:>4}: p50 {p50:.3f} ms, p95 {p95:.3f} ms, "
              f"recall@10 {rows[-1]['recall_at_10']:.3f}", flush=True)  # fmt: skip
    index._params["k_factor"] = auto
    return rows


def print_row(row: dict) -> None:
    if "skipped" in row:
        print(f"{row['size']:>10} {row['kind']:>6}  skipped: {row['skipped']}", flush=True)
        return
    print(
        f"{row['size']:>10} {row['kind']:>6} {row['build_s']:>9.2f} "
        f"{row['index_bytes'] / 2**20:>10.1f} {row['rss_delta_bytes'] / 2**20:>9.1f} "
        f"{row['p50_ms']:>8.3f} {row['p95_ms']:>8.3f} {row['recall_at_10']:>9.3f}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--gt-queries", type=int, default=100, help="queries scored for recall")
    parser.add_argument("--kinds", nargs="+", default=list(ix.INDEX_KINDS))
    parser.add_argument(
        "--max-raw-items",
        type=int,
        default=ix.HNSW_MAX_ITEMS,
        help="skip flat/hnsw above this size (they keep raw float32 vectors)",
    )
    parser.add_argument("--threads", type=int, default=None, help="faiss OpenMP threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--k-factors",
        type=int,
        nargs="*",
        default=[],
        help="also search each IVF-PQ index re-ranking k * each of these",
    )
    parser.add_argument("--tmp-dir", default=None, help="where index.save is measured")
    parser.add_argument("--out", type=Path, default=Path("bench/results/index_scale.json"))
    args = parser.parse_args(argv)
    unknown = sorted(set(args.kinds) - set(ix.INDEX_KINDS))
    if unknown:
        parser.error(f"unknown kinds {unknown}; known: {', '.join(ix.INDEX_KINDS)}")
    if args.threads is not None:
        ix.set_threads(args.threads)

    results = []
    print(
        f"{'size':>10} {'kind':>6} {'build_s':>9} {'disk_MiB':>10} {'rss_MiB':>9} "
        f"{'p50_ms':>8} {'p95_ms':>8} {'recall@10':>9}"
    )
    for size in args.sizes:
        data = Clustered(size, args.dim, args.seed)
        queries = data.queries(args.queries)
        gt = ground_truth(data, queries[: min(args.gt_queries, args.queries)])
        for kind in args.kinds:
            if kind != "ivfpq" and size > args.max_raw_items:
                row = {"size": size, "kind": kind, "skipped": "raw vectors too large"}
            else:
                row = run_one(size, kind, data, queries, gt, args)
            results.append(row)
            print_row(row)

    report = {
        "config": {
            "sizes": args.sizes,
            "dim": args.dim,
            "queries": args.queries,
            "gt_queries": args.gt_queries,
            "kinds": args.kinds,
            "threads": args.threads or faiss.omp_get_max_threads(),
            "seed": args.seed,
            "faiss": faiss.__version__,
            "numpy": np.__version__,
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
