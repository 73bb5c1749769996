"""The ``lookalike`` command line: :func:`main` is the console script's entry point.

One module per command group (``build``, ``recommend``, ``evaluate``, ``demo``, ``check``,
``serve``, ``update``) with its ``cmd_*`` functions, and its arguments in
:mod:`lookalike.cli.parsers` (argparse only); :mod:`lookalike.cli.commands` builds the parser
from those and imports the group that runs, so ``--help`` answers at once. Shared pieces
(usage errors, ``KEY=VALUE`` parsing, result tables) are in :mod:`lookalike.cli.common` and
re-exported here.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from lookalike.cli.common import (
    DEMO_BUNDLES,
    SHARED_CATALOG,
    UsageError,
    default_catalog,
    display_columns,
    format_table,
    grid_rows_for,
    parse_key_values,
    parse_options,
)
from lookalike.threads import configure_for_queries


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lookalike`` console script; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["serve"]:
        # A server answers one query at a time: quiet thread pools. OpenMP reads its wait
        # policy once, when faiss or PyTorch first loads it, so this must run before the
        # commands are imported.
        configure_for_queries()
    # Imported here, not at the top: the commands load faiss, PyTorch and FastAPI (seconds),
    # and the thread settings above must come first.
    from lookalike.cli.commands import run

    return run(args)


__all__ = [
    "DEMO_BUNDLES",
    "SHARED_CATALOG",
    "UsageError",
    "default_catalog",
    "display_columns",
    "format_table",
    "grid_rows_for",
    "main",
    "parse_key_values",
    "parse_options",
]
