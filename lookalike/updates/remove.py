"""Remove items from a built bundle by id, as a new version."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lookalike.bundle import (
    LOCK_TIMEOUT,
    UpdateError,
    bundle_lock,
    read_bundle,
)
from lookalike.updates.report import UpdateReport
from lookalike.updates.versions import collect_unused, rebuild_index, stage, write_version


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
    kept = np.setdiff1d(np.arange(len(data.items)), drop)
    if not len(kept):
        raise UpdateError(
            f"refusing to remove all {len(data.items)} items: a bundle needs at least one; "
            "build a new bundle instead"
        )
    items = data.items.select(kept)
    embeddings = data.embeddings[kept]
    index, note = rebuild_index(data, embeddings, items)
    report.problems += [note] if note else []
    stage("indexed")
    report.removed = [data.items.ids[r] for r in drop]
    report.items = len(items)
    report.seconds = time.perf_counter() - started
    report.version = write_version(bundle_dir, data, items, embeddings, index, report)
    return report
