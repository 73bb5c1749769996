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

#: The labelled-photo folders beside the reference catalog whose training splits the demo
#: bundle learns from: studio photos of models (the catalog's vocabulary), phone photos at
#: home (type_map.csv) and street photos with garment masks (one crop per garment).
SHOPPER_PHOTOS = "shopper-photos"
DEMO_ARCHIVES = (SHOPPER_PHOTOS, "amateur-photos", "street-photos")


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
    archives = demo_archives(args, Path(catalog))
    config = BuildConfig(
        catalog=str(Path(catalog).resolve()),
        encoder=encoder,
        archive=[str(folder.resolve()) for folder in archives] or None,
    )
    for folder in archives:
        print(
            f"learning from the training split of {folder} too (labelled photos that are "
            "not catalog items; never indexed or shown; --no-archive to leave them out)"
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


def demo_archives(args: argparse.Namespace, catalog: Path) -> list[Path]:
    """The archives a demo build learns from: ``--archive`` (repeatable), else the
    :data:`DEMO_ARCHIVES` beside the reference catalog that are there, when the demo builds
    that catalog (none with ``--no-archive``)."""
    if args.no_archive:
        return []
    if args.archive:
        for folder in args.archive:
            if not folder.is_dir():
                raise UsageError(f"archive folder not found: {folder}")
        return list(args.archive)
    if catalog.resolve() != SHARED_CATALOG.resolve():
        return []
    found = [SHARED_CATALOG.parent / name for name in DEMO_ARCHIVES]
    return [folder for folder in found if (folder / "labels.csv").is_file()]


def demo_archive(args: argparse.Namespace, catalog: Path) -> Path | None:
    """The first of :func:`demo_archives` (the old single-archive call), None for none."""
    folders = demo_archives(args, catalog)
    return folders[0] if folders else None


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
