"""The arguments of ``lookalike evaluate``: argparse only, so ``--help`` and argument
errors answer without loading the command (:mod:`lookalike.cli.evaluate` runs it)."""

from __future__ import annotations

import argparse
from pathlib import Path

#: The learned blend's models (lookalike.personal_fit.fit_ranker's objectives; the default
#: first, lookalike.personal_fit.OBJECTIVE), pinned by tests/cli/test_evaluate.py.
RANKERS = ("listwise+trees", "listwise", "pointwise", "pairwise", "trees")


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
        action="append",
        help="folder of labelled outside photos (labels.csv + images/, e.g. "
        "../shared/shopper-photos): its protocol runs on them too: the shopper-photo "
        "protocol, or with a type_map.csv (labels in another vocabulary) the type-map "
        "protocol, and with masks/ + mask_labels.csv the street-photo protocol (repeatable)",
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
        help="catalog items a photo's type needs to be scored (the shopper-photo protocol's 20)",
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
    p.set_defaults(command=("evaluate", "cmd_evaluate"))

    p = sub.add_parser(
        "evaluate-personal",
        help="personalised methods vs best-sellers: simulated shoppers, or a real event log "
        "split on time (--interactions LOG --cutoff DATE)",
    )
    p.add_argument("--bundle", type=Path, required=True, help="bundle folder")
    p.add_argument("--shoppers", type=int, default=300, help="simulated shoppers")
    p.add_argument("--seed", type=int, default=0, help="simulator seed")
    p.add_argument(
        "--interactions",
        type=Path,
        help="a real event log (user_id,item_id,event,timestamp CSV or Parquet): score on "
        "time instead of simulated shoppers (needs --cutoff)",
    )
    p.add_argument(
        "--cutoff", help="with --interactions: history before this date (e.g. 2020-09-01)"
    )
    p.add_argument(
        "--window", default="28d", help="with --interactions: the truth window after the cutoff"
    )
    p.add_argument(
        "--segment-column",
        default="ProductType",
        help="metadata column whose values are trending segments ('' for none)",
    )
    p.add_argument(
        "--colour-column",
        default="Colour",
        help="metadata column splitting each segment's new arrivals by taste ('' for none)",
    )
    p.add_argument("--title-column", default="ProductTitle", help="column naming items in reasons")
    p.add_argument(
        "--ranker",
        choices=RANKERS,
        default=RANKERS[0],
        help="with --interactions: the learned blend's model (default: the listwise score "
        "and LightGBM's trees, summed per shopper)",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="JSON output (default BUNDLE/report/personal.json, personal-time.json on a log)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(command=("evaluate", "cmd_evaluate_personal"))
