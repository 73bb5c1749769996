"""What the shopper-photo design rests on, measured on an archive hold-out (never on dev).

Usage:

    .venv/bin/python bench/shopper_validation.py --work bundles/demo-hybrid/work

``--work``: the work folder of a hybrid build of the reference catalog (its cached backbone
views ``hybrid/views-*.npy``; after a build with ``--archive`` the archive's views too, else
they are computed and cached there). The ``archive`` photos of ``../shared/shopper-photos``
are split (seeded) into 1,200 that teach the head and 300 held out as queries. One head is
trained on the catalog alone and one on the catalog plus the 1,200 (same fusion weights:
``--weights``), and each is scored on the held-out photos whose type has >= 20 catalog items
(P@10 type and type AND colour, overall and per category, k = 10 over the whole catalog, no
duplicate collapse), querying with:

* the whole photo;
* the most confident of the whole photo and the crops (``best4``: centre, upper, lower;
  ``best5`` adds a middle band; ``best3`` drops the centre), ``wavg`` a confidence-weighted
  mean of the four views' embeddings;
* ``best4`` only when the whole photo's top type probability is below a threshold;
* the whole photo and ``best4 below FOCUS_THRESHOLD`` (the default focus) with query expansion
  (:mod:`lookalike.expansion`: moved a fifth of the way towards the mean of their 10 nearest
  catalog items).

The catalog's test split is scored too. Prints one line per variant and writes
``bench/results/shopper_validation.json``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEFAULT_CATALOG, RESULTS_DIR, write_json  # noqa: E402

from lookalike.catalog import read_catalog, read_duplicate_groups, read_split  # noqa: E402
from lookalike.degrade import random_augment  # noqa: E402
from lookalike.encoders.base import apply_pca, fit_pca  # noqa: E402
from lookalike.encoders.focus import FOCUS_CROPS, FOCUS_THRESHOLD, top_probability  # noqa: E402
from lookalike.encoders.hybrid.config import HybridConfig  # noqa: E402
from lookalike.encoders.hybrid.encoder import HybridEncoder  # noqa: E402
from lookalike.encoders.hybrid.fusion import fuse, fusion_parts, split_parts  # noqa: E402
from lookalike.encoders.hybrid.head import (  # noqa: E402
    encode_label_columns,
    head_outputs,
    head_to_numpy,
    train_head,
)
from lookalike.evaluation import (  # noqa: E402
    evaluate_embeddings,
    query_set_metrics,
    scored_queries,
)
from lookalike.expansion import EXPANSION_NEIGHBOURS, expand_queries  # noqa: E402
from lookalike.imaging import crop_image, letterbox, open_rgb  # noqa: E402
from lookalike.labelled import read_labelled_photos  # noqa: E402
from lookalike.neighbours import exact_search  # noqa: E402

COLUMNS = ["Gender", "Category", "SubCategory", "ProductType", "Colour", "Usage"]
EXTRA_CROP = (0.0, 0.2, 1.0, 0.6)  # the middle band (best5)
HOLD_OUT = 300


def archive_views(photos, config: HybridConfig, work: Path) -> np.ndarray:
    """Training views (n, views + 2, width) of the archive photos as the hybrid caches them:
    read from a build with ``--archive`` in ``work`` when there is one, else computed and
    cached in ``work``."""
    for path in sorted((work / "hybrid").glob("views-*.npy")):
        cached = np.load(path, mmap_mode="r")
        if cached.shape[0] == len(photos) and cached.shape[1] == config.views + 2:
            return np.asarray(cached)
    cache = work / f"shopper-validation-{photos.digest()[:16]}-seed{config.seed}.npy"
    if cache.exists():
        return np.load(cache)
    encoder = HybridEncoder(config, None, work / "hybrid", "pending", False)
    rng = np.random.default_rng(config.seed)
    width = encoder.backbone.dim + config.colour_bins**3
    views = np.zeros((len(photos), config.views + 2, width), np.float16)
    for start in range(0, len(photos), 32):
        pil = [open_rgb(p) for p in photos.paths[start : start + 32]]
        clean = np.stack([letterbox(im, config.input_size, resize=config.resize) for im in pil])
        batches = [clean, np.ascontiguousarray(clean[:, :, ::-1])]
        for _ in range(config.views):
            batches.append(np.stack([random_augment(im, rng) for im in clean]))
        for v, batch in enumerate(batches):
            views[start : start + len(pil), v] = np.concatenate(encoder.parts(batch), axis=1)
    np.save(cache, views)
    return views


def crop_views(paths: list[str], config: HybridConfig, work: Path) -> np.ndarray:
    """(n, 4, width): backbone + colour features of the centre, upper, lower and middle crops."""
    encoder = HybridEncoder(config, None, work / "hybrid", "pending", False)
    boxes = [*FOCUS_CROPS.values(), EXTRA_CROP]
    out = np.zeros((len(paths), len(boxes), encoder.backbone.dim + config.colour_bins**3))
    for start in range(0, len(paths), 32):
        pil = [open_rgb(p) for p in paths[start : start + 32]]
        for j, box in enumerate(boxes):
            size, resize = config.input_size, config.resize
            batch = np.stack([letterbox(crop_image(im, box), size, resize=resize) for im in pil])
            out[start : start + len(pil), j] = np.concatenate(encoder.parts(batch), axis=1)
    return out.astype(np.float16)


def main(argv: list[str] | None = None) -> int:
    """Train the two heads, score every query variant on the hold-out, print, save."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--work",
        type=Path,
        required=True,
        help="work folder of a hybrid build of the reference catalog",
    )
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    parser.add_argument("--photos", type=Path, default=DEFAULT_CATALOG.parent / "shopper-photos")
    parser.add_argument(
        "--weights",
        default="1,0,1,2,0.5",
        help="fusion weights (head, colour, backbone, classes, instance); the default is what "
        "the archive-aware tuning picks for the default bundle",
    )
    parser.add_argument("--seed", type=int, default=0, help="head seed (views: seed 0)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "shopper_validation.json")
    args = parser.parse_args(argv)

    catalog = read_catalog(args.catalog)
    meta = [item.metadata for item in catalog.items]
    ids = [item.id for item in catalog.items]
    split = read_split(args.catalog / "split.csv")
    [cache] = [p for p in (args.work / "hybrid").glob("views-*.npy")
               if np.load(p, mmap_mode="r").shape[0] == len(ids)]  # fmt: skip
    catalog_views = np.load(cache)
    weights = tuple(float(w) for w in args.weights.split(","))
    config = HybridConfig(weights=weights, tune=False, seed=args.seed)
    photos = read_labelled_photos(args.photos, split="archive", columns=COLUMNS)
    views = archive_views(photos, dataclasses.replace(config, seed=0), args.work)
    # The hold-out: a seeded permutation of the archive rows in labels.csv order.
    with open(args.photos / "labels.csv", newline="") as handle:
        in_file = [r["id"] for r in csv.DictReader(handle) if r.get("split") == "archive"]
    position = {item.id: row for row, item in enumerate(photos.items)}
    order = np.array([position[i] for i in np.random.default_rng(123).permutation(in_file)])
    held, taught = np.sort(order[:HOLD_OUT]), np.sort(order[HOLD_OUT:])
    hidden = {
        c: ["" if split.get(i) == "test" else m.get(c, "") for i, m in zip(ids, meta, strict=True)]
        for c in COLUMNS
    }
    groups = read_duplicate_groups(args.catalog / "duplicates.csv")
    keys = [f"group:{groups[i]}" if i in groups else f"id:{i}" for i in ids]
    test_rows = np.array([r for r, i in enumerate(ids) if split.get(i) == "test"])
    catalog_types = [m.get("ProductType", "") for m in meta]
    held_types = [photos.items[r].metadata.get("ProductType", "") for r in held]
    held = held[scored_queries(held_types, catalog_types)]
    crops = crop_views([photos.paths[r] for r in held], config, args.work)

    def train(rows: np.ndarray) -> dict[str, np.ndarray]:
        labels = {c: list(v) + [photos.items[r].metadata.get(c, "") for r in rows]
                  for c, v in hidden.items()}  # fmt: skip
        targets = {c: t for c, (t, _) in encode_label_columns(labels).items()}
        features = np.concatenate([catalog_views, views[rows]])
        return head_to_numpy(train_head(features, targets, config))

    def embed(params, features, pca=None):
        parts = fusion_parts(params, *split_parts(features, config), config)
        return apply_pca(fuse(parts, config.weights), pca)

    def confidence(params, features) -> np.ndarray:
        z, _ = head_outputs(params, np.concatenate(split_parts(features, config), axis=1))
        return top_probability(z @ params["class.ProductType"].T / config.temperature)

    def score(params, query: np.ndarray, catalog_embeddings: np.ndarray) -> dict:
        _, found = exact_search(catalog_embeddings, query.astype(np.float32), 10)
        labels = {c: np.array([[meta[r].get(c, "") for r in row] for row in found], dtype=object)
                  for c in ("ProductType", "Colour")}  # fmt: skip
        wanted = {c: [photos.items[r].metadata.get(c, "") for r in held]
                  for c in ("ProductType", "Colour")}  # fmt: skip
        cats = [photos.items[r].metadata.get("Category", "") for r in held]
        return query_set_metrics(wanted, labels, cats)

    report: dict = {"held_out_scored": int(len(held)), "weights": list(weights), "heads": {}}
    for name, rows in (("catalog only", np.array([], np.int64)), ("catalog + archive", taught)):
        params = train(rows)
        full = embed(params, catalog_views[:, 0])
        pca = fit_pca(full, 256)
        catalog_embeddings = apply_pca(full, pca)
        test = evaluate_embeddings(catalog_embeddings, meta, test_rows, keys).metrics
        candidates = [views[held, 0]] + [crops[:, j] for j in range(crops.shape[1])]
        embs = [embed(params, c, pca) for c in candidates]
        conf = np.stack([confidence(params, c) for c in candidates], axis=1)

        def pick(use: list[int], threshold: float | None = None, conf=conf, embs=embs):
            chosen = np.array(use)[conf[:, use].argmax(axis=1)]
            if threshold is not None:
                chosen = np.where(conf[:, 0] >= threshold, 0, chosen)
            return np.stack([embs[c][i] for i, c in enumerate(chosen)])

        weights4 = conf[:, :4] ** 4 / (conf[:, :4] ** 4).sum(axis=1, keepdims=True)
        variants = {
            "whole photo": embs[0],
            "best4 (whole, centre, upper, lower)": pick([0, 1, 2, 3]),
            "best5 (+ middle band)": pick([0, 1, 2, 3, 4]),
            "best3 (no centre)": pick([0, 2, 3]),
            "wavg (confidence^4-weighted mean)": sum(weights4[:, [j]] * embs[j] for j in range(4)),
        }
        for threshold in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
            variants[f"best4 below {threshold}"] = pick([0, 1, 2, 3], threshold)
        for base in ("whole photo", f"best4 below {FOCUS_THRESHOLD}"):
            query = variants[base].astype(np.float32)
            distances, rows = exact_search(catalog_embeddings, query, EXPANSION_NEIGHBOURS)
            variants[f"{base} + expansion"] = expand_queries(
                query, distances, rows, catalog_embeddings
            )
        results = {}
        for variant, query in variants.items():
            results[variant] = score(params, query, catalog_embeddings)
            m = results[variant]
            print(
                f"{name:18} {variant:36} P@10 type all {m['all']['P@10 ProductType']:.3f} "
                f"apparel {m.get('Apparel', {}).get('P@10 ProductType', float('nan')):.3f} "
                f"footwear {m.get('Footwear', {}).get('P@10 ProductType', float('nan')):.3f} "
                f"type AND colour {m['all']['P@10 ProductType+Colour']:.3f}",
                flush=True,
            )
        print(
            f"{name:18} catalog test split: P@10 type {test['P@10 ProductType']:.3f}, "
            f"type AND colour {test['P@10 ProductType+Colour']:.3f}",
            flush=True,
        )
        report["heads"][name] = {
            "catalog_test": test,
            "hold_out": results,
            "whole_photo_confidence_median": float(np.median(conf[:, 0])),
        }
    print(f"results: {write_json(report, 'shopper_validation', args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
