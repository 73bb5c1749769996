"""Garbage: files under ``images/`` and the thumbnail folders that no kept version uses
(:func:`find_orphans` lists them, :func:`collect_garbage` removes them under the writer
lock)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lookalike.bundle.layout import (
    IMAGES_DIR,
    ITEMS,
    LOCK_TIMEOUT,
    PHOTOS,
    STALE_TEMP_S,
    THUMBNAILS_DIR,
    VERSIONS,
    BundleError,
)
from lookalike.bundle.lock import bundle_lock


def thumbnail_source_key(source: str | Path) -> str:
    """The part of a thumbnail's file name that names its source image: a hash of the
    source's path, size and modification time (so a changed file gets a new thumbnail).

    Raises:
        OSError: the source is missing.
    """
    stat = os.stat(source)
    text = f"{source}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass
class GarbageReport:
    """Files under ``images/`` and the thumbnail folders that no kept version uses.

    ``files`` are absolute paths; ``removed`` says whether they were deleted.
    """

    files: list[Path] = field(default_factory=list)
    bytes: int = 0
    removed: bool = False
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for people."""
        verb = "removed" if self.removed else "found"
        return (
            f"{verb} {len(self.files)} orphaned file(s), {self.bytes / 2**20:.1f} MB, "
            "used by no kept version"
        )


def kept_image_paths(bundle_dir: str | Path) -> list[str]:
    """The image paths (every photo's) of every version kept under ``versions/`` (the live
    one included)."""
    paths: list[str] = []
    for version_dir in sorted((Path(bundle_dir) / VERSIONS).glob("v*")):
        for name in (ITEMS, PHOTOS):
            table = version_dir / name
            if not table.is_file():
                continue
            try:
                paths += [str(p) for p in json.loads(table.read_text())["paths"]]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise BundleError(f"cannot read {table}: {exc}") from exc
    return paths


def _files_below(folder: Path) -> Iterator[Path]:
    if not folder.is_dir():
        return
    for root, _dirs, names in os.walk(folder, followlinks=False):
        for name in names:
            yield Path(root) / name


def _is_fresh_temp(path: Path, now: float) -> bool:
    """A temporary file of a write that may still be running (kept)."""
    if not (path.name.startswith(".") or ".tmp" in path.name):
        return False
    try:
        return now - path.lstat().st_mtime < STALE_TEMP_S
    except OSError:
        return True


def find_orphans(
    bundle_dir: str | Path, thumbnail_dirs: Sequence[str | Path] | None = None
) -> GarbageReport:
    """Files under ``BUNDLE/images/`` and the thumbnail folders that no kept version uses
    (without removing them). Temporary files younger than :data:`STALE_TEMP_S` are left
    alone: they may belong to a write in progress.

    An image is used when a kept version's item path names it (images are named by their
    content's sha256, so the name decides even when the bundle moved); a thumbnail is used
    when its name starts with the :func:`thumbnail_source_key` of a kept image.

    Args:
        bundle_dir: the bundle folder.
        thumbnail_dirs: thumbnail caches to check (default: ``BUNDLE/thumbnails``).

    Raises:
        BundleError: a kept version's ``items.json`` cannot be read (nothing is then
            called an orphan).
    """
    bundle_dir = Path(bundle_dir)
    if thumbnail_dirs is None:
        thumbnail_dirs = [bundle_dir / THUMBNAILS_DIR]
    paths = kept_image_paths(bundle_dir)
    report = GarbageReport()
    now = time.time()
    used_names = {Path(p).name for p in paths if Path(p).parent.name == IMAGES_DIR}
    for path in _files_below(bundle_dir / IMAGES_DIR):
        if path.name not in used_names and not _is_fresh_temp(path, now):
            report.files.append(path)
    if any(Path(d).is_dir() for d in thumbnail_dirs):
        keys = set()
        for source in set(paths):
            with contextlib.suppress(OSError):
                keys.add(thumbnail_source_key(source))
        for folder in thumbnail_dirs:
            for path in _files_below(Path(folder)):
                if path.name.split("-", 1)[0] not in keys and not _is_fresh_temp(path, now):
                    report.files.append(path)
    for path in report.files:
        with contextlib.suppress(OSError):
            report.bytes += path.lstat().st_size
    return report


def collect_garbage(
    bundle_dir: str | Path,
    *,
    thumbnail_dirs: Sequence[str | Path] | None = None,
    lock_timeout: float | None = LOCK_TIMEOUT,
    locked: bool = False,
) -> GarbageReport:
    """Remove the files :func:`find_orphans` finds, under the writer lock, so no update
    can store an image between the listing and the removal. Each removal is one
    ``unlink`` of a file no kept version names, so readers of kept versions never miss a
    file. Never raises for a file it cannot remove (named in ``problems``).

    Args:
        bundle_dir: the bundle folder.
        thumbnail_dirs: as for :func:`find_orphans`.
        lock_timeout: seconds to wait for another writer.
        locked: the caller already holds the writer lock.

    Raises:
        BundleError: no bundle folder, or a kept version cannot be read.
        BundleBusyError: another writer held the lock past ``lock_timeout``.
    """
    if not locked:
        with bundle_lock(bundle_dir, lock_timeout):
            return collect_garbage(bundle_dir, thumbnail_dirs=thumbnail_dirs, locked=True)
    report = find_orphans(bundle_dir, thumbnail_dirs)
    for path in report.files:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            report.problems.append(f"cannot remove {path}: {exc.strerror or exc}")
    report.removed = True
    return report
