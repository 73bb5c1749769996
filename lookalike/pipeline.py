"""Build a bundle: catalog -> images -> encoder -> embeddings -> index -> bundle.

This is the one place that wires the pure pieces together with files on disk; the CLI and
the Python API both call :func:`build_bundle`.

The encode step is a seam with two engines and one output: ``local`` decodes the catalog
into memory and encodes it on in-process threads (as always); ``ray`` fits the encoder on
the driver the same way, then decodes and encodes every photo on Ray Data actors
(:mod:`lookalike.distributed`) and returns the same rows, hashes and embeddings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.bundle import (
    BUILD_REPORT,
    CONFIG,
    ENCODER_DIR,
    INDEX_DIR,
    TRAINING_DIR,
    BundleWriter,
    ItemTable,
    PhotoTable,
    bundle_lock,
    collect_garbage,
)
from lookalike.catalog import Catalog, Item, is_uri, read_catalog, read_location_bytes, read_split
from lookalike.dedup import duplicate_groups, near_duplicate_pairs
from lookalike.distributed import EncodedCatalog, RayOptions, ray_encode_catalog
from lookalike.encoders import TrainingData, encoder_class, load_encoder, make_config
from lookalike.encoders.base import encode_in_batches, encoder_resize
from lookalike.encoders.device import resolve_device
from lookalike.imaging import LEGACY_RESIZE, cached_images, image_content_hash, load_images
from lookalike.index import build_index
from lookalike.labelled import Archive, join_archives, read_archive

# Columns that describe an item one-of-a-kind (titles) are useless as class labels.
MAX_LABEL_CLASSES = 200
DEFAULT_ENCODER = "hybrid"
#: The engines of the encode step.
ENGINES = ("local", "ray")


@dataclass
class BuildConfig:
    """Everything that decides what a bundle contains; saved as the bundle's config.json.

    Attributes:
        catalog: folder of images (Kaggle layout or any tree).
        metadata_csv: optional CSV of metadata (default: catalog/fashion.csv when present).
        id_column, image_column: CSV columns for the id and the image file name.
        encoder: registered encoder name (``cae``, ``efficientnet-lite0``, ``hybrid``).
        encoder_options: overrides of the encoder's config dataclass.
        index: ``auto`` (chosen by catalog size), ``flat``, ``hnsw`` or ``ivfpq``.
        split_csv: ``ProductId,split`` CSV; labels of items whose split is ``test`` are never
            used for training, so the bundle can be evaluated fairly. Default: catalog/split.csv
            when present; ``""`` turns it off.
        label_columns: metadata columns an encoder may learn from (default: every column with
            2..200 distinct values).
        workdir: cache and checkpoint folder (default: BUNDLE/work); reused by later runs.
        fit_limit: fit the encoder on at most this many catalog images, evenly spaced over
            the catalog's order (None: all of them, as always). The fit holds its images in
            the driver's memory (224 px: 150 KB each, 1.5 GB per 10,000), so cap it for huge
            catalogs; every image is still encoded.
        index_options: parameters of the index kind (e.g. ``uri`` for ``milvus``).
        archive: folder(s) of labelled photos that are not catalog items (a retailer's
            archive of past products; a CSV with the catalog's label columns, as a catalog
            takes, or labels in another vocabulary with a ``type_map.csv``, and with
            ``masks/`` one photo per garment: :func:`lookalike.labelled.read_archive`): they
            teach the encoder (the hybrid trains its head on them too), are recorded in the
            manifest (count, sha256 of the list) and are never indexed or shown.
        archive_split: which rows of the archives' labels: ``auto`` (the ``archive`` split
            when its CSV has a ``split`` column with that value, else ``train``, else every
            photo), a split value, or None for every photo.
        product_folders: the catalog is a folder per product (``CATALOG/<id>/*.jpg``);
            None = detected (:func:`lookalike.catalog.looks_like_product_folders`).
    """

    catalog: str
    metadata_csv: str | None = None
    id_column: str | None = None
    image_column: str | None = None
    encoder: str = DEFAULT_ENCODER
    encoder_options: dict[str, Any] = field(default_factory=dict)
    index: str = "auto"
    split_csv: str | None = None
    label_columns: list[str] | None = None
    workdir: str | None = None
    fit_limit: int | None = None
    index_options: dict[str, Any] = field(default_factory=dict)
    archive: str | list[str] | None = None
    archive_split: str | None = "auto"
    product_folders: bool | None = None


def load_catalog(config: BuildConfig) -> Catalog:
    """Read the catalog the config names."""
    return read_catalog(
        config.catalog,
        config.metadata_csv,
        id_column=config.id_column,
        image_column=config.image_column,
        product_folders=config.product_folders,
    )


def hidden_label_ids(config: BuildConfig, known_ids: Iterable[str] | None = None) -> set[str]:
    """Ids whose labels must not be trained on (the ``test`` split), per ``split_csv``; with
    ``known_ids`` (the catalog's), a split file matching none of them is refused
    (:func:`~lookalike.catalog.read_split`)."""
    split_path = config.split_csv
    if split_path is None:
        default = Path(config.catalog) / "split.csv"
        split_path = str(default) if default.is_file() else ""
    if not split_path:
        return set()
    split = read_split(split_path, config.id_column, known_ids)
    return {item_id for item_id, part in split.items() if part == "test"}


def choose_label_columns(metadata: list[dict[str, str]], wanted: list[str] | None) -> list[str]:
    """Metadata columns usable as class labels: given, or those with 2..200 distinct values
    where a value repeats on average (at most half as many values as labelled rows), which
    leaves out one-of-a-kind columns such as titles even on small catalogs."""
    columns: dict[str, set[str]] = {}
    filled: dict[str, int] = {}
    for row in metadata:
        for key, value in row.items():
            if value:
                columns.setdefault(key, set()).add(value)
                filled[key] = filled.get(key, 0) + 1
    if wanted is not None:
        missing = [c for c in wanted if c not in columns]
        if missing:
            raise ValueError(f"label column(s) {missing} not in the metadata ({sorted(columns)})")
        return list(wanted)
    return [
        c
        for c, values in columns.items()
        if 2 <= len(values) <= MAX_LABEL_CLASSES and len(values) <= filled[c] / 2
    ]


def training_labels(items: ItemTable, columns: list[str], hidden: set[str]) -> dict[str, list[str]]:
    """column -> per-row label, '' for unknown values and for hidden (test) items."""
    return {
        column: [
            "" if item_id in hidden else meta.get(column, "")
            for item_id, meta in zip(items.ids, items.metadata, strict=True)
        ]
        for column in columns
    }


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


def fit_sample_rows(n: int, limit: int | None) -> np.ndarray:
    """Rows (ascending) an encoder is fitted on: all ``n``, or ``limit`` evenly spaced."""
    if limit is not None and limit < 2:
        raise ValueError(f"fit limit must be at least 2 images, got {limit}")
    if limit is None or limit >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))


def fingerprint_path(trained_dir: Path) -> Path:
    """Where the config a trained encoder was made with is recorded."""
    return trained_dir / "trained_with.json"


def training_fingerprint(
    encoder_config: Any, labels: dict[str, list[str]], archive: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What a trained encoder depends on: its config, the labels it saw (test ones blank)
    and the archive it learnt from (when there is one)."""
    digest = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()
    fingerprint = {
        "config": json.loads(json.dumps(dataclasses.asdict(encoder_config))),
        "labels_sha256": digest,
    }
    if archive is not None:
        fingerprint["archive"] = archive
    return fingerprint


def load_trained(
    trained_dir: Path,
    encoder_config: Any,
    labels: dict[str, list[str]],
    archive: dict[str, Any] | None = None,
):
    """The encoder saved in ``trained_dir`` if it was trained with ``encoder_config`` on
    ``labels`` and ``archive`` (so a changed split never reuses an encoder that saw
    now-hidden labels)."""
    marker = fingerprint_path(trained_dir)
    if not marker.is_file():
        return None
    if json.loads(marker.read_text()) != training_fingerprint(encoder_config, labels, archive):
        return None
    return load_encoder(trained_dir)


def load_archive(
    config: BuildConfig,
    columns: list[str],
    size: int,
    workdir: Path,
    progress: bool,
    encoder_cls: type,
    resize: str = LEGACY_RESIZE,
) -> Archive | None:
    """The decoded archive ``config`` names (labels in the catalog's label ``columns``), or
    None; says what it is and whether the encoder learns from it."""
    folders = archive_folders(config.archive)
    if not folders:
        return None
    archives = []
    for folder in folders:
        archive = read_archive(
            folder, config.archive_split, columns, size, workdir / "image-cache", progress, resize
        )
        archives.append(archive)
        if progress:
            split = archive.photos.split
            print(
                f"archive: {len(archive.images)} labelled photos from {archive.photos.root}"
                + (f" (split {split})" if split else "")
                + " teach the encoder; never indexed or shown"
            )
            for problem in archive.problems[:20]:
                print(f"  warning: {problem}")
    if progress and not getattr(encoder_cls, "learns_from_archive", False):
        print(f"  note: the {encoder_cls.name} encoder does not learn from an archive")
    return join_archives(archives)


def archive_folders(archive: str | Sequence[str] | None) -> list[str]:
    """The archive folders a config names: one (a str) or several (a list)."""
    if not archive:
        return []
    return [archive] if isinstance(archive, str) else list(archive)


def build_bundle(
    config: BuildConfig,
    out: str | Path,
    *,
    progress: bool = True,
    reuse_trained: bool | str = True,
    train_only: bool = False,
    engine: str = "local",
    ray: RayOptions | None = None,
    device: str = "auto",
) -> Path:
    """Build (train + encode + index) a bundle for ``config`` into ``out``.

    Args:
        config: what to build.
        out: bundle folder; an existing bundle there is replaced atomically at the end.
        progress: progress bars and a line per stage.
        reuse_trained: reuse an encoder already trained with the same config in the work
            folder (and let training resume from its checkpoint); ``"required"`` fails when
            there is none (the ``index`` command).
        train_only: stop after training; returns the trained encoder's folder.
        engine: where the catalog is decoded and encoded: ``local`` (in-process threads) or
            ``ray`` (Ray Data actors, :mod:`lookalike.distributed`); the bundle is the same.
        ray: cluster, workers and batch size for ``engine="ray"``.
        device: ``auto`` (CUDA when PyTorch sees a GPU), ``cpu`` or ``cuda``, for training
            and batch encoding. On a machine without a GPU ``auto`` changes nothing.

    Returns:
        The folder of the new live version (or of the trained encoder with ``train_only``).
    """
    started = time.perf_counter()
    out = Path(out)
    workdir = Path(config.workdir) if config.workdir else out / "work"
    say = print if progress else (lambda *a, **k: None)

    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    device = resolve_device(device)
    catalog = load_catalog(config)
    # Read before anything is written: a split file for another catalog stops the build.
    hidden = hidden_label_ids(config, (item.id for item in catalog.items))
    encoder_cls = encoder_class(config.encoder)
    workdir.mkdir(parents=True, exist_ok=True)
    photos_in, numbers_in = photo_items(catalog)
    say(
        f"catalog: {len(catalog)} items from {catalog.root}"
        + (f" ({len(photos_in)} photos)" if len(photos_in) != len(catalog) else "")
    )
    if catalog.layout_note:
        say(f"  {catalog.layout_note}")
    for problem in catalog.problems[:20]:
        say(f"  warning: {problem}")
    encoder_config = make_config(config.encoder, config.encoder_options)
    size = encoder_config.input_size
    # The build letterboxes as the queries will: with the filter the encoder records.
    resize = encoder_resize(encoder_config)
    # Every photo is an image to fit on and encode; the table groups them into products.
    fit_rows = fit_sample_rows(len(photos_in), config.fit_limit)
    if engine == "local":
        # Decode the whole catalog once: the fit reads (a sample of) it, the encode all of it.
        items, images, decode_problems, ok = decode_items(
            photos_in, size, workdir, progress, resize
        )
        if len(fit_rows) < len(catalog):
            keep = np.flatnonzero(np.isin(np.asarray(ok, dtype=np.int64), fit_rows))
            fit_items, fit_images = items.select(keep), images[keep]
        else:
            fit_items, fit_images = items, images
    else:
        # Only the fit sample is decoded here; the Ray pipeline decodes every photo.
        sample = [photos_in[r] for r in fit_rows]
        fit_items, fit_images, decode_problems, _ = decode_items(
            sample, size, workdir, progress, resize
        )
        images = None
    for problem in decode_problems[:20]:
        say(f"  warning: {problem}")
    if len(fit_items) == 0:
        raise ValueError(f"no readable images in {config.catalog}")

    columns = choose_label_columns(fit_items.metadata, config.label_columns)
    labels = training_labels(fit_items, columns, hidden)
    say(
        f"encoder {config.encoder}: fitted on {len(fit_items)} of {len(catalog)} images at "
        f"{size}px on {device}; label columns {columns or 'none'}"
        + (
            f" ({sum(i in hidden for i in fit_items.ids)} test items' labels hidden)"
            if hidden
            else ""
        )
    )
    archive = load_archive(config, columns, size, workdir, progress, encoder_cls, resize)
    record = archive.record() if archive is not None else None
    train_started = time.perf_counter()
    trained_dir = workdir / "trained" / config.encoder
    encoder = load_trained(trained_dir, encoder_config, labels, record) if reuse_trained else None
    if encoder is None:
        if reuse_trained == "required":
            raise ValueError(f"no trained {config.encoder} encoder in {trained_dir}; run `train`")
        # Fingerprint the config as asked for: fit may return a tuned copy of it.
        fingerprint = json.dumps(training_fingerprint(encoder_config, labels, record))
        data = TrainingData(fit_images, labels, workdir, progress, device=device)
        if archive is not None:
            data.archive_images, data.archive_labels = archive.images, archive.labels
        encoder = encoder_cls.fit(data, encoder_config)
        encoder.save(trained_dir)
        fingerprint_path(trained_dir).write_text(fingerprint)
    else:
        say(f"reusing the trained encoder in {trained_dir}")
    del fit_images, archive
    train_seconds = time.perf_counter() - train_started
    if train_only:
        say(f"encoder trained in {train_seconds:.0f}s and saved to {trained_dir}")
        return trained_dir
    encode_started = time.perf_counter()
    if engine == "local":
        if device != "cpu" and hasattr(encoder, "to_device"):
            encoder.to_device(device)
        embeddings = encode_in_batches(
            encoder.encode, images, batch_size=128, progress=progress, desc="embedding catalog"
        )
        del images
    else:
        options = dataclasses.replace(ray or RayOptions(), progress=progress)
        if options.device == "auto":
            options.device = device if device != "cpu" else "auto"
        say(f"encoding {len(photos_in)} images on Ray ({options.address or 'local'})")
        encoded = ray_encode_catalog(
            trained_dir, [str(item.path) for item in photos_in], size, options
        )
        photo_catalog = dataclasses.replace(catalog, items=photos_in)
        items, embeddings, decode_problems = items_from_encoded(photo_catalog, encoded)
        ok = list(encoded.rows)
        for problem in decode_problems[:20]:
            say(f"  warning: {problem}")
        if len(items) == 0:
            raise ValueError(f"no readable images in {config.catalog}")
    encode_seconds = time.perf_counter() - encode_started
    # `items` so far has a row per readable photo: index every photo, under its row number.
    index = build_index(
        embeddings,
        np.arange(len(items), dtype=np.int64),
        kind=config.index,
        rows=list(zip(items.ids, items.metadata, strict=True)),
        **config.index_options,
    )
    exact_groups = product_duplicate_groups(items)
    items, photos = product_tables(items, [numbers_in[i] for i in ok])

    out.mkdir(parents=True, exist_ok=True)
    # The same writer lock as `lookalike add/remove`: a build never interleaves with an update.
    with bundle_lock(out, timeout=None), BundleWriter(out) as writer:
        writer.write_json(CONFIG, dataclasses.asdict(config))
        writer.write_items(items, embeddings, photos)
        encoder.save(writer.path(ENCODER_DIR, "x").parent)
        index.save(writer.path(INDEX_DIR, "x").parent)
        # Encoders that train keep their history in workdir/<encoder name>/.
        for name in ("history.csv", "loss_curves.png"):
            source = workdir / config.encoder / name
            if source.is_file():
                writer.path(TRAINING_DIR, name).write_bytes(source.read_bytes())
        report = {
            "catalog_problems": catalog.problems,
            "decode_problems": decode_problems,
            "exact_duplicate_groups": exact_groups,
            "label_columns": columns,
            "hidden_label_items": len(hidden & set(items.ids)),
            "encoder_mode": getattr(encoder, "mode", None),
            "engine": engine,
            "device": device,
            "fit_images": len(fit_items),
            **({"archive": record} if record is not None else {}),
            "seconds": {
                "train": round(train_seconds, 1),
                "encode": round(encode_seconds, 1),
                "total": round(time.perf_counter() - started, 1),
            },
        }
        writer.write_json(BUILD_REPORT, report)
        version = writer.commit(
            {
                "encoder": {"name": encoder.name, "dim": int(encoder.dim)},
                "index": {"kind": index.kind, **index.params()},
                **({"archive": record} if record is not None else {}),
            }
        )
        # Publishing pruned old versions: images and thumbnails only they used go too.
        collect_garbage(out, locked=True)
    say(
        f"bundle written to {out} ({len(items)} items"
        + (f", {len(photos)} photos" if len(photos) != len(items) else "")
        + f", dim {encoder.dim}, index {index.kind}, "
        f"{len(exact_groups)} exact-duplicate groups) in {time.perf_counter() - started:.0f}s"
    )
    return version


def items_from_encoded(
    catalog: Catalog, encoded: EncodedCatalog
) -> tuple[ItemTable, np.ndarray, list[str]]:
    """The item table, embeddings and decode problems of a distributed encode, in the same
    form (and order) as an in-process build's."""
    table = item_table([catalog.items[r] for r in encoded.rows], encoded.content_hashes)
    problems = [f"{catalog.items[r].path}: {message}; skipped" for r, message in encoded.errors]
    return table, encoded.embeddings, problems


def read_build_report(version_dir: Path) -> dict[str, Any]:
    """The build report of a bundle version ({} when absent)."""
    path = version_dir / BUILD_REPORT
    return json.loads(path.read_text()) if path.exists() else {}


__all__ = [
    "BUILD_REPORT",
    "DEFAULT_ENCODER",
    "ENGINES",
    "BuildConfig",
    "build_bundle",
    "choose_label_columns",
    "decode_catalog",
    "decode_items",
    "fit_sample_rows",
    "items_from_encoded",
    "duplicate_groups",
    "hidden_label_ids",
    "item_table",
    "load_catalog",
    "near_duplicate_pairs",
    "photo_items",
    "product_duplicate_groups",
    "product_tables",
    "read_build_report",
    "training_labels",
]
