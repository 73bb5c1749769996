"""The arguments of ``lookalike check``: argparse only, so ``--help`` and argument
errors answer without loading the command (:mod:`lookalike.cli.check` runs it)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``check`` to the ``lookalike`` parser."""
    p = sub.add_parser(
        "check",
        help="verify a bundle's integrity (checksums, counts) and report orphaned files",
    )
    p.add_argument("--bundle", type=Path, required=True, help="bundle folder")
    p.add_argument(
        "--repair",
        action="store_true",
        help="remove images and thumbnails no kept version uses (under the writer lock)",
    )
    p.add_argument(
        "--thumbnail-dir",
        type=Path,
        action="append",
        dest="thumbnail_dirs",
        metavar="DIR",
        help="also check this thumbnail cache (a server's --thumbnail-dir; repeatable)",
    )
    p.set_defaults(command=("check", "cmd_check"))
