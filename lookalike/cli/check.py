"""``lookalike check``: verify a bundle's integrity, report (and with ``--repair`` remove)
orphaned files."""

from __future__ import annotations

import argparse
from pathlib import Path

from lookalike.bundle import check_bundle, collect_garbage, current_version_dir, find_orphans


def cmd_check(args: argparse.Namespace) -> int:
    """Verify a bundle's checksums and counts; report files no kept version uses (exit 0
    for those alone: they waste disk, nothing reads them) and remove them with
    ``--repair``."""
    problems = check_bundle(args.bundle)
    thumbnail_dirs = args.thumbnail_dirs or None
    if thumbnail_dirs is not None:
        thumbnail_dirs = [args.bundle / "thumbnails", *thumbnail_dirs]
    if args.repair:
        garbage = collect_garbage(args.bundle, thumbnail_dirs=thumbnail_dirs)
        print(f"repair: {garbage.summary()}")
        for problem in garbage.problems:
            print(f"problem: {problem}")
    else:
        garbage = find_orphans(args.bundle, thumbnail_dirs)
        if garbage.files:
            print(f"orphans: {garbage.summary()}; `lookalike check --repair` removes them")
            for path in garbage.files[:20]:
                print(f"  {path}")
            if len(garbage.files) > 20:
                print(f"  ... and {len(garbage.files) - 20} more")
    if problems:
        for problem in problems:
            print(f"problem: {problem}")
        return 1
    print(f"ok: {current_version_dir(args.bundle)}")
    return 0


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
    p.set_defaults(func=cmd_check)
