"""Issue 17's targets: the Ray encode against the in-process one, and Milvus Lite against FAISS.

    flock /tmp/lookalike-cpu.lock .venv/bin/python bench/scale.py [--runs 3] [--limit N]
        [--ray 2x1,1x2]

1. Encode throughput (decode + letterbox + encode, from the image files) of the whole
   reference catalog with EfficientNet-Lite0: in-process (2 decode threads + the encoder) vs
   the Ray Data pipeline as ``lookalike build --engine ray`` runs it (each run starts its
   own local Ray and stops it), for each Ray layout asked for (``WxT``: W actors of T
   threads), runs interleaved. Per Ray run: Ray start, pipeline start to the first encoded
   batch back (actor start-up, encoder load, one batch) and the rest (steady state). Ratios:
   in-process seconds / Ray seconds, with and without the Ray start, and the steady-state
   rate against the in-process rate. The embeddings must agree to 1e-5, row for row.
2. Milvus Lite on those embeddings: recall@10 against FAISS exact for 500 catalog queries,
   filtered queries (each ProductType, and a Gender x Colour pair) returning full k, and a
   removed item never coming back.

Prints tables and writes bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    DEFAULT_CATALOG,
    format_table,
    machine_info,
    median_of,
    write_json,
)

from lookalike.catalog import read_catalog  # noqa: E402
from lookalike.distributed import RayOptions, ray_encode_catalog  # noqa: E402
from lookalike.encoders import load_encoder  # noqa: E402
from lookalike.encoders.base import (  # noqa: E402
    TrainingData,
    encode_in_batches,
    encoder_resize,
)
from lookalike.encoders.registry import encoder_class, make_config  # noqa: E402
from lookalike.imaging import load_images  # noqa: E402
from lookalike.index import build_index  # noqa: E402
from lookalike.neighbours import exact_search  # noqa: E402


def in_process(encoder, paths: list[str], size: int) -> tuple[np.ndarray, list[int], float]:
    started = time.perf_counter()
    # The encoder's letterbox filter, as a build decodes (the Ray actors use it too).
    batch = load_images(paths, size, workers=2, resize=encoder_resize(encoder))
    vectors = encode_in_batches(encoder.encode, batch.images, batch_size=128)
    return vectors, batch.ok, time.perf_counter() - started


def milvus_checks(vectors: np.ndarray, metadata: list[dict], ids: list[str], db: Path) -> dict:
    rows = list(zip(ids, metadata, strict=True))
    started = time.perf_counter()
    index = build_index(vectors, kind="milvus", uri=str(db), rows=rows)
    build_s = time.perf_counter() - started
    rng = np.random.default_rng(0)
    queries = vectors[rng.choice(len(vectors), min(500, len(vectors)), replace=False)]
    _, ref = exact_search(vectors, queries, 10)
    started = time.perf_counter()
    _, got = index.search(queries, 10)
    search_ms = (time.perf_counter() - started) * 1000 / len(queries)
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ref, got, strict=True)]))
    column = lambda name: np.array([m.get(name, "") for m in metadata], dtype=object)  # noqa: E731
    full_k, filters_tried = 0, 0
    for value in sorted(set(column("ProductType")) - {""}):
        allowed = np.flatnonzero(column("ProductType") == value)
        want = min(10, len(allowed))
        _, found = index.search(queries[:20], 10, filters={"ProductType": [value]})
        ok = all((r >= 0).sum() == want and set(r[r >= 0]) <= set(allowed.tolist()) for r in found)
        full_k += ok
        filters_tried += 1
    gone = int(got[0][0])
    index.remove(np.array([gone]))
    _, after = index.search(queries, 50)
    return {
        "items": len(vectors),
        "build_seconds": round(build_s, 1),
        "recall_at_10_vs_faiss_exact": round(recall, 4),
        "search_ms_per_query_batch500": round(search_ms, 2),
        "filters_full_k": f"{full_k}/{filters_tried}",
        "removed_item_returned": bool((after == gone).any()),
    }


def ray_run(encoder_dir: Path, paths: list[str], size: int, layout: str, batch: int) -> dict:
    """One Ray encode as a build runs it (own local Ray); its phases in seconds."""
    workers, threads = (int(x) for x in layout.split("x"))
    options = RayOptions(workers=workers, threads=threads, batch_size=batch, progress=False)
    encoded = ray_encode_catalog(encoder_dir, paths, size, options)
    t = encoded.timings
    steady_images = len(paths) - min(len(paths), batch)
    return {
        "encoded": encoded,
        "ray_start": t["ray_start"],
        "first_batch": t["first_batch"],
        "pipeline": t["pipeline"],
        "with_start": t["ray_start"] + t["pipeline"],
        # After the first batch is back every actor is up: the rate the cluster sustains.
        "steady_img_per_s": steady_images / max(1e-9, t["pipeline"] - t["first_batch"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--limit", type=int, help="first N catalog items only")
    parser.add_argument(
        "--ray", default="2x1", help="Ray layouts WxT (W actors of T threads), comma separated"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    layouts = [x.strip() for x in args.ray.split(",") if x.strip()]

    catalog = read_catalog(args.catalog)
    items = catalog.items[: args.limit] if args.limit else catalog.items
    paths = [str(item.path) for item in items]
    work = Path(tempfile.mkdtemp(prefix="lookalike-scale-"))
    config = make_config("efficientnet-lite0")
    size = config.input_size
    sample = load_images(paths[:16], size).images
    encoder = encoder_class("efficientnet-lite0").fit(
        TrainingData(sample, {}, work, progress=False), config
    )
    encoder.save(work / "encoder")
    encoder = load_encoder(work / "encoder")

    local_s: list[float] = []
    runs: dict[str, list[dict]] = {layout: [] for layout in layouts}
    local_vectors = ok = None
    loads = []
    # Interleaved: in-process, then each Ray layout, run after run (load drifts alike).
    for _ in range(args.runs):
        loads.append(os.getloadavg()[0])
        local_vectors, ok, seconds = in_process(encoder, paths, size)
        local_s.append(seconds)
        for layout in layouts:
            runs[layout].append(ray_run(work / "encoder", paths, size, layout, args.batch_size))
    n = len(paths)
    local_median = median_of(local_s)
    encode: dict = {
        "images": n,
        "encoder": "efficientnet-lite0",
        "input_size": size,
        "batch_size": args.batch_size,
        "load_average_1min_before_runs": [round(x, 2) for x in loads],
        "in_process_seconds": [round(s, 1) for s in local_s],
        "in_process_img_per_s": round(n / local_median, 1),
        "ray": {},
    }
    rows = [["in-process", "-", "-", f"{local_median:.1f}", "-", f"{n / local_median:.1f}", "1"]]
    for layout, results in runs.items():
        encoded = results[-1]["encoded"]
        same_rows = encoded.rows == list(ok)
        diff = float(np.abs(encoded.embeddings - local_vectors).max()) if same_rows else None
        med = {k: median_of([r[k] for r in results]) for k in results[0] if k != "encoded"}
        encode["ray"][layout] = {
            **{
                f"{k}_seconds": [round(r[k], 1) for r in results]
                for k in ("ray_start", "first_batch", "pipeline", "with_start")
            },
            "steady_img_per_s": [round(r["steady_img_per_s"], 1) for r in results],
            "pipeline_img_per_s": round(n / med["pipeline"], 1),
            "ratio_pipeline": round(local_median / med["pipeline"], 3),
            "ratio_with_ray_start": round(local_median / med["with_start"], 3),
            "ratio_steady_state": round(med["steady_img_per_s"] / (n / local_median), 3),
            # Each run's Ray beside the in-process run just before it (load drifts between
            # runs on a shared machine; the pairs drift together).
            "ratio_pipeline_per_run": [
                round(a / r["pipeline"], 3) for a, r in zip(local_s, results, strict=True)
            ],
            "ratio_with_ray_start_per_run": [
                round(a / r["with_start"], 3) for a, r in zip(local_s, results, strict=True)
            ],
            "same_rows": same_rows,
            "max_abs_embedding_difference": diff,
        }
        rows.append(
            [
                f"Ray {layout}",
                f"{med['ray_start']:.1f}",
                f"{med['first_batch']:.1f}",
                f"{med['pipeline']:.1f}",
                f"{med['with_start']:.1f}",
                f"{n / med['pipeline']:.1f}",
                f"{encode['ray'][layout]['ratio_pipeline']:.2f} "
                f"({encode['ray'][layout]['ratio_with_ray_start']:.2f} with start, "
                f"{encode['ray'][layout]['ratio_steady_state']:.2f} steady)",
            ]
        )
    header = ["engine", "ray start", "first batch", "encode s", "+ start", "img/s", "x in-proc"]
    print(f"medians of {args.runs} runs, {n} images; load before runs {loads}")
    print(format_table(header, rows))

    metadata = [items[r].metadata for r in ok]
    ids = [items[r].id for r in ok]
    milvus = milvus_checks(local_vectors, metadata, ids, work / "milvus.db")
    print(format_table(["milvus lite", "value"], list(milvus.items())))
    path = write_json({"machine": machine_info(), "encode": encode, "milvus_lite": milvus}, "scale")
    print(f"written {path}")


if __name__ == "__main__":
    main()
