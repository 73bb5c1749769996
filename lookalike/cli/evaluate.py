"""``lookalike evaluate`` and ``evaluate-personal``: measure a bundle."""

from __future__ import annotations

import argparse
from pathlib import Path

from lookalike.cli.parsers.evaluate import add_parsers as add_parsers  # the old import path
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
