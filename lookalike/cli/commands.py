"""The ``lookalike`` parser and dispatcher.

The parser is built from :mod:`lookalike.cli.parsers` (argparse only), so ``--help`` and
argument errors answer in a fraction of a second. The module that runs a command is imported
when that command runs (:func:`command_module`): the command modules load faiss, PyTorch and
FastAPI, which take seconds. That is the CLI's one exception to "imports at module level"
(``tests/test_layering.py``).

Every subcommand has ``--help``. Errors a user can cause (a missing folder, an unreadable
image, an unknown id) print one line naming the problem and exit with status 2; they never
show a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from lookalike.cli.common import UsageError
from lookalike.cli.parsers import build, check, demo, evaluate, recommend, serve, update

#: Command groups in the order ``lookalike --help`` lists them; each has ``add_parsers(sub)``.
COMMAND_PARSERS = (build, recommend, evaluate, demo, check, serve, update)
#: The command groups, by the name their parsers give in ``command=(group, function)``.
COMMAND_GROUPS = ("build", "recommend", "evaluate", "demo", "check", "serve", "update")

#: Errors a user can cause: one line and status 2, never a traceback. ValueError covers the
#: package's own (CatalogError, BundleError, ImageDecodeError, FilterError, CropError...);
#: UnknownItemError, a KeyError, is added once the command's modules are loaded.
USER_ERRORS: tuple[type[BaseException], ...] = (UsageError, FileNotFoundError, ValueError)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="lookalike",
        description="Visual apparel recommender: learn image features, index them, "
        "recommend items that look alike.",
    )
    sub = parser.add_subparsers(dest="command_name", required=True, metavar="COMMAND")
    for module in COMMAND_PARSERS:
        module.add_parsers(sub)
    return parser


def command_module(group: str) -> ModuleType:
    """The module that runs the commands of ``group`` (one of :data:`COMMAND_GROUPS`),
    imported now: only the command that runs pays for what it loads."""
    # Deferred on purpose (tests/test_layering.py DEFERRED_IMPORTS): see the module docstring.
    if group == "build":
        from lookalike.cli import build as module
    elif group == "recommend":
        from lookalike.cli import recommend as module
    elif group == "evaluate":
        from lookalike.cli import evaluate as module
    elif group == "demo":
        from lookalike.cli import demo as module
    elif group == "check":
        from lookalike.cli import check as module
    elif group == "serve":
        from lookalike.cli import serve as module
    elif group == "update":
        from lookalike.cli import update as module
    else:
        raise ValueError(f"unknown command group {group!r}")
    return module


def user_errors() -> tuple[type[BaseException], ...]:
    """:data:`USER_ERRORS` and the item-lookup error (a KeyError: catching every KeyError
    would hide bugs); called after a command module has loaded the recommender."""
    from lookalike.recommend import UnknownItemError

    return (*USER_ERRORS, UnknownItemError)


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command, return its exit status."""
    args = build_parser().parse_args(argv)
    group, function = args.command
    try:
        handler = getattr(command_module(group), function)
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except user_errors() as exc:
        print(f"lookalike {args.command_name}: error: {exc}", file=sys.stderr)
        return 2
