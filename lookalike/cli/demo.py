"""``lookalike demo``: build (or reuse) a bundle of the reference catalog and show it."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from lookalike.bundle import BundleError, read_bundle
from lookalike.cli.common import (
    DEMO_BUNDLES,
    SHARED_CATALOG,
    UsageError,
    default_catalog,
    display_columns,
    format_table,
    grid_rows_for,
)
from lookalike.cli.parsers.demo import add_parsers as add_parsers  # the old import path
from lookalike.grid import draw_grid, load_tile_image
from lookalike.pipeline import DEFAULT_ENCODER, BuildConfig, build_bundle
from lookalike.recommend import Recommender

#: The shopper-photo folder beside the reference catalog, whose ``archive`` split the demo
#: bundle learns from.
SHOPPER_PHOTOS = "shopper-photos"


def cmd_demo(args: argparse.Namespace) -> int:
    """Build (or reuse) a bundle for the reference catalog, then show recommendations."""
    catalog = args.catalog or default_catalog()
    if catalog is None:
        raise UsageError(
            "no catalog given and the reference catalog ../shared/fashion-images is not here; "
            "run `lookalike demo PATH/TO/IMAGES`"
        )
    encoder = args.encoder or DEFAULT_ENCODER
    out = args.out or DEMO_BUNDLES / f"demo-{encoder}"
    archive = demo_archive(args, Path(catalog))
    config = BuildConfig(
        catalog=str(Path(catalog).resolve()),
        encoder=encoder,
        archive=str(archive.resolve()) if archive else None,
    )
    if archive is not None:
        print(
            f"learning from the archive split of {archive} too (labelled photos of past "
            "products, most on-model; never indexed or shown; --no-archive to leave it out)"
        )
    if args.epochs is not None:
        config.encoder_options["epochs"] = args.epochs
    try:
        existing = read_bundle(out).config
    except BundleError:
        existing = None
    started = time.perf_counter()
    if existing == json.loads(json.dumps(config.__dict__)) and not args.rebuild:
        print(f"reusing the bundle in {out} (use --rebuild to build it again)")
    else:
        print(f"building a {encoder} bundle for {catalog} into {out} ...")
        build_bundle(config, out)
        print(f"built in {time.perf_counter() - started:.0f}s")
    recommender = Recommender.from_bundle(out)
    rng_ids = _demo_items(recommender, args.queries)
    results = recommender.recommend_items(rng_ids, args.k)
    columns = display_columns(recommender)
    for result in results:
        query = recommender.item(recommender.row(result.query))
        print(f"\nquery: {result.query}  " + "  ".join(query.metadata.get(c, "") for c in columns))
        print(format_table(result, columns))
    images = [load_tile_image(recommender.item(recommender.row(i)).path) for i in rng_ids]
    grid = draw_grid(
        grid_rows_for(recommender, results, images),
        Path(out) / "demo_grid.png",
        title=f"lookalike demo ({encoder}): query | top-{args.k}",
    )
    print(f"\nresult grid: {grid}")
    print(f"try: lookalike recommend --bundle {out} PHOTO.jpg   |   lookalike serve --bundle {out}")
    return 0


def demo_archive(args: argparse.Namespace, catalog: Path) -> Path | None:
    """The archive a demo build learns from: ``--archive``, else ``../shared/shopper-photos``
    beside the reference catalog when the demo builds that catalog (None with
    ``--no-archive`` or when there is none)."""
    if args.no_archive:
        return None
    if args.archive is not None:
        if not args.archive.is_dir():
            raise UsageError(f"archive folder not found: {args.archive}")
        return args.archive
    shopper = SHARED_CATALOG.parent / SHOPPER_PHOTOS
    if catalog.resolve() == SHARED_CATALOG.resolve() and (shopper / "labels.csv").is_file():
        return shopper
    return None


def _demo_items(recommender: Recommender, count: int) -> list[str]:
    """A deterministic, varied set of query items (different product types when known)."""
    seen, picked = set(), []
    for row in range(0, len(recommender), max(1, len(recommender) // 97)):
        kind = recommender.items.metadata[row].get("ProductType", row)
        if kind not in seen:
            seen.add(kind)
            picked.append(recommender.items.ids[row])
        if len(picked) == count:
            break
    return picked
