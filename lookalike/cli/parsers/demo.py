"""The arguments of ``lookalike demo``: argparse only, so ``--help`` and argument
errors answer without loading the command (:mod:`lookalike.cli.demo` runs it)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``demo`` to the ``lookalike`` parser."""
    p = sub.add_parser(
        "demo", help="build (or reuse) a bundle of the reference catalog and show recommendations"
    )
    p.add_argument(
        "catalog", nargs="?", type=Path, help="catalog folder (default: ../shared/fashion-images)"
    )
    p.add_argument("--out", type=Path, help="bundle folder (default: bundles/demo-ENCODER)")
    p.add_argument("--encoder", help="encoder (default: hybrid)")
    p.add_argument("--epochs", type=int, help="training epochs (cae)")
    p.add_argument("--queries", type=int, default=4, help="number of example queries")
    p.add_argument("-k", type=int, default=5, help="results per query")
    p.add_argument("--rebuild", action="store_true", help="build even if a bundle exists")
    p.add_argument(
        "--archive",
        type=Path,
        action="append",
        help="labelled photos to learn from, repeatable (default: the training splits of "
        "../shared/shopper-photos, amateur-photos and street-photos, when the demo builds "
        "the reference catalog and they are there)",
    )
    p.add_argument("--no-archive", action="store_true", help="learn from the catalog only")
    p.set_defaults(command=("demo", "cmd_demo"))
