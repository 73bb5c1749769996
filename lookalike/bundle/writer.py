"""Writing a bundle version: staged in a temporary folder, fsynced, renamed into
``versions/``, published by replacing ``CURRENT`` atomically; old versions pruned."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.bundle.layout import (
    CURRENT,
    EMBEDDINGS,
    FORMAT_VERSION,
    INDEX_DIR,
    ITEMS,
    KEEP_VERSIONS,
    MANIFEST,
    PHOTOS,
    VERSIONS,
    BundleError,
    library_versions,
)
from lookalike.bundle.tables import ItemTable, PhotoTable
from lookalike.files import atomic_write_with, sha256_file
from lookalike.index.registry import release_index


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(root)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class BundleWriter:
    """Stage a new bundle version in a temp folder; ``commit`` publishes it atomically.

    Use as a context manager: leaving the block without ``commit`` (an error, Ctrl-C) deletes
    the staging folder and leaves the live version untouched.
    """

    def __init__(self, bundle_dir: str | Path):
        """Args:
        bundle_dir: the bundle folder (created if missing).
        """
        self.bundle_dir = Path(bundle_dir)
        (self.bundle_dir / VERSIONS).mkdir(parents=True, exist_ok=True)
        self.staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.bundle_dir / VERSIONS))
        self.committed = False
        # Test hook: called with "staged", "renamed" and "published" as commit passes each
        # step, so crash tests can kill a writer between them (lookalike.updates sets it).
        self.on_step: Callable[[str], None] | None = None

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        if not self.committed:
            shutil.rmtree(self.staging, ignore_errors=True)

    def path(self, *parts: str) -> Path:
        """A path inside the staging folder (parent folders created)."""
        target = self.staging.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def write_json(self, name: str, payload: Any) -> None:
        """Write ``payload`` as JSON to ``name`` in the staging folder."""
        self.path(name).write_text(json.dumps(payload, indent=1, ensure_ascii=False))

    def write_items(
        self, items: ItemTable, embeddings: np.ndarray, photos: PhotoTable | None = None
    ) -> None:
        """Write the item table, the photo table (default: one photo per item) and the
        photo-aligned embeddings."""
        what = "items" if photos is None else "photos"
        photos = PhotoTable.one_per_item(items) if photos is None else photos
        photos.check(len(items))
        if len(photos) != len(embeddings):
            raise BundleError(f"{len(photos)} {what} but {len(embeddings)} embeddings")
        self.write_json(ITEMS, items.to_json())
        self.write_json(PHOTOS, photos.to_json(items))
        np.save(self.path(EMBEDDINGS), np.ascontiguousarray(embeddings, dtype=np.float32))

    def link_from(self, source_dir: Path, names: list[str]) -> None:
        """Reuse unchanged files/folders of another version (hard links, copy as fallback)."""
        for name in names:
            source = source_dir / name
            if source.is_dir():
                shutil.copytree(source, self.path(name), copy_function=_link_or_copy)
            elif source.exists():
                _link_or_copy(source, self.path(name))

    def commit(self, extra_manifest: dict[str, Any] | None = None) -> Path:
        """Write the manifest (checksums of every file), publish, prune old versions."""
        files = {
            str(p.relative_to(self.staging)): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
            for p in sorted(self.staging.rglob("*"))
            if p.is_file()
        }
        items = json.loads((self.staging / ITEMS).read_text())
        embeddings = np.load(self.staging / EMBEDDINGS, mmap_mode="r", allow_pickle=False)
        counts = {"items": len(items["ids"]), "embeddings": int(embeddings.shape[0])}
        if (self.staging / PHOTOS).is_file():
            counts["photos"] = int(embeddings.shape[0])
        manifest = {
            "format_version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "library_versions": library_versions(),
            "counts": counts,
            "embedding_dim": int(embeddings.shape[1]),
            "files": files,
            **(extra_manifest or {}),
        }
        del embeddings
        self.write_json(MANIFEST, manifest)
        _fsync_tree(self.staging)
        self._step("staged")
        name = _next_version_name(self.bundle_dir)
        final = self.bundle_dir / VERSIONS / name
        os.replace(self.staging, final)
        _fsync_dir(final.parent)
        self._step("renamed")
        atomic_write_with(self.bundle_dir / CURRENT, lambda tmp: tmp.write_text(name + "\n"))
        _fsync_dir(self.bundle_dir)
        self.committed = True
        self._step("published")
        prune_versions(self.bundle_dir)
        return final

    def _step(self, name: str) -> None:
        if self.on_step is not None:
            self.on_step(name)


def _link_or_copy(source: str | Path, target: str | Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _next_version_name(bundle_dir: Path) -> str:
    numbers = [
        int(p.name[1:])
        for p in (bundle_dir / VERSIONS).glob("v*")
        if p.is_dir() and p.name[1:].isdigit()
    ]
    return f"v{max(numbers, default=0) + 1:06d}"


def prune_versions(bundle_dir: Path, keep: int = KEEP_VERSIONS) -> None:
    """Delete all but the newest ``keep`` versions (never the live one) and stale staging."""
    live = (bundle_dir / CURRENT).read_text().strip()
    versions = sorted(
        (p for p in (bundle_dir / VERSIONS).glob("v*") if p.is_dir()), key=lambda p: p.name
    )
    for old in versions[:-keep]:
        if old.name != live:
            release_index(old / INDEX_DIR)  # drops a pruned version's Milvus collection
            shutil.rmtree(old, ignore_errors=True)
    for stale in (bundle_dir / VERSIONS).glob(".staging-*"):
        # A staging folder older than an hour belongs to a killed writer.
        if time.time() - stale.stat().st_mtime > 3600:
            shutil.rmtree(stale, ignore_errors=True)
