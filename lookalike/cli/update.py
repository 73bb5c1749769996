"""``lookalike add`` and ``remove``: change a built bundle's items without rebuilding it."""

from __future__ import annotations

import argparse
import json

from lookalike.cli.common import UsageError, parse_key_values
from lookalike.cli.parsers.update import add_parsers as add_parsers  # the old import path
from lookalike.updates import (
    UpdateReport,
    add_items,
    add_photos,
    remove_items,
    remove_photos,
)


def cmd_add(args: argparse.Namespace) -> int:
    """``lookalike add``: print the report; status 1 when some inputs were skipped. With
    ``--product ID`` the images are photos of that one product (added to it, or a new
    product with ``--set`` metadata)."""
    if args.product is not None:
        if args.metadata or args.replace or args.id_column or args.image_column:
            raise UsageError("--product takes image files and --set COLUMN=VALUE only")
        report = add_photos(
            args.bundle,
            args.product,
            args.images,
            {k: ",".join(v) for k, v in parse_key_values(args.set, "--set").items()},
            progress=not args.quiet and not args.json,
        )
        _print_report(report, args.json)
        return 1 if report.skipped else 0
    if args.set:
        raise UsageError("--set applies to --product; give other items' metadata in --metadata")
    report = add_items(
        args.bundle,
        args.images,
        args.metadata,
        progress=not args.quiet and not args.json,
        replace=args.replace,
        id_column=args.id_column,
        image_column=args.image_column,
    )
    _print_report(report, args.json)
    return 1 if report.skipped else 0


def cmd_remove(args: argparse.Namespace) -> int:
    """``lookalike remove``: print the report; status 1 when some ids (or photos) were
    unknown. With ``--photo N`` (repeatable) it removes those photos of the one item given."""
    if args.photos:
        if len(args.ids) != 1:
            raise UsageError("--photo removes photos of one item; give exactly one id")
        report = remove_photos(args.bundle, args.ids[0], args.photos)
        _print_report(report, args.json)
        return 1 if report.problems else 0
    report = remove_items(args.bundle, args.ids)
    _print_report(report, args.json)
    return 1 if report.unknown_ids else 0


def _print_report(report: UpdateReport, as_json: bool) -> None:
    """The report as JSON or as one finding per line."""
    if as_json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
        return
    for line in report.lines():
        print(line)
