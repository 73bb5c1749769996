"""``lookalike recommend``: lookalikes of photos, catalog items or a shopper's profile."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lookalike.cli.common import (
    UsageError,
    display_columns,
    format_table,
    grid_rows_for,
    parse_key_values,
)
from lookalike.cli.parsers.recommend import add_parsers as add_parsers  # the old import path
from lookalike.grid import draw_grid, load_tile_image
from lookalike.imaging import CropError, parse_crop
from lookalike.personal import Profile, read_interactions, recommend_profile
from lookalike.recommend import QueryResult, Recommender


def cmd_recommend(args: argparse.Namespace) -> int:
    """Recommend lookalikes for image files and/or catalog items."""
    if args.like or args.dislike:
        return _recommend_profile(args)
    if not args.images and not args.item:
        raise UsageError("give at least one IMAGE, --item ID or --like ID|PHOTO")
    if args.look:
        return _recommend_look(args)
    crop = None
    if args.crop is not None:
        if not args.images:
            raise UsageError("--crop applies to IMAGE queries; give at least one IMAGE")
        try:
            crop = parse_crop(args.crop)
        except CropError as exc:
            raise UsageError(f"--crop: {exc}") from None
    recommender = Recommender.from_bundle(args.bundle)
    filters = parse_key_values(args.filter, "--filter")
    collapse = not args.allow_duplicates
    results, query_images = [], []
    if args.images:
        for path in args.images:
            if not Path(path).is_file():
                raise UsageError(f"image not found: {path}")
        results += recommender.recommend_images(
            [str(p) for p in args.images],
            args.k,
            filters=filters,
            collapse_duplicates=collapse,
            crop=crop,
        )
        query_images += [load_tile_image(p) for p in args.images]
    if args.item:
        results += recommender.recommend_items(
            args.item, args.k, filters=filters, collapse_duplicates=collapse, combine=args.combine
        )
        query_images += [
            load_tile_image(recommender.item(recommender.row(i)).path) for i in args.item
        ]
    if args.json:
        for result in results:
            print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        columns = display_columns(recommender)
        for result in results:
            print(f"\nquery: {result.query}")
            print(f"  error: {result.error}" if result.error else format_table(result, columns))
    if args.grid:
        path = draw_grid(
            grid_rows_for(recommender, results, query_images),
            args.grid,
            title=f"lookalike: top-{args.k}",
        )
        print(f"grid written to {path}", file=sys.stderr)
    return 1 if any(r.error for r in results) else 0


def _recommend_look(args: argparse.Namespace) -> int:
    """`recommend --look IMAGE...`: every garment in each photo, each with its lookalikes."""
    if not args.images or args.item or args.crop is not None:
        raise UsageError("--look takes IMAGE queries only (no --item, no --crop)")
    for path in args.images:
        if not Path(path).is_file():
            raise UsageError(f"image not found: {path}")
    recommender = Recommender.from_bundle(args.bundle)
    looks = recommender.recommend_look(
        [str(p) for p in args.images],
        args.k,
        filters=parse_key_values(args.filter, "--filter"),
        collapse_duplicates=not args.allow_duplicates,
    )
    columns = display_columns(recommender)
    for look in looks:
        if args.json:
            print(json.dumps(look.to_dict(), ensure_ascii=False))
            continue
        print(f"\nquery: {look.query}")
        if look.error:
            print(f"  error: {look.error}")
            continue
        for number, garment in enumerate(look.garments):
            box = ",".join(f"{v:.2f}" for v in garment.box)
            main = "  (main)" if number == look.main else ""
            print(
                f"garment {number + 1}: {garment.kind}, box {box}, "
                f"{garment.area:.0%} of the photo{main}"
            )
            print(format_table(QueryResult(look.query, garment.results), columns))
    return 1 if any(look.error for look in looks) else 0


def _recommend_profile(args: argparse.Namespace) -> int:
    """`recommend --like ... --dislike ...`: one list for the shopper's whole profile."""
    if args.images or args.item:
        raise UsageError("--like/--dislike make one profile query; drop IMAGE and --item")
    if not args.like:
        raise UsageError("a profile needs at least one --like")
    recommender = Recommender.from_bundle(args.bundle)
    liked_rows, photos = [], []
    for value in args.like:
        if Path(value).is_file():
            photos.append(value)
        else:
            liked_rows.append(recommender.row(value))
    vectors = None
    if photos:
        vectors, ok, errors = recommender.encode_images(photos)
        if errors:
            raise UsageError("; ".join(message for _, message in errors))
    profile = Profile(
        liked_rows, [recommender.row(i) for i in args.dislike or []], vectors, user=args.user
    )
    log = None
    if args.interactions:
        log = read_interactions(
            args.interactions, {i: r for r, i in enumerate(recommender.items.ids)}
        )
        for problem in log.problems[:5]:
            print(f"warning: {problem}", file=sys.stderr)
    results = recommend_profile(
        recommender,
        profile,
        args.k,
        method=args.method,
        diversity=args.diversity,
        filters=parse_key_values(args.filter, "--filter"),
        interactions=log,
        collapse_duplicates=not args.allow_duplicates,
    )
    result = QueryResult(query="profile: like " + ", ".join(args.like), results=results)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        print(f"\n{result.query}")
        print(format_table(result, display_columns(recommender)))
    return 0
