"""The ``lookalike`` parser and dispatcher: one module per command group, imported here
explicitly (no registration by import side effect).

Every subcommand has ``--help``. Errors a user can cause (a missing folder, an unreadable
image, an unknown id) print one line naming the problem and exit with status 2; they never
show a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lookalike.bundle import BundleError
from lookalike.catalog import CatalogError
from lookalike.cli import build, check, demo, evaluate, recommend, serve, update
from lookalike.cli.common import UsageError
from lookalike.imaging import ImageDecodeError
from lookalike.recommend import FilterError, UnknownItemError

#: Command groups in the order ``lookalike --help`` lists them; each has ``add_parsers(sub)``.
COMMAND_MODULES = (build, recommend, evaluate, demo, check, serve, update)

#: Errors a user can cause: one line and status 2, never a traceback.
USER_ERRORS = (
    UsageError,
    CatalogError,
    BundleError,
    ImageDecodeError,
    FilterError,
    UnknownItemError,
    FileNotFoundError,
    ValueError,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="lookalike",
        description="Visual apparel recommender: learn image features, index them, "
        "recommend items that look alike.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.add_parsers(sub)
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command, return its exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        print(f"lookalike {args.command}: error: {exc}", file=sys.stderr)
        return 2
