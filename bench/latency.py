"""In-process latency of one image query: read JPEG -> decode + letterbox -> encode -> search.

Usage:

    .venv/bin/python bench/latency.py --bundle bundles/demo-hybrid             # full run
    .venv/bin/python bench/latency.py --bundle /tmp/b-eff --queries 10 --runs 2  # smoke run
    .venv/bin/python bench/latency.py --bundle bundles/demo-hybrid --threads 2 --focus both
    .venv/bin/python bench/latency.py --bundle OLD NEW --threads 2 --query-threads 1 2

Several bundles, thread counts, focus modes and query-session thread counts are measured
side by side: every configuration is loaded first, then each run makes one pass over the
queries per configuration in turn, so slow spells of a shared machine hit them alike.

Each query is a different catalog photo (400 px JPEG, distinct image files spread over the
catalog), timed stage by stage with ``time.perf_counter``:

* read    - the file's bytes from disk (page cache after the first run),
* decode  - ``lookalike.imaging.load_image`` (JPEG draft decode + letterbox to the input size,
  with the filter the bundle's encoder records),
* encode  - ``encoder.encode`` on a batch of one,
* search  - ``Recommender.search_photos`` with k=10, as ``recommend_images`` runs it: the
  query expansion (one more index search; on by default, ``--expansion both`` measures it
  against the plain search), index search + duplicate collapse + result objects, and the
  expanded results' distances from the photo itself; ``index.search`` alone is timed
  separately.

For every thread count (default 1 and 2) the bundle is loaded with that many threads for
PyTorch, faiss and the ONNX Runtime sessions (``--query-threads``: the single-query
session's own count, default the same), a few untimed warm-up queries run, then ``--runs``
passes over the queries. The table shows the median over runs of each run's
p50/p95 (min..max across runs in the JSON) and the per-stage medians: the profile that shows
where the time goes. ``--focus both`` measures the garment focus (the hybrid's second look
through crops of a photo it is unsure about; on by default, as ``recommend_images`` runs it)
against the plain path, side by side in one run; ``--photos DIR`` queries with other photos
(e.g. ``../shared/shopper-photos``, where the second look happens often). Results go to
``bench/results/latency.json``. No HTTP: see
bench/http_latency.py for the served path.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    RESULTS_DIR,
    format_table,
    load_recommender,
    load_warning,
    machine_info,
    median_of,
    percentiles,
    spread,
    write_json,
)

TARGET_P50_MS = 10.0
TARGET_P95_MS = 13.0
TARGET_THREADS = 2
STAGES = ("read", "decode", "encode", "search")
#: ``--focus`` / ``--expansion`` values -> the settings measured side by side.
MODES = {"on": [True], "off": [False], "both": [False, True]}


def query_once(
    recommender: Any, path: str, k: int, focus: bool = True, expand: bool = True
) -> tuple[dict[str, float], list[str]]:
    """One query through every stage; returns (ms per stage + total, result ids). With
    ``focus`` (and a recommender that focuses: the hybrid) decode and encode are the garment
    focus's (``decode_for_focus``, ``encode_focused``: letterbox, one pass, a second one over
    the crops of a photo the encoder is unsure about), as ``recommend_images`` runs them."""
    from lookalike.encoders import encoder_resize
    from lookalike.imaging import load_image

    focus = focus and getattr(recommender, "focuses", False)
    t0 = time.perf_counter()
    data = Path(path).read_bytes()
    t1 = time.perf_counter()
    if focus:
        decoded = recommender.decode_for_focus(data)
        t2 = time.perf_counter()
        vector, _ = recommender.encode_focused([decoded])
    else:
        image = load_image(
            data, recommender.encoder.input_size, resize=encoder_resize(recommender.encoder)
        )
        t2 = time.perf_counter()
        vector = recommender.encoder.encode(image[None])
    t3 = time.perf_counter()
    found = recommender.search_photos(vector, k, expand=expand)
    t4 = time.perf_counter()
    ms = {
        "read": (t1 - t0) * 1e3,
        "decode": (t2 - t1) * 1e3,
        "encode": (t3 - t2) * 1e3,
        "search": (t4 - t3) * 1e3,
        "total": (t4 - t0) * 1e3,
    }
    return ms, [r.id for r in found[0]]


def index_search_ms(recommender: Any, vectors: np.ndarray, k: int) -> list[float]:
    """ms of ``index.search`` alone (one query per call) for each vector."""
    out = []
    for vector in vectors:
        started = time.perf_counter()
        recommender.index.search(vector[None], k)
        out.append((time.perf_counter() - started) * 1e3)
    return out


def check_matches_api(
    recommender: Any, path: str, k: int, ids: list[str], focus: bool = True, expand: bool = True
) -> bool:
    """True when ``recommend_images`` returns the same ids as the staged pipeline."""
    data = Path(path).read_bytes()
    [result] = recommender.recommend_images([data], k, focus=focus, expand=expand)
    return [r.id for r in result.results] == ids


def load_config(
    bundle: Path,
    threads: int,
    query_threads: int | None,
    paths: list[str],
    k: int,
    warmup: int,
    focus: bool,
    expand: bool = True,
) -> dict[str, Any]:
    """One configuration, loaded and warmed up: its recommender and empty timings."""
    started = time.perf_counter()
    recommender, runtime = load_recommender(bundle, threads, query_threads)
    load_s = time.perf_counter() - started
    for path in paths[:warmup]:
        query_once(recommender, path, k, focus, expand)
    return {
        "bundle": bundle,
        "threads": threads,
        "query_threads": query_threads or threads,
        "focus": focus,
        "expand": expand,
        "recommender": recommender,
        "runtime": runtime,
        "load_s": load_s,
        "run_totals": [],
        "run_p95": [],
        "all_totals": [],
        "stage_runs": {s: [] for s in (*STAGES, "index.search")},
    }


def run_pass(config: dict[str, Any], paths: list[str], k: int) -> None:
    """One timed pass over the queries; appends to ``config``'s timings."""
    recommender, focus = config["recommender"], config["focus"]
    timings = [query_once(recommender, p, k, focus, config["expand"])[0] for p in paths]
    totals = [t["total"] for t in timings]
    config["all_totals"] += totals
    config["run_totals"].append(float(np.percentile(totals, 50)))
    config["run_p95"].append(float(np.percentile(totals, 95)))
    for stage in STAGES:
        config["stage_runs"][stage].append(median_of([t[stage] for t in timings]))


def summarize(config: dict[str, Any], paths: list[str], k: int, runs: int) -> dict[str, Any]:
    """Percentiles, stage medians and a sanity check of one configuration's runs."""
    recommender, focus, stage_runs = config["recommender"], config["focus"], config["stage_runs"]
    vectors = recommender.encoder.encode(
        np.stack([recommender_image(recommender, p) for p in paths[: min(len(paths), 50)]])
    )
    for _ in range(runs):
        stage_runs["index.search"].append(median_of(index_search_ms(recommender, vectors, k)))
    expand = config["expand"]
    _, ids = query_once(recommender, paths[0], k, focus, expand)
    from lookalike.encoders import encoder_resize

    return {
        "bundle": str(config["bundle"]),
        "threads": config["threads"],
        "query_threads": config["query_threads"],
        "focus": bool(focus and getattr(recommender, "focuses", False)),
        "expansion": bool(expand),
        "runtime": config["runtime"],
        "encoder": recommender.encoder.name,
        "input_size": recommender.encoder.input_size,
        "resize": encoder_resize(recommender.encoder),
        "dim": int(recommender.encoder.dim),
        "index": getattr(recommender.index, "kind", type(recommender.index).__name__),
        "items": len(recommender),
        "load_seconds": round(config["load_s"], 2),
        "p50_ms": spread(config["run_totals"]),
        "p95_ms": spread(config["run_p95"]),
        "all_queries_ms": percentiles(config["all_totals"]),
        "stage_median_ms": {s: spread(v) for s, v in stage_runs.items()},
        "matches_recommend_images": check_matches_api(recommender, paths[0], k, ids, focus, expand),
    }


def recommender_image(recommender: Any, path: str) -> np.ndarray:
    """The letterboxed input image of ``path`` for this recommender's encoder."""
    from lookalike.encoders import encoder_resize
    from lookalike.imaging import load_image

    encoder = recommender.encoder
    return load_image(path, encoder.input_size, resize=encoder_resize(encoder))


def query_paths(bundle: Path, count: int) -> tuple[list[str], str]:
    """``count`` distinct catalog photos of the bundle and a note on their pixel sizes."""
    from collections import Counter

    from common import distinct_image_rows
    from PIL import Image

    from lookalike.bundle import read_bundle

    data = read_bundle(bundle)
    rows = distinct_image_rows(data, count)
    paths = [data.items.paths[r] for r in rows]
    sizes = Counter()
    for path in paths:
        with Image.open(path) as image:
            sizes[f"{image.width}x{image.height} {image.format}"] += 1
    note = ", ".join(f"{n} x {size}" for size, n in sizes.most_common(3))
    return paths, note


def print_report(results: list[dict[str, Any]], note: str, n_queries: int, runs: int) -> None:
    """The latency table, the stage profile and the target line."""
    print(
        f"\nqueries: {n_queries} distinct photos ({note}); {runs} run(s) each; "
        "median over runs (min..max)"
    )
    rows = []
    for r in results:
        rows.append(
            [
                config_name(r),
                r["runtime"],
                r["p50_ms"]["median"],
                f"{r['p50_ms']['min']:.2f}..{r['p50_ms']['max']:.2f}",
                r["p95_ms"]["median"],
                r["all_queries_ms"]["max"],
            ]
        )
    print(
        format_table(
            ["configuration", "encoder runtime", "p50 ms", "p50 range", "p95 ms", "max ms"], rows
        )
    )
    print("\nwhere the time goes (median ms per query stage):")
    stage_names = (*STAGES, "index.search")
    rows = []
    for r in results:
        medians = [r["stage_median_ms"][s]["median"] for s in stage_names]
        total = sum(medians[: len(STAGES)])
        rows.append([config_name(r), *medians, *[f"{100 * m / total:.0f}%" for m in medians[1:4]]])
    print(
        format_table(
            [
                "configuration",
                *[f"{s} ms" for s in stage_names],
                "decode %",
                "encode %",
                "search %",
            ],
            rows,
        )
    )
    for r in results:
        if r["threads"] == TARGET_THREADS:
            p50, p95 = r["p50_ms"]["median"], r["p95_ms"]["median"]
            verdict = "met" if p50 <= TARGET_P50_MS and p95 <= TARGET_P95_MS else "NOT met"
            print(
                f"target p50 <= {TARGET_P50_MS:.0f} ms, p95 <= {TARGET_P95_MS:.0f} ms at "
                f"{TARGET_THREADS} threads, {config_name(r)}: {verdict} "
                f"(p50 {p50:.2f}, p95 {p95:.2f} ms)"
            )
        if not r["matches_recommend_images"]:
            print(f"WARNING: staged pipeline and recommend_images disagree: {config_name(r)}")


def config_name(r: dict[str, Any]) -> str:
    """``bundle-name t2 q1 focus`` for the tables."""
    return (
        f"{Path(r['bundle']).name} ({r.get('resize', 'lanczos')}) t{r['threads']} "
        f"q{r['query_threads']} focus {'on' if r.get('focus') else 'off'} "
        f"expansion {'on' if r.get('expansion') else 'off'}"
    )


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run every thread count, print and save the results."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--bundle",
        type=Path,
        nargs="+",
        required=True,
        help="bundle folder(s), measured side by side",
    )
    parser.add_argument("--queries", type=int, default=200, help="distinct query photos")
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[1, 2],
        help="thread counts to compare (torch, faiss and ONNX Runtime)",
    )
    parser.add_argument(
        "--query-threads",
        type=int,
        nargs="+",
        default=[0],
        help="threads of the single-query ONNX session to compare (0: the "
        "thread count; 1: one thread, as before issue 19)",
    )
    parser.add_argument("--runs", type=int, default=3, help="timed passes over the queries")
    parser.add_argument("--warmup", type=int, default=5, help="untimed queries first")
    parser.add_argument("-k", type=int, default=10, help="results per query")
    for option, what in (("--focus", "garment focus"), ("--expansion", "query expansion")):
        parser.add_argument(
            option,
            choices=list(MODES),
            default="on",
            help=f"{what} on photo queries (on: as recommend_images runs; "
            "both: measure with and without, side by side)",
        )
    parser.add_argument(
        "--photos",
        type=Path,
        help="query with the photos below this folder (e.g. "
        "../shared/shopper-photos) instead of catalog photos",
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR / "latency.json", help="JSON output file"
    )
    parser.add_argument(
        "--library-threads",
        action="store_true",
        help="keep the libraries' thread pools as they come instead of "
        "`lookalike serve`'s (lookalike.threads.configure_for_queries)",
    )
    args = parser.parse_args(argv)
    if args.queries < 1 or args.runs < 1 or args.warmup < 0 or min(args.threads) < 1:
        parser.error("--queries, --runs and --threads must be >= 1, --warmup >= 0")
    if min(args.query_threads) < 0:
        parser.error("--query-threads must be >= 0")
    pools = {"blas_threads": "default", "omp_wait_policy": "default"}
    if not args.library_threads:
        from lookalike.threads import configure_for_queries

        pools = configure_for_queries()  # what `lookalike serve` runs with

    info = machine_info()
    if warning := load_warning(info):
        print(warning)
    if args.photos is not None:
        from lookalike.catalog import find_images

        found = [str(p) for p in find_images(args.photos)]
        step = max(1, len(found) // args.queries)
        paths = found[::step][: args.queries]
        note = f"photos from {args.photos}"
    else:
        paths, note = query_paths(args.bundle[0], args.queries)
    configs = []
    for bundle, threads, query_threads, focus, expand in itertools.product(
        args.bundle, args.threads, args.query_threads, MODES[args.focus], MODES[args.expansion]
    ):
        print(
            f"loading {bundle} threads={threads} query_threads="
            f"{query_threads or threads} focus={focus} expansion={expand}",
            flush=True,
        )
        configs.append(
            load_config(
                bundle, threads, query_threads or None, paths, args.k, args.warmup, focus, expand
            )
        )
    for run in range(args.runs):
        print(
            f"run {run + 1}/{args.runs}: {len(configs)} configuration(s) x {len(paths)} queries",
            flush=True,
        )
        for config in configs:
            run_pass(config, paths, args.k)
    results = [summarize(c, paths, args.k, args.runs) for c in configs]
    print_report(results, note, len(paths), args.runs)
    payload = {
        "benchmark": "latency",
        "bundle": [str(b.resolve()) for b in args.bundle],
        "queries": len(paths),
        "query_images": note,
        "runs": args.runs,
        "warmup": args.warmup,
        "k": args.k,
        "focus": args.focus,
        "thread_pools": pools,
        "target": {
            "p50_ms_max": TARGET_P50_MS,
            "p95_ms_max": TARGET_P95_MS,
            "threads": TARGET_THREADS,
            "met_by": [
                config_name(r)
                for r in results
                if r["threads"] == TARGET_THREADS
                and r["p50_ms"]["median"] <= TARGET_P50_MS
                and r["p95_ms"]["median"] <= TARGET_P95_MS
            ],
        },
        "results": results,
        "machine": info,
        "machine_after": {"load_average_1_5_15": machine_info()["load_average_1_5_15"]},
    }
    print(f"results: {write_json(payload, 'latency', args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
