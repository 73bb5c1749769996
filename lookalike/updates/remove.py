"""Remove items (products, with all their photos) by id, or single photos of a product, from
a built bundle, as a new version."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lookalike.bundle import (
    LOCK_TIMEOUT,
    BundleData,
    UpdateError,
    bundle_lock,
    read_bundle,
)
from lookalike.updates.report import UpdateReport
from lookalike.updates.versions import (
    collect_unused,
    keep_photos,
    rebuild_index,
    stage,
    write_version,
)


def remove_items(
    bundle_dir: str | Path,
    ids: Sequence[str],
    progress: bool = False,
    *,
    lock_timeout: float | None = LOCK_TIMEOUT,
    thumbnail_dirs: Sequence[str | Path] | None = None,
) -> UpdateReport:
    """Remove items by id, as a new version; unknown ids are reported, not fatal.

    Rows are renumbered (an item's id in the index must equal its row), so the index is
    rebuilt from the remaining embeddings with the same kind and parameters. At the sizes a
    live catalog is edited at this is cheap (a flat index below 200k items is a copy of the
    vectors: milliseconds); approximate kinds are retrained, which also keeps their recall
    after large deletions. Images and thumbnails that no kept version uses any more are
    then removed (:func:`lookalike.bundle.collect_garbage`; ``thumbnail_dirs`` as for
    :func:`add_new_items`).

    Raises:
        UpdateError: the removal would leave the bundle empty.
    """
    started = time.perf_counter()
    wanted = list(dict.fromkeys(str(i) for i in ids))
    bundle_dir = Path(bundle_dir)
    with bundle_lock(bundle_dir, lock_timeout):
        try:
            report = _remove_locked(bundle_dir, wanted, started)
        finally:
            collect_unused(bundle_dir, thumbnail_dirs)
    if progress and report.version:
        print(f"bundle {bundle_dir}: version {report.version}, {report.items} items")
    return report


def _remove_locked(bundle_dir: Path, wanted: list[str], started: float) -> UpdateReport:
    """The body of :func:`remove_items`, run under the writer lock."""
    stage("locked")
    data = read_bundle(bundle_dir)
    report = UpdateReport("remove", data.version_dir.name, items=len(data.items))
    stage("read")
    row_of = {item_id: row for row, item_id in enumerate(data.items.ids)}
    report.unknown_ids = [i for i in wanted if i not in row_of]
    drop = sorted(row_of[i] for i in wanted if i in row_of)
    if not drop:
        report.seconds = time.perf_counter() - started
        return report
    if len(drop) == len(data.items):
        raise UpdateError(
            f"refusing to remove all {len(data.items)} items: a bundle needs at least one; "
            "build a new bundle instead"
        )
    # Every photo of a removed product goes with it.
    keep = ~np.isin(data.photos.product_rows(), drop)
    report.removed = [data.items.ids[r] for r in drop]
    return _publish(bundle_dir, data, keep, report, started)


def _publish(
    bundle_dir: Path, data: BundleData, keep: np.ndarray, report: UpdateReport, started: float
) -> UpdateReport:
    """Write the version that keeps the photos ``keep`` (bool per photo row), index rebuilt
    (rows are renumbered: an index id must equal its photo row)."""
    items, photos, embeddings = keep_photos(data.items, data.photos, data.embeddings, keep)
    index, note = rebuild_index(data, embeddings, items, photos)
    report.problems += [note] if note else []
    stage("indexed")
    report.items = len(items)
    report.seconds = time.perf_counter() - started
    report.version = write_version(bundle_dir, data, items, embeddings, index, report, photos)
    return report


def remove_photos(
    bundle_dir: str | Path,
    item_id: str,
    numbers: Sequence[int],
    *,
    lock_timeout: float | None = LOCK_TIMEOUT,
    thumbnail_dirs: Sequence[str | Path] | None = None,
) -> UpdateReport:
    """Remove photos (by number) of one product, as a new version; the product keeps its
    other photos (and their numbers). Unknown numbers are reported in ``problems``.

    Raises:
        UpdateError: the item is not in the bundle, or the removal would leave it without a
            photo (remove the item instead).
    """
    started = time.perf_counter()
    bundle_dir = Path(bundle_dir)
    with bundle_lock(bundle_dir, lock_timeout):
        try:
            stage("locked")
            data = read_bundle(bundle_dir)
            report = UpdateReport("remove", data.version_dir.name, items=len(data.items))
            stage("read")
            if item_id not in data.items.ids:
                raise UpdateError(f"unknown item id {item_id!r}: not in the bundle")
            rows = data.photos.of_product(data.items.ids.index(item_id))
            have = {data.photos.numbers[r]: r for r in rows}
            wanted = list(dict.fromkeys(int(n) for n in numbers))
            unknown = [n for n in wanted if n not in have]
            report.problems += [
                f"item {item_id!r} has no photo {n} (its photos: "
                f"{', '.join(map(str, sorted(have)))})"
                for n in unknown
            ]
            drop = [have[n] for n in wanted if n in have]
            if not drop:
                report.seconds = time.perf_counter() - started
                return report
            if len(drop) == len(rows):
                raise UpdateError(
                    f"refusing to remove every photo of {item_id!r}; remove the item instead"
                )
            keep = np.ones(len(data.photos), dtype=bool)
            keep[drop] = False
            report.photos_removed = [f"{item_id} photo {data.photos.numbers[r]}" for r in drop]
            return _publish(bundle_dir, data, keep, report, started)
        finally:
            collect_unused(bundle_dir, thumbnail_dirs)
