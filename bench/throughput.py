"""Build throughput: our catalog-encoding pipeline vs a naive notebook-style one, side by side.

Usage:

    .venv/bin/python bench/throughput.py --bundle bundles/demo-hybrid              # full run
    .venv/bin/python bench/throughput.py --bundle /tmp/b-eff --limit 50 --runs 1 \\
        --search-queries 10 --cae-batches 2                                         # smoke run

Measured, with the same thread count for PyTorch, ONNX Runtime and faiss (``--threads``;
several counts, e.g. ``--threads 1 2``, give one row pair each):

* ours  - ``lookalike.imaging.iter_image_batches`` (thread-pool JPEG decoding in draft mode,
  letterboxed with the filter the bundle's encoder records, prefetching the next batch while
  the current one encodes) feeding the bundle's encoder in batches (ONNX Runtime for
  EfficientNet), then ``build_index``; ``--also OTHER`` runs ours with other bundles too,
  interleaved (e.g. a bundle before and after a preprocessing change);
* naive - the paper notebook's way: per image ``PIL.Image.open(path).convert('RGB')
  .resize((s, s))`` (full decode, stretched), one image per forward pass through
  PyTorch eager fp32 EfficientNet-Lite0 (``PooledBackbone``, no ONNX), features in a dict.
  ``s`` is the bundle encoder's input side (``--naive-size`` to change it, e.g. 224 for
  the network's native size), so both pipelines run the same network on the same pixels
  and the ratio measures the pipeline. The naive one computes only backbone features: for
  a hybrid bundle ours does strictly more work (head, colour histogram, index).

Images/second are medians over ``--runs`` runs (ours and naive interleaved, after a short
warm-up), and their ratio is reported (target >= 5x). Search: per-query latency of a Python
loop computing the distance to every dict entry and sorting, vs ``index.search`` over an
index of the same embeddings, one query per call.

Also: seconds per CAE training epoch at 256 px, batch 32: ``--cae-batches`` batches of the
library's own training loop (``lookalike.encoders.cae.training._run_epoch``: ConvAutoEncoder,
Adam, MSE, channels_last) plus validation batches are timed, and the per-batch median is
EXTRAPOLATED to the catalog's training split (90%) and validation split (10%).

Results go to ``bench/results/throughput.json``.
"""

from __future__ import annotations

import argparse
import math
import os
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
    set_threads,
    spread,
    timed,
    write_json,
)

TARGET_RATIO = 5.0
WARMUP_IMAGES = 4


# --- ours ----------------------------------------------------------------------------------
def ours_encode(encoder: Any, paths: list[str], batch_size: int, workers: int) -> dict[str, Any]:
    """Decode (prefetched, draft mode) + encode every path, then build the index."""
    from lookalike.encoders import encoder_resize
    from lookalike.imaging import iter_image_batches
    from lookalike.index import build_index

    started = time.perf_counter()
    parts, rows, errors = [], [], 0
    for batch in iter_image_batches(
        paths,
        encoder.input_size,
        batch_size,
        workers=workers,
        desc="ours",
        resize=encoder_resize(encoder),
    ):
        if batch.ok:
            parts.append(encoder.encode(batch.images))
            rows += batch.ok
        errors += len(batch.errors)
    encode_s = time.perf_counter() - started
    embeddings = np.concatenate(parts).astype(np.float32, copy=False)
    index, index_s = timed(lambda: build_index(embeddings, np.asarray(rows, np.int64)))
    return {
        "embeddings": embeddings,
        "index": index,
        "images": len(rows),
        "errors": errors,
        "encode_s": encode_s,
        "index_s": index_s,
        "total_s": encode_s + index_s,
    }


# --- naive ---------------------------------------------------------------------------------
def naive_model() -> Any:
    """PyTorch eager EfficientNet-Lite0 trunk + average pooling (ImageNet weights)."""
    from lookalike.encoders.pretrained import PooledBackbone

    return PooledBackbone().eval()


def naive_encode(model: Any, paths: list[str], size: int) -> dict[str, Any]:
    """The notebook way: full PIL decode, stretch to size x size, one image per forward pass."""
    import torch
    from PIL import Image

    started = time.perf_counter()
    features: dict[str, np.ndarray] = {}
    for path in paths:
        image = Image.open(path).convert("RGB").resize((size, size))
        x = (np.asarray(image, dtype=np.float32) - 127.0) / 128.0
        tensor = torch.from_numpy(x).permute(2, 0, 1).unsqueeze(0)
        with torch.no_grad():
            feature = model(tensor)[0].numpy()
        features[path] = feature / np.linalg.norm(feature)
    return {"features": features, "images": len(features), "total_s": time.perf_counter() - started}


def naive_search(features: dict[str, np.ndarray], query: np.ndarray, k: int) -> list[str]:
    """Distance from ``query`` to every stored feature in a Python loop, sorted, top k."""
    scored = []
    for key, vector in features.items():
        scored.append((float(np.sqrt(np.sum((vector - query) ** 2))), key))
    scored.sort()
    return [key for _, key in scored[:k]]


def search_latency(
    features: dict[str, np.ndarray], index: Any, embeddings: np.ndarray, queries: int, k: int
) -> dict[str, Any]:
    """Per-query ms: naive dict scan vs ``index.search`` (same gallery size, one query/call)."""
    keys = list(features)
    picks = np.linspace(0, len(keys) - 1, min(queries, len(keys))).round().astype(int)
    naive_ms, index_ms = [], []
    for i in picks:
        started = time.perf_counter()
        naive_search(features, features[keys[i]], k)
        naive_ms.append((time.perf_counter() - started) * 1e3)
    # Let the PyTorch thread pool of the naive pipeline go idle (its OpenMP workers spin for a
    # while after work and, on 2 cores, delay faiss' threads), then warm faiss up.
    time.sleep(0.5)
    for i in range(5):
        index.search(embeddings[i % len(embeddings) : i % len(embeddings) + 1], k)
    for i in np.linspace(0, len(embeddings) - 1, len(picks)).round().astype(int):
        started = time.perf_counter()
        index.search(embeddings[i : i + 1], k)
        index_ms.append((time.perf_counter() - started) * 1e3)
    naive, ours = percentiles(naive_ms), percentiles(index_ms)
    return {
        "queries": len(picks),
        "gallery": len(keys),
        "naive_scan_ms": naive,
        "index_search_ms": ours,
        "index_kind": getattr(index, "kind", type(index).__name__),
        "speedup_p50": round(naive["p50"] / ours["p50"], 1) if ours["p50"] else None,
    }


# --- CAE -----------------------------------------------------------------------------------
def cae_epoch(paths: list[str], catalog_size: int, batches: int, runs: int) -> dict[str, Any]:
    """Time CAE training batches (and validation batches) and extrapolate one epoch."""
    import torch

    from lookalike.encoders.cae import CAEConfig, ConvAutoEncoder
    from lookalike.encoders.cae.training import _run_epoch
    from lookalike.imaging import load_images

    config = CAEConfig()
    size, batch = config.input_size, config.batch_size
    needed = batches * batch
    chosen = [paths[i % len(paths)] for i in range(needed)]
    decoded = load_images(chosen, size)
    images = decoded.images
    if len(images) < 2:
        raise SystemExit("not enough decodable images to time CAE training")
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = ConvAutoEncoder(config.channels, config.bottleneck_channels)
    model.set_output_bias(float(images.mean()) / 255.0)
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    everything = np.arange(len(images))
    _run_epoch(model, images, everything[:batch], config, optimizer, generator)  # warm-up
    n_batches = math.ceil(len(images) / batch)
    val_rows = everything[: min(len(images), 2 * batch)]
    train_per_batch, val_per_batch = [], []
    for _ in range(runs):
        _, seconds = timed(
            lambda: _run_epoch(model, images, everything, config, optimizer, generator)
        )
        train_per_batch.append(seconds / n_batches)
        _, seconds = timed(lambda: _run_epoch(model, images, val_rows, config, None, generator))
        val_per_batch.append(seconds / math.ceil(len(val_rows) / batch))
    n_val = int(round(catalog_size * config.val_fraction))
    n_train = catalog_size - n_val
    train_batches, val_batches = math.ceil(n_train / batch), math.ceil(n_val / batch)
    train_s, val_s = median_of(train_per_batch), median_of(val_per_batch)
    return {
        "input_size": size,
        "batch_size": batch,
        "timed_train_batches": n_batches,
        "timed_images": int(len(images)),
        "train_s_per_batch": spread(train_per_batch, 3),
        "val_s_per_batch": spread(val_per_batch, 3),
        "catalog_items": catalog_size,
        "train_split_items": n_train,
        "val_split_items": n_val,
        "extrapolated": True,
        "epoch_train_s": round(train_s * train_batches, 1),
        "epoch_train_plus_val_s": round(train_s * train_batches + val_s * val_batches, 1),
        "note": (
            f"extrapolated from {n_batches} timed batches to {train_batches} training + "
            f"{val_batches} validation batches; excludes checkpoint writes and plotting"
        ),
    }


# --- driver --------------------------------------------------------------------------------
def choose_paths(bundle: Path, limit: int | None) -> tuple[list[str], int]:
    """The bundle's catalog image paths, ``limit`` of them spread evenly; and the full count."""
    from lookalike.bundle import read_bundle

    paths = list(read_bundle(bundle).items.paths)
    if limit is None or limit >= len(paths):
        return paths, len(paths)
    picks = np.linspace(0, len(paths) - 1, limit).round().astype(int)
    return [paths[i] for i in picks], len(paths)


def compare_build(
    bundle: Path,
    paths: list[str],
    threads: int,
    runs: int,
    batch_size: int,
    workers: int,
    naive_size: int | None = None,
    also: list[Path] | None = None,
    naive_runs_max: int | None = None,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """Interleaved runs of both pipelines; returns (ours, naive, the last run's raw results,
    ours with each bundle of ``also``). The naive pipeline resizes to ``naive_size`` (None:
    the encoder's input side) in the first ``naive_runs_max`` runs only (None: every run;
    it takes several times longer than ours)."""
    recommender, runtime = load_recommender(bundle, threads)
    encoder = recommender.encoder
    others = [(other, *load_recommender(other, threads)) for other in also or []]
    other_runs: list[list[dict[str, Any]]] = [[] for _ in others]
    size = naive_size or encoder.input_size
    model, model_s = timed(naive_model)
    set_threads(threads)  # PooledBackbone construction must not change it; make sure
    warm = paths[:WARMUP_IMAGES]
    ours_encode(encoder, warm, batch_size, workers)
    for _, other, _ in others:
        ours_encode(other.encoder, warm, batch_size, workers)
    naive_encode(model, warm, size)
    ours_runs, naive_runs = [], []
    last: dict[str, Any] = {}
    for run in range(runs):
        print(f"  run {run + 1}/{runs}: ours ...", end="", flush=True)
        last["ours"] = ours_encode(encoder, paths, batch_size, workers)
        ours_runs.append(last["ours"])
        print(f" {last['ours']['total_s']:.1f}s", end="")
        for slot, (name, other, _) in enumerate(others):
            print(f"; ours with {name.name} ...", end="", flush=True)
            other_runs[slot].append(ours_encode(other.encoder, paths, batch_size, workers))
            print(f" {other_runs[slot][-1]['total_s']:.1f}s", end="")
        if naive_runs_max is not None and run >= naive_runs_max:
            print(flush=True)
            continue
        print("; naive ...", end="", flush=True)
        last["naive"] = naive_encode(model, paths, size)
        naive_runs.append(last["naive"])
        print(f" {last['naive']['total_s']:.1f}s", flush=True)
    ours = summarise(ours_runs, ("encode_s", "index_s", "total_s"))
    ours["runtime"] = f"{encoder.name}: {runtime}, {workers} decode threads, batch {batch_size}"
    naive = summarise(naive_runs, ("total_s",))
    naive["runtime"] = (
        f"pytorch eager fp32 efficientnet-lite0 at {size} px, batch 1, {threads} threads"
    )
    naive["input_size"] = size
    naive["model_load_s"] = round(model_s, 2)
    extra = []
    for (name, other, other_runtime), runs_of in zip(others, other_runs, strict=True):
        summary = summarise(runs_of, ("encode_s", "index_s", "total_s"))
        summary["runtime"] = f"{other.encoder.name}: {other_runtime}, bundle {name}"
        extra.append(summary)
    ours["runtime"] += f", bundle {bundle}"
    return ours, naive, last, extra


def summarise(runs: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, Any]:
    """Per-run seconds and images/second as median + spread."""
    images = runs[-1]["images"]
    out: dict[str, Any] = {"images": images, "errors": runs[-1].get("errors", 0)}
    for key in keys:
        out[key] = spread([r[key] for r in runs], 3)
    out["images_per_s"] = spread([r["images"] / r["total_s"] for r in runs], 1)
    return out


def print_report(result: dict[str, Any]) -> None:
    """Tables for build throughput, search and the CAE epoch estimate."""
    builds = result["builds"]
    print(
        f"\nbuild throughput ({builds[0]['ours']['images']} images, median of "
        f"{result['runs']} run(s); min..max over runs):"
    )
    rows = []
    for build in builds:
        for name in ("ours", "naive"):
            part = build[name]
            rate = part["images_per_s"]
            rows.append(
                [
                    build["threads"],
                    name,
                    part["total_s"]["median"],
                    rate["median"],
                    f"{rate['min']:.1f}..{rate['max']:.1f}",
                    f"{build['ratio']:.1f}x" if name == "ours" else "",
                    part["runtime"],
                ]
            )
        for part in build.get("also", []):
            rate = part["images_per_s"]
            ratio = rate["median"] / build["naive"]["images_per_s"]["median"]
            rows.append(
                [
                    build["threads"],
                    "ours",
                    part["total_s"]["median"],
                    rate["median"],
                    f"{rate['min']:.1f}..{rate['max']:.1f}",
                    f"{ratio:.1f}x",
                    part["runtime"],
                ]
            )
    print(
        format_table(
            ["threads", "pipeline", "seconds", "images/s", "range", "ours/naive", "how"], rows
        )
    )
    for build in builds:
        ours = build["ours"]
        verdict = "met" if build["ratio"] >= TARGET_RATIO else "NOT met"
        print(
            f"{build['threads']} thread(s): ours = encode {ours['encode_s']['median']:.2f}s + "
            f"index build {ours['index_s']['median']:.3f}s; speed-up {build['ratio']:.1f}x "
            f"(target >= {TARGET_RATIO:.0f}x: {verdict})"
        )
    search = result["search"]
    print(
        f"\nsearch, one query per call, gallery {search['gallery']}, "
        f"{search['queries']} queries, {search['threads']} thread(s):"
    )
    rows = [
        ["naive dict scan", search["naive_scan_ms"]["p50"], search["naive_scan_ms"]["p95"]],
        [
            f"index.search ({search['index_kind']})",
            search["index_search_ms"]["p50"],
            search["index_search_ms"]["p95"],
        ],
    ]
    print(format_table(["search", "p50 ms", "p95 ms"], rows))
    print(f"speed-up at p50: {search['speedup_p50']}x")
    cae = result.get("cae")
    if cae:
        print(
            f"\nCAE training at {cae['input_size']} px, batch {cae['batch_size']} "
            f"({cae['threads']} threads):"
        )
        rows = [
            ["train batch", cae["train_s_per_batch"]["median"]],
            ["validation batch", cae["val_s_per_batch"]["median"]],
            [
                f"epoch, train only ({cae['train_split_items']} images), EXTRAPOLATED",
                cae["epoch_train_s"],
            ],
            [
                f"epoch incl. validation ({cae['val_split_items']} images), EXTRAPOLATED",
                cae["epoch_train_plus_val_s"],
            ],
        ]
        print(format_table(["CAE", "seconds"], rows))
        print(f"({cae['note']})")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run both pipelines, the search comparison and the CAE timing."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--bundle", type=Path, required=True, help="bundle whose encoder and catalog are used"
    )
    parser.add_argument(
        "--also",
        type=Path,
        nargs="*",
        default=[],
        help="more bundles whose encoders run our pipeline, interleaved",
    )
    parser.add_argument(
        "--limit", type=int, help="images to encode, spread over the catalog (None = all)"
    )
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each pipeline")
    parser.add_argument(
        "--naive-runs",
        type=int,
        help="run the naive pipeline in the first N runs only (default: all)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[os.cpu_count() or 1],
        help="torch / ONNX Runtime / faiss threads for both pipelines; several "
        "values run side by side (search and CAE use the last)",
    )
    parser.add_argument("--batch-size", type=int, default=64, help="our pipeline's batch size")
    parser.add_argument("--workers", type=int, default=2, help="our decoding threads")
    parser.add_argument(
        "--naive-size", type=int, help="the naive pipeline's input side (default: the encoder's)"
    )
    parser.add_argument("--search-queries", type=int, default=200, help="timed search queries")
    parser.add_argument("-k", type=int, default=10, help="results per search")
    parser.add_argument(
        "--cae-batches",
        type=int,
        default=10,
        help="CAE training batches timed (0 skips the CAE timing)",
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR / "throughput.json", help="JSON output file"
    )
    args = parser.parse_args(argv)
    if (args.limit is not None and args.limit < 1) or args.runs < 1 or min(args.threads) < 1:
        parser.error("--limit, --runs and --threads must be >= 1")
    if args.naive_runs is not None and args.naive_runs < 1:
        parser.error("--naive-runs must be >= 1")
    if args.batch_size < 1 or args.workers < 1 or args.search_queries < 1 or args.cae_batches < 0:
        parser.error("--batch-size, --workers, --search-queries must be >= 1, --cae-batches >= 0")

    info = machine_info()
    if warning := load_warning(info):
        print(warning)
    paths, catalog_size = choose_paths(args.bundle, args.limit)
    print(f"encoding {len(paths)} of {catalog_size} catalog images, {args.runs} run(s) each")
    result: dict[str, Any] = {
        "benchmark": "throughput",
        "bundle": str(args.bundle.resolve()),
        "threads": args.threads,
        "runs": args.runs,
        "limit": args.limit,
        "images": len(paths),
        "target_ratio": TARGET_RATIO,
        "naive_size": args.naive_size or "the encoder's input side",
        "builds": [],
    }
    last: dict[str, Any] = {}
    for threads in args.threads:
        print(f"threads={threads}:", flush=True)
        ours, naive, last, extra = compare_build(
            args.bundle,
            paths,
            threads,
            args.runs,
            args.batch_size,
            args.workers,
            args.naive_size,
            args.also,
            args.naive_runs,
        )
        ratio = ours["images_per_s"]["median"] / naive["images_per_s"]["median"]
        result["builds"].append(
            {
                "threads": threads,
                "ours": ours,
                "naive": naive,
                "ratio": round(ratio, 2),
                "also": extra,
            }
        )
    threads = args.threads[-1]
    print(f"timing search ({threads} threads) ...", flush=True)
    set_threads(threads)
    result["search"] = {
        "threads": threads,
        **search_latency(
            last["naive"]["features"],
            last["ours"]["index"],
            last["ours"]["embeddings"],
            args.search_queries,
            args.k,
        ),
    }
    if args.cae_batches:
        print(
            f"timing {args.cae_batches} CAE training batches x {args.runs} run(s) "
            f"({threads} threads) ...",
            flush=True,
        )
        set_threads(threads)
        result["cae"] = {
            "threads": threads,
            **cae_epoch(paths, catalog_size, args.cae_batches, args.runs),
        }
    print_report(result)
    result["machine"] = info
    result["machine_after"] = {"load_average_1_5_15": machine_info()["load_average_1_5_15"]}
    print(f"results: {write_json(result, 'throughput', args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
