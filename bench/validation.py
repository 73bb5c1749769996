"""Validation-only comparison of fusion weightings: the measurement behind the hybrid's design.

Usage:

    .venv/bin/python bench/validation.py                          # seeds 0 1 2, default mixes
    .venv/bin/python bench/validation.py --seeds 0 --weights 1,0,0.25,1,0 1,0,0.5,1,0.5
    .venv/bin/python bench/validation.py --set primary_class_weight=1 --set colour_class_weight=1

For each seed's bundle (``bundles/quality/hybrid-seed<S>``, built by ``bench/quality.py``) it
reuses the cached backbone views in ``work/hybrid``, holds out the first validation fifth the
fusion tuning uses (labelled *train* items only; test labels are never read), trains a head
without their labels, and reports for each fusion weighting (head, colour, backbone, classes,
instance), PCA-projected as the bundle is: P@1 / P@10 ProductType and P@10 ProductType AND
Colour among labelled items (identical images skipped), and per degradation the recall@1/@10
of degraded copies of the held-out items against the whole catalog, a hit being the item or
an identical image (as ``lookalike.report.degraded_copy_recall`` counts on test). Means over
seeds are printed and written to ``bench/results/validation.json``.

Cost: one head training (~40 s) and one backbone pass over 5 x 465 degraded images (~25 s)
per seed; the views cache must exist (build the bundle first).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

from lookalike.bundle import read_bundle
from lookalike.cli import parse_options
from lookalike.degrade import DEGRADATIONS, degrade_batch
from lookalike.encoders import load_encoder
from lookalike.encoders.base import apply_pca, fit_pca
from lookalike.encoders.hybrid import (
    encode_label_columns,
    fuse,
    fusion_parts,
    head_to_numpy,
    hide_labels,
    split_parts,
    train_head,
    validation_fifth,
)
from lookalike.evaluation import instance_recall, label_precision
from lookalike.imaging import load_images
from lookalike.pipeline import (
    BuildConfig,
    choose_label_columns,
    hidden_label_ids,
    training_labels,
)
from lookalike.report import group_keys_for

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, machine_info, write_json  # noqa: E402


def parse_weights(text: str) -> tuple[float, ...]:
    """'1,0,0.5,1,0.5' -> a fusion weighting (missing trailing parts are 0)."""
    values = [float(v) for v in text.split(",")]
    if not 1 <= len(values) <= 5:
        raise argparse.ArgumentTypeError(f"expected up to 5 comma-separated weights: {text!r}")
    return tuple(values + [0.0] * (5 - len(values)))


def measure_seed(
    bundle_dir: Path, weightings: list[tuple[float, ...]], options: dict | None = None
) -> dict:
    """Validation metrics of each weighting on one seed's bundle (see the module docstring);
    ``options`` override the bundle's encoder options (e.g. ``primary_class_weight``)."""
    data = read_bundle(bundle_dir)
    encoder = load_encoder(data.encoder_dir)
    unknown = set(options or {}) - {f.name for f in dataclasses.fields(encoder.cfg)}
    if unknown:
        raise SystemExit(f"--set: the hybrid encoder has no option(s) {sorted(unknown)}")
    config = dataclasses.replace(encoder.cfg, **(options or {}))
    caches = sorted((bundle_dir / "work" / "hybrid").glob("views-*.npy"))
    if not caches:
        raise SystemExit(f"no cached views in {bundle_dir}/work/hybrid: build the bundle first")
    views = np.load(caches[-1])
    items = data.items
    # The labels the bundle was built with (its BuildConfig: split, label columns).
    build = BuildConfig(**data.config)
    hidden = hidden_label_ids(build)
    columns = choose_label_columns(items.metadata, build.label_columns)
    labels = training_labels(items, columns, hidden)
    targets = {c: t for c, (t, _) in encode_label_columns(labels).items()}
    primary, colour = targets[config.primary_label], targets["Colour"]
    labelled = np.flatnonzero(primary >= 0)
    val = validation_fifth(labelled, config.seed)  # the first fifth the fusion tuning holds out
    head = head_to_numpy(train_head(views, hide_labels(targets, val), config, progress=True))
    keys = np.array(group_keys_for(data, Path(build.catalog)), dtype=object)
    _, groups = np.unique(keys, return_inverse=True)
    catalog_parts = fusion_parts(head, *split_parts(views[:, 0], config), config)
    originals = load_images([items.paths[r] for r in val], config.input_size)
    degraded = {
        name: fusion_parts(
            head,
            *encoder.parts(degrade_batch(originals.images, name, seed=0)),
            config,
        )
        for name in DEGRADATIONS
    }
    out = {}
    for weights in weightings:
        fused = fuse(catalog_parts, weights)
        pca = fit_pca(fused, config.pca_dim) if config.pca_dim else None
        embeddings = apply_pca(fused, pca)
        first, p10 = label_precision(embeddings, val, labelled, [primary], 10, groups)
        _, joint = label_precision(embeddings, val, labelled, [primary, colour], 10, groups)
        row = {"P@1": first, "P@10": p10, "P@10 type AND colour": 2 * joint - p10}
        for name, parts in degraded.items():
            queries = apply_pca(fuse(parts, weights), pca)
            recalls = instance_recall(queries, embeddings, val, groups=groups)
            row[f"{name} R@1"], row[f"{name} R@10"] = recalls
        for k in ("R@1", "R@10"):
            row[k] = float(np.mean([row[f"{name} {k}"] for name in DEGRADATIONS]))
        out[",".join(f"{w:g}" for w in weights)] = row
    return out


def main() -> None:
    """Measure every weighting on every seed; print means; write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("bundles/quality"),
        help="folder holding hybrid-seed<S> bundles",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--weights",
        type=parse_weights,
        nargs="+",
        default=[
            parse_weights(w)
            for w in ("1,0,0.25,1,0", "1,0,1,1,0", "1,0,0.5,1,0.5", "1,0,0.25,1,0.5")
        ],
        help="fusion weightings: head,colour,backbone,classes,instance",
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="OPTION=VALUE",
        help="override a hybrid option of the bundles, e.g. "
        "--set primary_class_weight=1 (options the head or fusion reads)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "validation.json")
    args = parser.parse_args()
    options = parse_options(args.set)
    per_seed = {}
    for seed in args.seeds:
        bundle_dir = args.work / f"hybrid-seed{seed}"
        print(f"seed {seed}: {bundle_dir}", flush=True)
        per_seed[seed] = measure_seed(bundle_dir, args.weights, options)
    columns = ["P@1", "P@10", "P@10 type AND colour", "R@1", "R@10"]
    print("\n| weights (head, colour, backbone, classes, instance) | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    means = {}
    for key in per_seed[args.seeds[0]]:
        means[key] = {
            m: float(np.mean([per_seed[s][key][m] for s in args.seeds]))
            for m in per_seed[args.seeds[0]][key]
        }
        print(f"| {key} | " + " | ".join(f"{means[key][c]:.3f}" for c in columns) + " |")
    payload = {
        "benchmark": "validation",
        "seeds": args.seeds,
        "options": options,
        "per_seed": {str(s): v for s, v in per_seed.items()},
        "mean": means,
        "machine": machine_info(),
    }
    print(f"results: {write_json(payload, 'validation', args.out)}")


if __name__ == "__main__":
    main()
