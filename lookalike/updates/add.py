"""Add items (image files or uploaded bytes) to a built bundle as a new version; or add
photos to one product (:func:`add_photos`: a new product with several photos, or more
photos of an existing one)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.bundle import (
    LOCK_TIMEOUT,
    BundleData,
    ItemTable,
    PhotoTable,
    UpdateError,
    bundle_lock,
    read_bundle,
)
from lookalike.dedup import (
    find_duplicates,
)
from lookalike.encoders import load_encoder
from lookalike.ids import check_item_id, normalize_item_id
from lookalike.updates.new_images import (
    content_hash,
    encode_new,
    expand_images,
    metadata_rows,
    store_image,
)
from lookalike.updates.report import NewItem, Skipped, UpdateReport
from lookalike.updates.versions import (
    collect_unused,
    index_rows,
    keep_photos,
    load_live_index,
    rebuild_index,
    stage,
    write_version,
)


def add_items(
    bundle_dir: str | Path,
    images: Sequence[str | Path],
    metadata_csv: str | Path | None = None,
    ids: Sequence[str] | None = None,
    progress: bool = False,
    *,
    replace: bool = False,
    id_column: str | None = None,
    image_column: str | None = None,
    near_threshold: float | None = None,
    lock_timeout: float | None = LOCK_TIMEOUT,
) -> UpdateReport:
    """Add image files to the bundle as a new version.

    Args:
        bundle_dir: a built bundle.
        images: image files; folders are searched like a catalog folder.
        metadata_csv: optional CSV; rows match images by the image column's file name or by
            id == file stem, with the same column names a catalog CSV uses.
        ids: ids for ``images`` (files, not folders), overriding the CSV and the file stem.
        progress: print a line per step.
        replace: replace items whose id is already in the bundle (default: skip them).
        id_column, image_column: CSV columns (default: as for a catalog).
        near_threshold: embedding distance for near duplicates (default: NEAR_FRACTION of the
            catalog's median nearest-neighbour distance).
        lock_timeout: seconds to wait for another writer.

    Returns:
        The report; unreadable images, invalid or taken ids are skipped and named there.
    """
    paths = expand_images([Path(p) for p in images])
    if ids is not None and len(ids) != len(paths):
        raise UpdateError(f"got {len(ids)} ids for {len(paths)} images")
    rows, problems = metadata_rows(metadata_csv, id_column, image_column, paths)
    new: list[NewItem] = []
    skipped: list[Skipped] = []
    for position, path in enumerate(paths):
        if not path.is_file():
            skipped.append(Skipped(str(path), None, "file not found", "not_found"))
            continue
        row_id, metadata = rows.get(path.name) or rows.get(path.stem) or (None, {})
        item_id = ids[position] if ids is not None else (row_id or path.stem)
        new.append(NewItem(str(item_id), path, metadata, name=str(path)))
    return add_new_items(
        bundle_dir,
        new,
        replace=replace,
        near_threshold=near_threshold,
        progress=progress,
        lock_timeout=lock_timeout,
        skipped=skipped,
        problems=problems,
    )


def add_new_items(
    bundle_dir: str | Path,
    new: Sequence[NewItem],
    *,
    replace: bool = False,
    store_images: bool = False,
    near_threshold: float | None = None,
    progress: bool = False,
    lock_timeout: float | None = LOCK_TIMEOUT,
    skipped: list[Skipped] | None = None,
    problems: list[str] | None = None,
    encoder_loader: Callable[[BundleData], Any] | None = None,
    thumbnail_dirs: Sequence[str | Path] | None = None,
    photos_of: str | None = None,
    new_product: bool = False,
    all_or_nothing: bool = False,
) -> UpdateReport:
    """Add prepared items (file paths or image bytes) to the bundle as a new version.

    Args:
        bundle_dir: a built bundle.
        new: the items; invalid or repeated ids and unreadable images are skipped.
        replace: replace items whose id is already in the bundle (default: skip them).
        store_images: copy each added image into ``BUNDLE/images/`` (named by its sha256) and
            point the item there; needed for bytes sources (uploads).
        near_threshold, progress, lock_timeout: as for :func:`add_items`.
        skipped, problems: findings of the caller's own, carried into the report.
        encoder_loader: returns the encoder of the version it is given (default: load it
            from the version's ``encoder/``); the server passes one that reuses its own.
        thumbnail_dirs: thumbnail caches to clear of orphans afterwards (default
            ``BUNDLE/thumbnails``); see :func:`collect_garbage`.
        photos_of: every item of ``new`` is a photo of this one product (their ids are
            ignored): added to it when it exists, else a new product with these photos and
            the first one's metadata (:func:`add_photos`).
        new_product: with ``photos_of``, only as a new product: when the id is already in
            the bundle nothing is added (skipped with code ``id_exists``).
        all_or_nothing: when any item would be skipped (a bad id, an unreadable image, an id
            taken), add none of them (no new version; the report names the skipped).

    Returns:
        The report (``version`` None when nothing was added).
    """
    started = time.perf_counter()
    say = print if progress else (lambda *a, **k: None)
    skipped = list(skipped or [])
    candidates: list[NewItem] = []
    seen: set[str] = set()
    for item in new:
        item_id = item.id if photos_of is None else photos_of
        item = NewItem(normalize_item_id(item_id), item.source, item.metadata, item.name)
        reason, code = check_item_id(item.id), "invalid_id"
        if reason is None and item.id in seen and photos_of is None:
            reason, code = f"id {item.id!r} given twice; the first one is kept", "repeated_id"
        if reason is not None:
            skipped.append(Skipped(item.name or item.id, item.id, reason, code))
            continue
        if isinstance(item.source, bytes | bytearray) and not store_images:
            raise ValueError("image bytes can only be added with store_images=True")
        seen.add(item.id)
        candidates.append(item)

    bundle_dir = Path(bundle_dir)
    with bundle_lock(bundle_dir, lock_timeout):
        try:
            report = _add_locked(
                bundle_dir,
                candidates,
                skipped,
                problems,
                replace=replace,
                store_images=store_images,
                near_threshold=near_threshold,
                say=say,
                encoder_loader=encoder_loader,
                started=started,
                photos_of=candidates[0].id if photos_of is not None and candidates else None,
                new_product=new_product,
                all_or_nothing=all_or_nothing,
            )
        finally:
            # Also after a failed add: an image stored before the failure is garbage.
            collect_unused(bundle_dir, thumbnail_dirs)
    if report.version:
        say(f"bundle {bundle_dir}: version {report.version}, {report.items} items")
    return report


def _add_locked(
    bundle_dir: Path,
    candidates: list[NewItem],
    skipped: list[Skipped],
    problems: list[str] | None,
    *,
    replace: bool,
    store_images: bool,
    near_threshold: float | None,
    say: Callable[..., None],
    encoder_loader: Callable[[BundleData], Any] | None,
    started: float,
    photos_of: str | None = None,
    new_product: bool = False,
    all_or_nothing: bool = False,
) -> UpdateReport:
    """The body of :func:`add_new_items`, run under the writer lock."""
    stage("locked")
    data = read_bundle(bundle_dir)
    report = UpdateReport(
        "add",
        data.version_dir.name,
        items=len(data.items),
        skipped=skipped,
        problems=list(problems or []),
    )
    stage("read")
    existing = set(data.items.ids)
    if not replace and photos_of is None:
        taken = [item for item in candidates if item.id in existing]
        report.skipped += [
            Skipped(
                item.name or item.id,
                item.id,
                f"id {item.id!r} is already in the bundle (remove it first, or use --replace)",
                "id_exists",
            )
            for item in taken
        ]
        candidates = [item for item in candidates if item.id not in existing]
    if photos_of is not None and new_product and photos_of in existing:
        report.skipped.append(
            Skipped(
                photos_of,
                photos_of,
                f"id {photos_of!r} is already in the bundle (remove it first, or add photos to it)",
                "id_exists",
            )
        )
        candidates = []
    if not candidates or (all_or_nothing and report.skipped):
        report.seconds = time.perf_counter() - started
        return report

    encoder = encoder_loader(data) if encoder_loader else load_encoder(data.encoder_dir)
    say(f"decoding {len(candidates)} image(s) at {encoder.input_size}px")
    accepted, vectors, images, failed = encode_new(candidates, encoder)
    report.skipped += failed
    if not accepted or (all_or_nothing and failed):
        report.seconds = time.perf_counter() - started
        return report
    hashes = [content_hash(item.source) for item in accepted]
    index = load_live_index(data)
    # Searched photo by photo: a photo view of the bundle (an id per photo row).
    report.duplicates = find_duplicates(
        photo_view(data), index, accepted, hashes, vectors, images, encoder.input_size,
        near_threshold,
    )  # fmt: skip
    paths = (
        [
            store_image(bundle_dir, item.source, digest)
            for item, digest in zip(accepted, hashes, strict=True)
        ]
        if store_images
        else [str(Path(item.source).resolve()) for item in accepted]  # type: ignore[arg-type]
    )
    if photos_of is not None:
        return _add_photos_locked(
            bundle_dir, data, index, photos_of, accepted, paths, hashes, vectors, report, started
        )
    added = ItemTable(
        ids=[item.id for item in accepted],
        paths=paths,
        metadata=[dict(item.metadata) for item in accepted],
        content_hashes=hashes,
    )
    new_ids = set(added.ids)
    replaced_rows = [row for row, item_id in enumerate(data.items.ids) if item_id in new_ids]
    report.replaced = [data.items.ids[row] for row in replaced_rows]
    report.added = added.ids
    old_items, old_photos = _with_hashes(data.items, data.photos)
    if replaced_rows:
        # A replaced item loses every photo; the new one comes with one photo.
        keep = ~np.isin(old_photos.product_rows(), replaced_rows)
        kept_items, kept_photos, kept_vectors = keep_photos(
            old_items, old_photos, data.embeddings, keep
        )
        items = kept_items.extend(added)
        photos = kept_photos.extend(_one_photo_each(added, len(kept_items)))
        embeddings = np.concatenate([kept_vectors, vectors])
        index, note = rebuild_index(data, embeddings, items, photos)
        report.problems += [note] if note else []
    else:
        items = old_items.extend(added)
        photos = old_photos.extend(_one_photo_each(added, len(old_items)))
        embeddings = np.concatenate([data.embeddings, vectors])
        # Appended photo rows keep ids == row numbers: the old rows are unchanged.
        new_rows = np.arange(len(old_photos), len(photos), dtype=np.int64)
        if getattr(index, "stores_rows", False):  # Milvus: item id + metadata as fields
            index.add(vectors, new_rows, rows=index_rows(added))
        else:
            index.add(vectors, new_rows)
    stage("indexed")
    report.items = len(items)
    report.seconds = time.perf_counter() - started
    report.version = write_version(bundle_dir, data, items, embeddings, index, report, photos)
    return report


def add_photos(
    bundle_dir: str | Path,
    item_id: str,
    sources: Sequence[str | Path | bytes],
    metadata: dict[str, str] | None = None,
    *,
    store_images: bool = False,
    progress: bool = False,
    lock_timeout: float | None = LOCK_TIMEOUT,
    encoder_loader: Callable[[BundleData], Any] | None = None,
    thumbnail_dirs: Sequence[str | Path] | None = None,
    new_product: bool = False,
    all_or_nothing: bool = False,
) -> UpdateReport:
    """Add photos to product ``item_id``, as a new version: to its photos when it is in the
    bundle (numbered after its last one; ``metadata`` is then ignored), else as a new
    product with these photos (numbered from 1) and ``metadata``.

    Args:
        bundle_dir: a built bundle.
        item_id: the product.
        sources: image files, or encoded bytes (with ``store_images``).
        metadata: a new product's metadata columns.
        store_images, progress, lock_timeout, encoder_loader, thumbnail_dirs: as for
            :func:`add_new_items`.
        new_product: refuse (add nothing, skipped with code ``id_exists``) when ``item_id``
            is already in the bundle.
        all_or_nothing: add no photo unless every one can be added (one atomic update of
            all of them, or none).

    Returns:
        The report: ``added`` names a new product, ``photos_added`` every photo added;
        unreadable photos are skipped and named there.
    """
    new = []
    skipped = []
    for position, source in enumerate(sources):
        name = f"photo {position + 1}" if isinstance(source, bytes | bytearray) else str(source)
        if not isinstance(source, bytes | bytearray) and not Path(source).is_file():
            skipped.append(Skipped(name, item_id, "file not found", "not_found"))
            continue
        data = source if isinstance(source, bytes | bytearray) else Path(source)
        new.append(NewItem(item_id, data, dict(metadata or {}), name=name))
    return add_new_items(
        bundle_dir,
        new,
        store_images=store_images,
        progress=progress,
        lock_timeout=lock_timeout,
        skipped=skipped,
        encoder_loader=encoder_loader,
        thumbnail_dirs=thumbnail_dirs,
        photos_of=item_id,
        new_product=new_product,
        all_or_nothing=all_or_nothing,
    )


def _add_photos_locked(
    bundle_dir: Path,
    data: BundleData,
    index: Any,
    item_id: str,
    accepted: list[NewItem],
    paths: list[str],
    hashes: list[str],
    vectors: np.ndarray,
    report: UpdateReport,
    started: float,
) -> UpdateReport:
    """Append ``accepted`` as photos of ``item_id`` (a new product when it is not there)."""
    items, photos = _with_hashes(data.items, data.photos)
    if item_id in items.ids:
        product = items.ids.index(item_id)
        first = max(photos.numbers[r] for r in photos.of_product(product)) + 1
    else:
        product, first = len(items), 1
        items = items.extend(
            ItemTable([item_id], [paths[0]], [dict(accepted[0].metadata)], [hashes[0]])
        )
        report.added = [item_id]
    numbers = list(range(first, first + len(accepted)))
    photos = photos.extend(PhotoTable([product] * len(accepted), numbers, paths, hashes))
    embeddings = np.concatenate([data.embeddings, vectors])
    new_rows = np.arange(len(data.photos), len(photos), dtype=np.int64)
    if getattr(index, "stores_rows", False):  # Milvus: product id + metadata as fields
        rows = [(item_id, items.metadata[product])] * len(accepted)
        index.add(vectors, new_rows, rows=rows)
    else:
        index.add(vectors, new_rows)
    stage("indexed")
    report.photos_added = [f"{item_id} photo {n}" for n in numbers]
    report.items = len(items)
    report.seconds = time.perf_counter() - started
    report.version = write_version(bundle_dir, data, items, embeddings, index, report, photos)
    return report


def photo_view(data: BundleData) -> BundleData:
    """``data`` seen photo by photo: an item row per photo (its product's id and metadata,
    its own path and hash), for the duplicate search over the photo index."""
    if data.photos.one_per_product:
        return data
    products = data.photos.products
    table = ItemTable(
        ids=[data.items.ids[p] for p in products],
        paths=list(data.photos.paths),
        metadata=[data.items.metadata[p] for p in products],
        content_hashes=list(data.photos.content_hashes),
    )
    return dataclasses.replace(data, items=table, photos=PhotoTable.one_per_item(table))


def _one_photo_each(added: ItemTable, first_product: int) -> PhotoTable:
    """Photo rows for ``added`` items of one photo each, products numbered from
    ``first_product``."""
    n = len(added)
    return PhotoTable(
        list(range(first_product, first_product + n)),
        [1] * n,
        list(added.paths),
        list(added.content_hashes),
    )


def _with_hashes(items: ItemTable, photos: PhotoTable) -> tuple[ItemTable, PhotoTable]:
    """``items`` and ``photos`` with content hashes (old bundles may lack them: rows then
    count as unique)."""
    if items.content_hashes and photos.content_hashes or not len(items):
        return items, photos
    items = ItemTable(
        items.ids, items.paths, items.metadata, [f"row-{r}" for r in range(len(items))]
    )
    photos = PhotoTable(
        photos.products,
        photos.numbers,
        photos.paths,
        [
            f"row-{p}" if n == 1 else f"row-{p}-{n}"
            for p, n in zip(photos.products, photos.numbers, strict=True)
        ],
    )
    return items, photos
