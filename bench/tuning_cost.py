"""Fusion tuning's cost and choice when it scores all labelled catalog items or a sample
(``tune_max_items``), on a bundle's cached views (no backbone pass).

    .venv/bin/python bench/tuning_cost.py --bundle bundles/arch-s0 \\
        --views bundles/arch-work/hybrid/views-0bc0295b5cd5d13a.npy --limits 4000 1000

``--views``: the catalog's view cache (``BUNDLE/work/hybrid/views-*.npy`` with one row per
catalog photo). The labels are the bundle's build's (its label columns, test labels hidden);
archive rows are left out, so the scores are the catalog-only ones. Prints, per limit, the
seconds, the chosen weights and their validation scores; writes
``bench/results/tuning_cost.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_info, write_json  # noqa: E402

from lookalike.bundle import read_bundle  # noqa: E402
from lookalike.encoders.hybrid.config import HybridConfig  # noqa: E402
from lookalike.encoders.hybrid.head import encode_label_columns  # noqa: E402
from lookalike.encoders.hybrid.tuning import tune_fusion_weights  # noqa: E402
from lookalike.pipeline import (  # noqa: E402
    BuildConfig,
    hidden_label_ids,
    load_catalog,
    read_build_report,
    training_labels,
)
from lookalike.pipeline.decoding import decode_items, photo_items  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Tune the fusion weights once per limit and compare time and choice."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--views", type=Path, required=True, help="the catalog's view cache")
    parser.add_argument("--limits", type=int, nargs="+", default=[4000, 1000])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data = read_bundle(args.bundle)
    config = BuildConfig(**data.config)
    catalog = load_catalog(config)
    hidden = hidden_label_ids(config, (item.id for item in catalog.items))
    photos, _ = photo_items(catalog)
    workdir = Path(config.workdir) if config.workdir else args.bundle / "work"
    items, _, _, _ = decode_items(photos, 320, workdir, False, "bilinear")
    columns = read_build_report(data.version_dir)["label_columns"]
    labels = training_labels(items, columns, hidden)
    targets = {c: t for c, (t, _) in encode_label_columns(labels).items()}
    views = np.load(args.views)
    if len(views) != len(items):
        raise SystemExit(f"{args.views} has {len(views)} rows, the catalog {len(items)}")
    rows = {}
    for limit in args.limits:
        started = time.perf_counter()
        tuning = HybridConfig(seed=args.seed, tune_max_items=limit)
        best, info = tune_fusion_weights(views, targets, tuning, False)
        rows[str(limit)] = {
            "seconds": round(time.perf_counter() - started, 1),
            "best": list(best),
            "validation_items": info["validation_items"],
            "scores_at_best": info["scores"][str(best)],
        }
        print(limit, rows[str(limit)], flush=True)
    write_json({"bundle": str(args.bundle), "rows": rows, "machine": machine_info()}, "tuning_cost")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
