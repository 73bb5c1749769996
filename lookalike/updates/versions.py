"""Steps add and remove share: the test hook, the index of a new version, writing and
publishing it, and collecting what no kept version uses."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.bundle import (
    BUILD_REPORT,
    CONFIG,
    ENCODER_DIR,
    INDEX_DIR,
    TRAINING_DIR,
    BundleData,
    BundleWriter,
    ItemTable,
    PhotoTable,
    collect_garbage,
)
from lookalike.index import CONFIG_FILE, build_index, load_index
from lookalike.updates.report import UpdateReport

UPDATE_REPORT = "update_report.json"


SLOW_ENV = "LOOKALIKE_TEST_SLOW_UPDATE"


def stage(name: str) -> None:
    """Test hook (see :mod:`lookalike.updates`): announce stage ``name`` and pause there."""
    raw = os.environ.get(SLOW_ENV)
    if not raw:
        return
    where, _, seconds = raw.rpartition("=")
    try:
        delay = float(seconds) if not where or where == name else 0.0
    except ValueError:
        return
    # One write of a whole line: the marker must not interleave with other output.
    sys.stderr.write(f"lookalike-update-stage: {name}\n")
    sys.stderr.flush()
    time.sleep(max(0.0, delay))


def collect_unused(bundle_dir: Path, thumbnail_dirs: Sequence[str | Path] | None) -> None:
    """Garbage collection after an update (the caller holds the lock); never raises, so
    an update's own outcome (or error) is what the caller sees."""
    try:
        collect_garbage(bundle_dir, thumbnail_dirs=thumbnail_dirs, locked=True)
    except Exception as exc:  # noqa: BLE001 - garbage stays for `lookalike check --repair`
        sys.stderr.write(f"warning: garbage collection of {bundle_dir} failed: {exc}\n")


def load_live_index(data: BundleData) -> Any:
    """The live version's index (searched for duplicates, appended to by an add)."""
    return load_index(data.index_dir)


def index_rows(
    items: ItemTable, photos: PhotoTable | None = None
) -> list[tuple[str, dict[str, str]]]:
    """(product id, metadata) per photo row (default: one photo per item): what an index
    that stores its own fields (Milvus) keeps."""
    if photos is None:
        return list(zip(items.ids, items.metadata, strict=True))
    return [(items.ids[p], items.metadata[p]) for p in photos.products]


def rebuild_index(
    data: BundleData, embeddings: np.ndarray, items: ItemTable, photos: PhotoTable | None = None
) -> tuple[Any, str | None]:
    """A new index over ``embeddings`` (ids = photo rows) of the live index's kind and
    params (a Milvus index gets a new collection with the photos' product ids and metadata)."""
    config = json.loads((data.index_dir / CONFIG_FILE).read_text())
    kind, params = config["kind"], dict(config.get("params") or {})
    rows = index_rows(items, photos)
    try:
        return build_index(embeddings, kind=kind, rows=rows, **params), None
    except ValueError as exc:
        if kind == "milvus":
            raise  # a serving index never silently becomes a local one
        # e.g. an ivfpq index with more lists than the remaining items can train.
        index = build_index(embeddings, kind="auto")
        return index, f"could not rebuild the {kind} index ({exc}); using {index.kind}"


def keep_photos(
    items: ItemTable, photos: PhotoTable, embeddings: np.ndarray, keep: np.ndarray
) -> tuple[ItemTable, PhotoTable, np.ndarray]:
    """The tables without the photos ``keep`` leaves out (bool per photo row): a product
    left without a photo goes too; products and photos are renumbered in order, and a
    product that lost its main photo shows its lowest-numbered remaining one (path, hash).

    Returns:
        (items, photos, embeddings) of what is kept.
    """
    kept_photos = np.flatnonzero(keep)
    products = np.asarray(photos.products, dtype=np.int64)
    kept_products = np.unique(products[kept_photos])
    product_map = {int(old): new for new, old in enumerate(kept_products)}
    new_items = items.select(kept_products)
    new_photos = photos.select(kept_photos, product_map)
    main: dict[int, int] = {}
    for row, (product, number) in enumerate(
        zip(new_photos.products, new_photos.numbers, strict=True)
    ):
        if product not in main or number < new_photos.numbers[main[product]]:
            main[product] = row
    for product, row in main.items():
        new_items.paths[product] = new_photos.paths[row]
        if new_items.content_hashes and new_photos.content_hashes:
            new_items.content_hashes[product] = new_photos.content_hashes[row]
    return new_items, new_photos, embeddings[kept_photos]


def write_version(
    bundle_dir: Path,
    data: BundleData,
    items: ItemTable,
    embeddings: np.ndarray,
    index,
    report: UpdateReport,
    photos: PhotoTable | None = None,
) -> str:
    """Stage and publish a version: new items/photos/embeddings/index, the rest linked from
    the live version. Returns the new version's name."""
    with BundleWriter(bundle_dir) as writer:
        # Only when the test hook is on, so production commits stay hook-free.
        if os.environ.get(SLOW_ENV):
            writer.on_step = stage
        writer.link_from(data.version_dir, [CONFIG, ENCODER_DIR, TRAINING_DIR, BUILD_REPORT])
        writer.write_items(items, embeddings, photos)
        index.save(writer.path(INDEX_DIR, "x").parent)
        writer.write_json(
            UPDATE_REPORT, {k: v for k, v in report.to_dict().items() if k != "version"}
        )
        stage("written")
        extra = {key: data.manifest[key] for key in ("encoder",) if key in data.manifest}
        extra["index"] = {"kind": index.kind, **index.params()}
        extra["update"] = {
            "action": report.action,
            "based_on": data.version_dir.name,
            "added": len(report.added),
            "removed": len(report.removed) + len(report.replaced),
        }
        version = writer.commit(extra)
    stage("done")
    return version.name
