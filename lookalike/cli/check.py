"""``lookalike check``: verify a bundle's integrity."""

from __future__ import annotations

import argparse
from pathlib import Path

from lookalike.bundle import check_bundle, current_version_dir


def cmd_check(args: argparse.Namespace) -> int:
    """Verify a bundle's checksums and counts."""
    problems = check_bundle(args.bundle)
    if problems:
        for problem in problems:
            print(f"problem: {problem}")
        return 1
    print(f"ok: {current_version_dir(args.bundle)}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``check`` to the ``lookalike`` parser."""
    p = sub.add_parser("check", help="verify a bundle's integrity (checksums, counts)")
    p.add_argument("--bundle", type=Path, required=True, help="bundle folder")
    p.set_defaults(func=cmd_check)
