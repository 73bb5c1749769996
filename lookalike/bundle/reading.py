"""Reading the live bundle version (:func:`read_bundle`) and checking it in full
(:func:`check_bundle`: checksums, counts, the index)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.bundle.layout import (
    CONFIG,
    EMBEDDINGS,
    ENCODER_DIR,
    FORMAT_VERSION,
    INDEX_DIR,
    ITEMS,
    MANIFEST,
    PHOTOS,
    BundleError,
    current_version_dir,
)
from lookalike.bundle.tables import ItemTable, PhotoTable
from lookalike.files import sha256_file
from lookalike.index import load_index


@dataclass
class BundleData:
    """A loaded bundle version: its files parsed, the encoder and index not yet built.

    ``embeddings`` has one row per photo (``photos``); index id i is photo row i.
    """

    bundle_dir: Path
    version_dir: Path
    manifest: dict[str, Any]
    config: dict[str, Any]
    items: ItemTable
    embeddings: np.ndarray
    photos: PhotoTable = None  # type: ignore[assignment]  # set in __post_init__

    def __post_init__(self) -> None:
        if self.photos is None:
            self.photos = PhotoTable.one_per_item(self.items)

    @property
    def encoder_dir(self) -> Path:
        return self.version_dir / ENCODER_DIR

    @property
    def index_dir(self) -> Path:
        return self.version_dir / INDEX_DIR


def read_bundle(bundle_dir: str | Path) -> BundleData:
    """Read the live version's manifest, config, items, photos and embeddings (no checksum
    pass). A bundle written before photos were recorded reads as one photo per product.

    Raises:
        BundleError: missing files, a newer format, or counts that disagree.
    """
    version_dir = current_version_dir(bundle_dir)
    try:
        manifest = json.loads((version_dir / MANIFEST).read_text())
        config = json.loads((version_dir / CONFIG).read_text())
        items = ItemTable.from_json(json.loads((version_dir / ITEMS).read_text()))
        photos = (
            PhotoTable.from_json(json.loads((version_dir / PHOTOS).read_text()), items)
            if (version_dir / PHOTOS).is_file()
            else PhotoTable.one_per_item(items)
        )
        embeddings = np.load(version_dir / EMBEDDINGS, allow_pickle=False)
    except (OSError, ValueError, KeyError) as exc:
        raise BundleError(f"bundle {bundle_dir} is incomplete or damaged: {exc}") from exc
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise BundleError(
            f"bundle format {manifest['format_version']} is newer than this lookalike "
            f"understands ({FORMAT_VERSION}); upgrade lookalike"
        )
    if len(photos) != len(embeddings):
        what = "photos" if (version_dir / PHOTOS).is_file() else "items"
        raise BundleError(
            f"bundle {bundle_dir}: {len(photos)} {what} but {len(embeddings)} vectors"
        )
    return BundleData(Path(bundle_dir), version_dir, manifest, config, items, embeddings, photos)


def check_bundle(bundle_dir: str | Path) -> list[str]:
    """Full integrity check of the live version; returns problems (empty = healthy).

    Verifies every file's sha256 against the manifest, that ids are unique, that ids,
    embeddings and index agree in count, and that the index loads.
    """
    problems: list[str] = []
    try:
        data = read_bundle(bundle_dir)
    except BundleError as exc:
        return [str(exc)]
    for rel, expected in data.manifest.get("files", {}).items():
        path = data.version_dir / rel
        if not path.is_file():
            problems.append(f"missing file {rel}")
        elif sha256_file(path) != expected["sha256"]:
            problems.append(f"checksum mismatch: {rel}")
    if len(set(data.items.ids)) != len(data.items.ids):
        problems.append("duplicate item ids")
    if not np.isfinite(data.embeddings).all():
        problems.append("non-finite values in embeddings")
    try:
        index = load_index(data.index_dir)
        n_photos = len(data.photos)
        if index.ntotal != n_photos:
            problems.append(f"index holds {index.ntotal} vectors for {n_photos} photos")
        elif hasattr(index, "item_ids"):  # Milvus: the collection holds exactly these photos
            stored = index.ids()
            if not np.array_equal(stored, np.arange(n_photos)):
                problems.append(f"index rows differ from the bundle's 0..{n_photos - 1}")
            elif index.item_ids(stored) != [data.items.ids[r] for r in data.photos.products]:
                problems.append("index item ids differ from the bundle's items")
    except Exception as exc:  # noqa: BLE001 - any failure to load is a finding
        problems.append(f"index does not load: {exc}")
    counts = data.manifest.get("counts", {})
    if counts.get("items") != len(data.items):
        problems.append(f"manifest counts {counts.get('items')} items, found {len(data.items)}")
    return problems
