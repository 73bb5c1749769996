"""``lookalike evaluate`` and ``evaluate-personal``: measure a bundle."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from lookalike.cli.common import UsageError
from lookalike.cli.parsers.evaluate import add_parsers as add_parsers  # the old import path
from lookalike.events import EventLogError, parse_duration, parse_times, read_events
from lookalike.personal_eval import SimulatorConfig, evaluate_personal
from lookalike.personal_sources import recommender_search
from lookalike.personal_time import evaluate_on_time, format_time_table
from lookalike.recommend import Recommender
from lookalike.report import evaluate_bundle


def cmd_evaluate_personal(args: argparse.Namespace) -> int:
    """Simulated shoppers: personalised methods vs best-sellers (hit-rate@10, nDCG@10); with
    ``--interactions``, a real event log split on time (MAP@12, HR@12, recall@12)."""
    if args.interactions is not None:
        return _evaluate_on_time(args)
    if args.cutoff is not None:
        raise UsageError("--cutoff needs --interactions LOG")
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


def _evaluate_on_time(args: argparse.Namespace) -> int:
    """``evaluate-personal --interactions LOG --cutoff DATE [--window 28d]``."""
    if args.cutoff is None:
        raise UsageError("--interactions needs --cutoff DATE (history before it, truth after)")
    try:
        cutoff = int(parse_times([args.cutoff])[0])
        window = parse_duration(args.window)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if not args.interactions.is_file():
        raise UsageError(f"interactions file {args.interactions} does not exist")
    if "trees" in args.ranker and importlib.util.find_spec("lightgbm") is None:
        raise UsageError(f"--ranker {args.ranker} needs LightGBM: pip install lightgbm")
    recommender = Recommender.from_bundle(args.bundle)
    items = recommender.items
    item_rows = {item_id: row for row, item_id in enumerate(items.ids)}
    try:
        log = read_events(args.interactions, item_rows)
    except EventLogError as exc:
        raise UsageError(str(exc)) from exc
    if log.unknown_items:
        print(f"{log.unknown_items} events of items not in the bundle skipped")
    column = args.segment_column
    segments = np.array([m.get(column, "") for m in items.metadata]) if column else None
    colour = args.colour_column
    has_colour = colour and any(colour in m for m in items.metadata)
    colours = np.array([m.get(colour, "") for m in items.metadata]) if has_colour else None
    titles = [m.get(args.title_column, "") for m in items.metadata]
    try:
        evaluation = evaluate_on_time(
            log,
            cutoff,
            window,
            search=recommender_search(recommender),
            titles=titles,
            segments=segments,
            colours=colours,
            embeddings=recommender.embeddings,
            objective=args.ranker,
            progress=None if args.quiet else (lambda it: tqdm(it, desc="customers")),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    table = format_time_table(evaluation)
    print(table)
    out = args.out or Path(args.bundle) / "report" / "personal-time.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "bundle": str(args.bundle),
        "interactions": str(args.interactions),
        "cutoff": args.cutoff,
        "window": args.window,
        **evaluation,
        "table": table,
    }
    out.write_text(json.dumps(payload, indent=2))
    print(f"written to {out}")
    return 0
