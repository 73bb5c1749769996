"""Decoding a catalog's photos (local files through the image cache, URIs through pyarrow)
into the bundle's tables: one row per photo, then one per product plus the photo table, and
the products that share a byte-identical photo."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lookalike.bundle import ItemTable, PhotoTable
from lookalike.catalog import Catalog, Item, is_uri, read_location_bytes
from lookalike.dedup import duplicate_groups
from lookalike.distributed import EncodedCatalog
from lookalike.imaging import LEGACY_RESIZE, cached_images, image_content_hash, load_images


def decode_catalog(
    catalog: Catalog, size: int, workdir: Path, progress: bool, resize: str = LEGACY_RESIZE
) -> tuple[ItemTable, np.ndarray, list[str]]:
    """Decode every catalog image at ``size`` with the letterbox filter ``resize`` (cached);
    drop and report the unreadable ones."""
    table, images, problems, _ = decode_items(catalog.items, size, workdir, progress, resize)
    return table, images, problems


def decode_items(
    items: list[Item], size: int, workdir: Path, progress: bool, resize: str = LEGACY_RESIZE
) -> tuple[ItemTable, np.ndarray, list[str], list[int]]:
    """Decode ``items``' images at ``size`` with the letterbox filter ``resize`` (the
    encoder's recorded one): (table of the readable ones, their images,
    problems, their positions in ``items``). Local files go through the image cache; URIs
    (manifest catalogs on remote storage) are fetched through pyarrow filesystems."""
    paths = [item.path for item in items]
    if not any(is_uri(p) for p in paths):
        cache = workdir / "image-cache"
        batch = cached_images(paths, size, cache, progress=progress, resize=resize)
        hashes = [image_content_hash(items[i].path) for i in batch.ok]
        problems = [f"{paths[i]}: {message}; skipped" for i, message in batch.errors]
    else:
        sources: list[bytes] = []
        problems, readable = [], []
        for i, path in enumerate(paths):
            try:
                sources.append(read_location_bytes(path))
                readable.append(i)
            except OSError as exc:
                problems.append(f"{path}: {exc}; skipped")
        batch = load_images(sources, size, progress=progress, resize=resize)
        problems += [f"{paths[readable[i]]}: {m}; skipped" for i, m in batch.errors]
        hashes = [hashlib.sha256(sources[j]).hexdigest() for j in batch.ok]
        batch.ok = [readable[j] for j in batch.ok]
    table = item_table([items[i] for i in batch.ok], hashes)
    return table, batch.images, problems, list(batch.ok)


def item_table(items: Sequence[Item], content_hashes: Sequence[str]) -> ItemTable:
    """The bundle's item table of catalog ``items`` (row i = items[i]) with their hashes."""
    return ItemTable(
        ids=[item.id for item in items],
        paths=[str(item.path) for item in items],
        metadata=[item.metadata for item in items],
        content_hashes=list(content_hashes),
    )


def photo_items(catalog: Catalog) -> tuple[list[Item], list[int]]:
    """One :class:`Item` per photo (the product's id and metadata, ``path`` the photo), in
    catalog order, and each one's photo number (1 = the product's main photo). For a
    one-photo catalog the items themselves."""
    photos: list[Item] = []
    numbers: list[int] = []
    for item in catalog.items:
        if not item.more_photos:
            photos.append(item)
            numbers.append(1)
            continue
        for number, path in enumerate(item.photos, start=1):
            photos.append(dataclasses.replace(item, path=path, more_photos=()))
            numbers.append(number)
    return photos, numbers


def product_tables(photo_table: ItemTable, numbers: Sequence[int]) -> tuple[ItemTable, PhotoTable]:
    """The bundle's item table (one row per product, in first-photo order; its path and
    hash those of the product's first readable photo) and photo table, from the table of the
    readable photos (ids repeated per photo) and their photo numbers.

    A one-photo catalog's item table is ``photo_table`` itself, so its bundle is unchanged.
    """
    row_of: dict[str, int] = {}
    products: list[int] = []
    firsts: list[int] = []
    for photo, item_id in enumerate(photo_table.ids):
        if item_id not in row_of:
            row_of[item_id] = len(firsts)
            firsts.append(photo)
        products.append(row_of[item_id])
    items = photo_table if len(firsts) == len(photo_table) else photo_table.select(firsts)
    photos = PhotoTable(
        products, list(numbers), list(photo_table.paths), list(photo_table.content_hashes)
    )
    return items, photos


def product_duplicate_groups(photos: ItemTable) -> list[list[str]]:
    """Groups of distinct product ids that share a byte-identical photo (2+ products)."""
    groups = duplicate_groups(photos.content_hashes, photos.ids)
    return [list(dict.fromkeys(group)) for group in groups if len(set(group)) > 1]


def items_from_encoded(
    catalog: Catalog, encoded: EncodedCatalog
) -> tuple[ItemTable, np.ndarray, list[str]]:
    """The item table, embeddings and decode problems of a distributed encode, in the same
    form (and order) as an in-process build's."""
    table = item_table([catalog.items[r] for r in encoded.rows], encoded.content_hashes)
    problems = [f"{catalog.items[r].path}: {message}; skipped" for r, message in encoded.errors]
    return table, encoded.embeddings, problems
