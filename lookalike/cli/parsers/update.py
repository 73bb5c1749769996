"""The arguments of ``lookalike update``: argparse only, so ``--help`` and argument
errors answer without loading the command (:mod:`lookalike.cli.update` runs it)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``add`` and ``remove`` to the ``lookalike`` parser."""
    p = sub.add_parser("add", help="add images to a bundle (a new version; no rebuild)")
    p.add_argument("--bundle", type=Path, required=True, help="bundle folder")
    p.add_argument("images", nargs="+", type=Path, help="image files or folders")
    p.add_argument("--metadata", type=Path, help="CSV with id/image columns and metadata")
    p.add_argument("--id-column", help="CSV column holding the item id")
    p.add_argument("--image-column", help="CSV column holding the image file name")
    p.add_argument(
        "--replace", action="store_true", help="replace items whose id exists (default: skip)"
    )
    p.add_argument(
        "--product",
        metavar="ID",
        help="the images are photos of this one product: added to it, or a new product",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="COLUMN=VALUE",
        help="a new --product's metadata (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(command=("update", "cmd_add"))

    p = sub.add_parser("remove", help="remove items from a bundle by id (a new version)")
    p.add_argument("--bundle", type=Path, required=True, help="bundle folder")
    p.add_argument("ids", nargs="+", help="item ids to remove")
    p.add_argument(
        "--photo",
        type=int,
        action="append",
        dest="photos",
        metavar="N",
        help="remove only photo N of the item (repeatable); its other photos stay",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(command=("update", "cmd_remove"))
