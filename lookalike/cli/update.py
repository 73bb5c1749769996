"""``lookalike add`` and ``remove``: change a built bundle's items without rebuilding it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lookalike.cli.common import UsageError, parse_key_values
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
    p.set_defaults(func=cmd_add)

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
    p.set_defaults(func=cmd_remove)
