"""``lookalike evaluate`` and ``evaluate-personal``: measure a bundle."""

from __future__ import annotations

import argparse
from pathlib import Path

from lookalike.personal_eval import SimulatorConfig, evaluate_personal
from lookalike.report import evaluate_bundle


def cmd_evaluate_personal(args: argparse.Namespace) -> int:
    """Simulated shoppers: personalised methods vs best-sellers (hit-rate@10, nDCG@10)."""
    config = SimulatorConfig(shoppers=args.shoppers, seed=args.seed)
    out = args.out or Path(args.bundle) / "report" / "personal.json"
    evaluate_personal(args.bundle, config, out=out, progress=not args.quiet)
    print(f"written to {out}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Run the evaluation protocol on a bundle (and baselines) and write the report."""
    evaluate_bundle(
        args.bundle,
        out_dir=args.out,
        catalog=args.catalog,
        split_csv=args.split,
        primary=args.label_column,
        columns=args.also or None,
        baselines=not args.no_baselines,
        compare_bundles=args.compare or [],
        robustness=not args.no_robustness,
        progress=not args.quiet,
        queries=args.queries,
        queries_split=args.queries_split or None,
        queries_min_items=args.queries_min_items,
        focus=not args.no_focus,
        expansion=not args.no_expansion,
    )
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``evaluate`` and ``evaluate-personal`` to the ``lookalike`` parser."""
    p = sub.add_parser("evaluate", help="measure retrieval quality (P@k, mAP) of a bundle")
    p.add_argument("--bundle", type=Path, required=True, help="bundle folder")
    p.add_argument("--catalog", type=Path, help="catalog folder (default: the bundle's)")
    p.add_argument("--split", type=Path, help="id,split CSV (default: CATALOG/split.csv)")
    p.add_argument("--label-column", default="ProductType", help="relevance label column")
    p.add_argument("--also", action="append", help="more label columns for P@10 (repeatable)")
    p.add_argument("--out", type=Path, help="report folder (default: BUNDLE/report)")
    p.add_argument(
        "--compare",
        action="append",
        type=Path,
        help="another bundle to put in the same table (repeatable)",
    )
    p.add_argument("--no-baselines", action="store_true", help="skip raw-pixel/chance rows")
    p.add_argument("--no-robustness", action="store_true", help="skip degraded-copy queries")
    p.add_argument(
        "--queries",
        type=Path,
        help="folder of labelled outside photos (labels.csv + images/, e.g. "
        "../shared/shopper-photos): the shopper-photo protocol runs on them too",
    )
    p.add_argument(
        "--queries-split",
        default="auto",
        help="value of the labels' split column to query with (default: dev when present, "
        "else every photo; '' for every photo)",
    )
    p.add_argument(
        "--queries-min-items",
        type=int,
        default=20,
        help="catalog items a photo's type needs to be scored (the protocol's 20)",
    )
    p.add_argument(
        "--no-focus",
        action="store_true",
        help="query the outside photos without the garment focus (to measure what it adds)",
    )
    p.add_argument(
        "--no-expansion",
        action="store_true",
        help="query photos (outside photos, degraded copies) without query expansion",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "evaluate-personal", help="simulated shoppers: personalised methods vs best-sellers"
    )
    p.add_argument("--bundle", type=Path, required=True, help="bundle folder")
    p.add_argument("--shoppers", type=int, default=300, help="simulated shoppers")
    p.add_argument("--seed", type=int, default=0, help="simulator seed")
    p.add_argument("--out", type=Path, help="JSON output (default BUNDLE/report/personal.json)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_evaluate_personal)
