"""``lookalike check``: verify a bundle's integrity, report (and with ``--repair`` remove)
orphaned files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lookalike.bundle import (
    BUILD_REPORT,
    BundleError,
    check_bundle,
    collect_garbage,
    current_version_dir,
    find_orphans,
    read_bundle,
)
from lookalike.cli.parsers.check import add_parsers as add_parsers  # the old import path

#: Catalog problems ``check`` repeats from the build report: a product's CSV rows that
#: disagree on its metadata (the first row's was kept).
DISAGREEMENT = "disagrees with its first row"


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
    print_catalog_notes(args.bundle)
    print(f"ok: {current_version_dir(args.bundle)}")
    return 0


def print_catalog_notes(bundle: Path) -> None:
    """Print the product and photo counts, and the build's notes on products whose rows
    disagreed on metadata (warnings: the bundle itself is sound)."""
    try:
        data = read_bundle(bundle)
        report = json.loads((data.version_dir / BUILD_REPORT).read_text())
    except (BundleError, OSError, ValueError):
        return
    if len(data.photos) != len(data.items):
        print(f"catalog: {len(data.items)} products, {len(data.photos)} photos")
    notes = [p for p in report.get("catalog_problems", []) if DISAGREEMENT in p]
    for note in notes[:10]:
        print(f"warning: {note}")
    if len(notes) > 10:
        print(f"warning: ... and {len(notes) - 10} more products whose rows disagree")
