"""The price of the CAE's embedding size: quality vs search cost of smaller embeddings.

The paper's encoder output, the flattened 8x8x32 bottleneck, is 2,048 floats. This script
takes a trained CAE bundle and compares, on the evaluation protocol:

* the flattened bottleneck (what the bundle stores),
* average-pooled bottlenecks (2x2 -> 4x4x32 = 512, 4x4 -> 2x2x32 = 128, global -> 32),
* PCA of the flattened bottleneck to 256 and 128 dimensions (fit on the catalog),

with P@10 (ProductType, Colour), exact-search time per query over the catalog, and memory
per million items. Usage::

    .venv/bin/python bench/embedding_size.py --bundle bundles/demo-cae
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def pooled_embeddings(encoder, images: np.ndarray, pool: int) -> np.ndarray:
    """CAE bottleneck average-pooled by ``pool`` (0 = global), flattened."""
    from lookalike.encoders.base import to_tensor_batch

    out = []
    with torch.inference_mode():
        for start in range(0, len(images), 64):
            z = encoder.model.encode(to_tensor_batch(images[start : start + 64]))
            z = (
                z.mean(dim=(2, 3), keepdim=True)
                if pool == 0
                else (torch.nn.functional.avg_pool2d(z, pool) if pool > 1 else z)
            )
            out.append(z.flatten(1).numpy())
    return np.concatenate(out).astype(np.float32)


def pca(vectors: np.ndarray, dim: int) -> np.ndarray:
    """Project centred vectors on their top ``dim`` principal components."""
    centred = vectors - vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return (centred @ vt[:dim].T).astype(np.float32)


def search_ms(vectors: np.ndarray, queries: int = 200) -> float:
    """Median ms of one exact (flat) search, k=10, over all ``vectors``."""
    from lookalike.index import build_index

    index = build_index(vectors, kind="flat")
    times = []
    for row in range(min(queries, len(vectors))):
        started = time.perf_counter()
        index.search(vectors[row : row + 1], 10)
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times))


def main() -> None:
    """Evaluate every embedding size variant and print/write the table."""
    from lookalike.catalog import read_duplicate_groups, read_split
    from lookalike.evaluation import evaluate_embeddings, query_rows_for_split
    from lookalike.imaging import load_images
    from lookalike.recommend import Recommender

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--bundle", type=Path, required=True, help="a bundle built with --encoder cae"
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/embedding_size.json"))
    args = parser.parse_args()

    torch.set_num_threads(2)
    rec = Recommender.from_bundle(args.bundle)
    if rec.encoder.name != "cae":
        raise SystemExit(f"{args.bundle} was built with {rec.encoder.name}, not cae")
    catalog = Path(rec.data.config["catalog"])
    split = read_split(catalog / "split.csv") if (catalog / "split.csv").is_file() else {}
    groups = (
        read_duplicate_groups(catalog / "duplicates.csv")
        if (catalog / "duplicates.csv").is_file()
        else {}
    )
    keys = [groups.get(i, h) for i, h in zip(rec.items.ids, rec.items.content_hashes, strict=True)]
    queries = query_rows_for_split(rec.items.ids, split)
    images = load_images(rec.items.paths, rec.encoder.input_size, progress=True).images
    flat = pooled_embeddings(rec.encoder, images, 1)
    side = rec.encoder.input_size // 2 ** len(rec.encoder.cfg.channels)
    variants = {"flattened bottleneck (paper)": flat}
    for pool in (2, 4):
        if pool < side:
            variants[f"avg-pool {pool}x{pool}"] = pooled_embeddings(rec.encoder, images, pool)
    variants["global avg-pool"] = pooled_embeddings(rec.encoder, images, 0)
    for dim in (256, 128):
        if dim < min(flat.shape):
            variants[f"PCA {dim} of flattened"] = pca(flat, dim)
    rows = []
    for name, vectors in variants.items():
        metrics = evaluate_embeddings(vectors, rec.items.metadata, queries, keys, name=name).metrics
        rows.append(
            {
                "variant": name,
                "dim": int(vectors.shape[1]),
                "P@10 ProductType": metrics["P@10 ProductType"],
                "P@10 Colour": metrics.get("P@10 Colour", float("nan")),
                "search_ms_per_query": search_ms(vectors),
                "GB_per_million_items": vectors.shape[1] * 4 / 1e3,
            }
        )
    print(
        f"| variant | dim | P@10 type | P@10 colour | search ms/query (n={len(flat)}) "
        "| GB per 1M items |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['variant']} | {r['dim']} | {r['P@10 ProductType']:.3f} | "
            f"{r['P@10 Colour']:.3f} | {r['search_ms_per_query']:.3f} | "
            f"{r['GB_per_million_items']:.2f} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"bundle": str(args.bundle), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
