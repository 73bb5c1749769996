"""Build a bundle: catalog -> images -> encoder -> embeddings -> index -> bundle.

This is the one place that wires the pure pieces together with files on disk; the CLI and
the Python API both call :func:`build_bundle`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
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
    bundle_lock,
)
from lookalike.catalog import Catalog, read_catalog, read_split
from lookalike.dedup import duplicate_groups, near_duplicate_pairs
from lookalike.encoders import TrainingData, encoder_class, load_encoder, make_config
from lookalike.encoders.base import encode_in_batches
from lookalike.imaging import cached_images, image_content_hash
from lookalike.index import build_index
from lookalike.labelled import Archive, read_archive

# Columns that describe an item one-of-a-kind (titles) are useless as class labels.
MAX_LABEL_CLASSES = 200
DEFAULT_ENCODER = "hybrid"


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
        archive: folder of labelled photos that are not catalog items (a retailer's archive
            of past products; a CSV with the catalog's label columns, as a catalog takes):
            they teach the encoder (the hybrid trains its head on them too), are recorded in
            the manifest (count, sha256 of the list) and are never indexed or shown.
        archive_split: which rows of the archive's labels: ``auto`` (the ``archive`` split
            when its CSV has a ``split`` column with that value, else every photo), a split
            value, or None for every photo.
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
    archive: str | None = None
    archive_split: str | None = "auto"


def load_catalog(config: BuildConfig) -> Catalog:
    """Read the catalog the config names."""
    return read_catalog(
        config.catalog,
        config.metadata_csv,
        id_column=config.id_column,
        image_column=config.image_column,
    )


def hidden_label_ids(config: BuildConfig) -> set[str]:
    """Ids whose labels must not be trained on (the ``test`` split), per ``split_csv``."""
    split_path = config.split_csv
    if split_path is None:
        default = Path(config.catalog) / "split.csv"
        split_path = str(default) if default.is_file() else ""
    if not split_path:
        return set()
    return {item_id for item_id, split in read_split(split_path).items() if split == "test"}


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
    catalog: Catalog, size: int, workdir: Path, progress: bool
) -> tuple[ItemTable, np.ndarray, list[str]]:
    """Decode every catalog image at ``size`` (cached); drop and report the unreadable ones."""
    paths = [item.path for item in catalog.items]
    batch = cached_images(paths, size, workdir / "image-cache", progress=progress)
    problems = [f"{paths[i]}: {message}; skipped" for i, message in batch.errors]
    kept = [catalog.items[i] for i in batch.ok]
    table = ItemTable(
        ids=[item.id for item in kept],
        paths=[str(item.path) for item in kept],
        metadata=[item.metadata for item in kept],
        content_hashes=[image_content_hash(item.path) for item in kept],
    )
    return table, batch.images, problems


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
) -> Archive | None:
    """The decoded archive ``config`` names (labels in the catalog's label ``columns``), or
    None; says what it is and whether the encoder learns from it."""
    if not config.archive:
        return None
    archive = read_archive(
        config.archive, config.archive_split, columns, size, workdir / "image-cache", progress
    )
    if progress:
        split = archive.photos.split
        print(
            f"archive: {len(archive.images)} labelled photos from {archive.photos.root}"
            + (f" (split {split})" if split else "")
            + " teach the encoder; never indexed or shown"
        )
        for problem in archive.problems[:20]:
            print(f"  warning: {problem}")
        if not getattr(encoder_cls, "learns_from_archive", False):
            print(f"  note: the {encoder_cls.name} encoder does not learn from an archive")
    return archive


def build_bundle(
    config: BuildConfig,
    out: str | Path,
    *,
    progress: bool = True,
    reuse_trained: bool | str = True,
    train_only: bool = False,
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

    Returns:
        The folder of the new live version (or of the trained encoder with ``train_only``).
    """
    started = time.perf_counter()
    out = Path(out)
    workdir = Path(config.workdir) if config.workdir else out / "work"
    say = print if progress else (lambda *a, **k: None)

    catalog = load_catalog(config)
    encoder_cls = encoder_class(config.encoder)
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"catalog: {len(catalog)} items from {catalog.root}")
    for problem in catalog.problems[:20]:
        say(f"  warning: {problem}")
    encoder_config = make_config(config.encoder, config.encoder_options)
    items, images, decode_problems = decode_catalog(
        catalog, encoder_config.input_size, workdir, progress
    )
    for problem in decode_problems[:20]:
        say(f"  warning: {problem}")
    if len(items) == 0:
        raise ValueError(f"no readable images in {config.catalog}")

    hidden = hidden_label_ids(config)
    columns = choose_label_columns(items.metadata, config.label_columns)
    labels = training_labels(items, columns, hidden)
    say(
        f"encoder {config.encoder}: {len(items)} images at {encoder_config.input_size}px; "
        f"label columns {columns or 'none'}"
        + (f" ({sum(i in hidden for i in items.ids)} test items' labels hidden)" if hidden else "")
    )
    size = encoder_config.input_size
    archive = load_archive(config, columns, size, workdir, progress, encoder_cls)
    record = archive.record() if archive is not None else None
    train_started = time.perf_counter()
    trained_dir = workdir / "trained" / config.encoder
    encoder = load_trained(trained_dir, encoder_config, labels, record) if reuse_trained else None
    if encoder is None:
        if reuse_trained == "required":
            raise ValueError(f"no trained {config.encoder} encoder in {trained_dir}; run `train`")
        # Fingerprint the config as asked for: fit may return a tuned copy of it.
        fingerprint = json.dumps(training_fingerprint(encoder_config, labels, record))
        data = TrainingData(images, labels, workdir, progress)
        if archive is not None:
            data.archive_images, data.archive_labels = archive.images, archive.labels
        encoder = encoder_cls.fit(data, encoder_config)
        encoder.save(trained_dir)
        fingerprint_path(trained_dir).write_text(fingerprint)
    else:
        say(f"reusing the trained encoder in {trained_dir}")
    del archive
    train_seconds = time.perf_counter() - train_started
    if train_only:
        say(f"encoder trained in {train_seconds:.0f}s and saved to {trained_dir}")
        return trained_dir
    encode_started = time.perf_counter()
    embeddings = encode_in_batches(
        encoder.encode, images, batch_size=128, progress=progress, desc="embedding catalog"
    )
    encode_seconds = time.perf_counter() - encode_started
    del images
    index = build_index(embeddings, np.arange(len(items), dtype=np.int64), kind=config.index)
    exact_groups = duplicate_groups(items.content_hashes, items.ids)

    out.mkdir(parents=True, exist_ok=True)
    # The same writer lock as `lookalike add/remove`: a build never interleaves with an update.
    with bundle_lock(out, timeout=None), BundleWriter(out) as writer:
        writer.write_json(CONFIG, dataclasses.asdict(config))
        writer.write_items(items, embeddings)
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
    say(
        f"bundle written to {out} ({len(items)} items, dim {encoder.dim}, index {index.kind}, "
        f"{len(exact_groups)} exact-duplicate groups) in {time.perf_counter() - started:.0f}s"
    )
    return version


def read_build_report(version_dir: Path) -> dict[str, Any]:
    """The build report of a bundle version ({} when absent)."""
    path = version_dir / BUILD_REPORT
    return json.loads(path.read_text()) if path.exists() else {}


__all__ = [
    "BUILD_REPORT",
    "DEFAULT_ENCODER",
    "BuildConfig",
    "build_bundle",
    "choose_label_columns",
    "decode_catalog",
    "duplicate_groups",
    "hidden_label_ids",
    "load_catalog",
    "near_duplicate_pairs",
    "read_build_report",
    "training_labels",
]
