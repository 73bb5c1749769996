"""Issue 17's targets: the Ray encode against the in-process one, and Milvus Lite against FAISS.

    flock /tmp/lookalike-cpu.lock .venv/bin/python bench/scale.py [--runs 2] [--limit N]

1. Encode throughput (decode + letterbox + encode, from the image files) of the whole
   reference catalog with EfficientNet-Lite0: in-process (2 decode threads + the encoder) vs
   the Ray Data pipeline on a local Ray (start-up timed apart); the embeddings must agree
   to 1e-5, row for row.
2. Milvus Lite on those embeddings: recall@10 against FAISS exact for 500 catalog queries,
   filtered queries (each ProductType, and a Gender x Colour pair) returning full k, and a
   removed item never coming back.

Prints tables and writes bench/results/scale.json.
"""

from __future__ import annotations

import argparse
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
from lookalike.encoders.base import TrainingData, encode_in_batches  # noqa: E402
from lookalike.encoders.registry import encoder_class, make_config  # noqa: E402
from lookalike.imaging import load_images  # noqa: E402
from lookalike.index import build_index  # noqa: E402
from lookalike.neighbours import exact_search  # noqa: E402


def in_process(encoder, paths: list[str], size: int) -> tuple[np.ndarray, list[int], float]:
    started = time.perf_counter()
    batch = load_images(paths, size, workers=2)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--limit", type=int, help="first N catalog items only")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    import ray

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

    local_s, ray_s = [], []
    local_vectors = ok = None
    for _ in range(args.runs):
        local_vectors, ok, seconds = in_process(encoder, paths, size)
        local_s.append(seconds)
    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    ray_start = time.perf_counter() - started
    encoded = None
    for _ in range(args.runs):
        encoded = ray_encode_catalog(
            work / "encoder",
            paths,
            size,
            RayOptions(workers=args.workers, batch_size=64, progress=False),
        )
        ray_s.append(encoded.seconds)
    ray.shutdown()
    same_rows = encoded.rows == list(ok)
    max_diff = float(np.abs(encoded.embeddings - local_vectors).max()) if same_rows else None
    n = len(paths)
    encode = {
        "images": n,
        "encoder": "efficientnet-lite0",
        "input_size": size,
        "in_process_seconds": [round(s, 1) for s in local_s],
        "ray_seconds": [round(s, 1) for s in ray_s],
        "ray_start_seconds": round(ray_start, 1),
        "ray_workers": args.workers,
        "in_process_img_per_s": round(n / median_of(local_s), 1),
        "ray_img_per_s": round(n / median_of(ray_s), 1),
        "ray_vs_in_process": round(median_of(local_s) / median_of(ray_s), 3),
        "same_rows": same_rows,
        "max_abs_embedding_difference": max_diff,
    }
    print(format_table(["measure", "value"], list(encode.items())))

    metadata = [items[r].metadata for r in ok]
    ids = [items[r].id for r in ok]
    milvus = milvus_checks(local_vectors, metadata, ids, work / "milvus.db")
    print(format_table(["milvus lite", "value"], list(milvus.items())))
    path = write_json({"machine": machine_info(), "encode": encode, "milvus_lite": milvus}, "scale")
    print(f"written {path}")


if __name__ == "__main__":
    main()
