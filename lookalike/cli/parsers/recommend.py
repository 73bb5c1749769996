"""The arguments of ``lookalike recommend``: argparse only, so ``--help`` and argument
errors answer without loading the command (:mod:`lookalike.cli.recommend` runs it)."""

from __future__ import annotations

import argparse
from pathlib import Path

# A copy of lookalike.recommend.COMBINE_METHODS (importing it loads faiss and PyTorch);
# tests/cli/test_parsers.py pins them equal.
COMBINE_METHODS = ("mean", "min")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``recommend`` to the ``lookalike`` parser."""
    p = sub.add_parser("recommend", help="lookalikes for photos or catalog items")
    p.add_argument("--bundle", type=Path, required=True, help="bundle folder")
    p.add_argument("images", nargs="*", type=Path, help="query image files")
    p.add_argument("--item", action="append", help="catalog item id to query (repeatable)")
    p.add_argument(
        "--combine",
        choices=COMBINE_METHODS,
        default="mean",
        help="an --item with several photos asks with the mean of its photos (default) or "
        "with each photo, nearest wins (min)",
    )
    p.add_argument("-k", type=int, default=10, help="results per query (default 10)")
    p.add_argument(
        "--crop",
        metavar="X,Y,W,H",
        help="look only at this region of each IMAGE: fractions of its width and height "
        "(e.g. 0,0.4,1,0.6 = the lower 60%%)",
    )
    p.add_argument(
        "--look",
        action="store_true",
        help="shop the look: find every garment in each IMAGE and list lookalikes for each",
    )
    p.add_argument(
        "--filter",
        action="append",
        metavar="COLUMN=VALUE[,VALUE]",
        help="only items whose metadata matches, e.g. --filter Gender=Women",
    )
    p.add_argument(
        "--allow-duplicates",
        action="store_true",
        help="keep identical and near-identical photos under different ids in the results",
    )
    p.add_argument(
        "--like",
        action="append",
        metavar="ID|PHOTO",
        help="a liked catalog item or photo: one list for the whole profile",
    )
    p.add_argument(
        "--dislike",
        action="append",
        metavar="ID",
        help="a disliked catalog item: lookalikes of it sink",
    )
    p.add_argument(
        "--method",
        default="fusion",
        choices=["fusion", "mean"],
        help="profile method: fusion (RRF of per-item lists) or mean embedding",
    )
    p.add_argument(
        "--diversity",
        type=float,
        default=0.0,
        help="0..1: maximal-marginal-relevance trade-off (0 = off)",
    )
    p.add_argument(
        "--interactions",
        type=Path,
        help="CSV user_id,item_id,event[,timestamp] for the collaborative blend",
    )
    p.add_argument("--user", help="the shopper's user_id in --interactions")
    p.add_argument("--json", action="store_true", help="one JSON object per query")
    p.add_argument("--grid", type=Path, help="write a PNG grid: each query then its top-k")
    p.set_defaults(command=("recommend", "cmd_recommend"))
