"""The encoder's fit: which rows it is fitted on, the fingerprint that lets a later build
reuse a trained encoder (config, labels, archive), and what it learns from beside the
catalog: labelled archives and context composites."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.encoders import load_encoder
from lookalike.imaging import LEGACY_RESIZE
from lookalike.labelled import Archive, join_archives, read_archive
from lookalike.parsing.context import context_composites
from lookalike.pipeline.config import BuildConfig


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
    lazy: bool = False,
) -> Archive | None:
    """The decoded archive ``config`` names (labels in the catalog's label ``columns``), or
    None; says what it is and whether the encoder learns from it. ``lazy``: its photos are
    :class:`~lookalike.imaging.lazy.LazyPhotos`, decoded when the encoder reads them."""
    folders = archive_folders(config.archive)
    if not folders:
        return None
    archives = []
    for folder in folders:
        archive = read_archive(
            folder,
            config.archive_split,
            columns,
            size,
            workdir / "image-cache",
            progress,
            resize,
            lazy=lazy,
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


def context_record(config: BuildConfig, seed: int) -> dict[str, Any] | None:
    """What the context composites depend on (folders, composites per product, seed), for
    the fingerprint and the manifest; None without ``context_photos``."""
    folders = archive_folders(config.context_photos)
    if not folders:
        return None
    return {
        "folders": [str(Path(folder).resolve()) for folder in folders],
        "per_item": config.context_per_item,
        "seed": seed,
    }


def load_context(
    config: BuildConfig,
    images: np.ndarray,
    labels: dict[str, list[str]],
    size: int,
    resize: str,
    seed: int,
    progress: bool,
    workdir: Path | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The context composites ``config`` asks for: (catalog rows, images), every catalog
    image with a label (hidden test items have none) pasted into the context photos
    (:func:`lookalike.parsing.context.context_composites`)."""
    folders = archive_folders(config.context_photos)
    rows = [r for r in range(len(images)) if any(values[r] for values in labels.values())]
    sources, composites = context_composites(
        images,
        rows,
        folders,
        per_item=config.context_per_item,
        size=size,
        resize=resize,
        seed=seed,
        progress=progress,
        cache_dir=workdir,
    )
    if progress:
        print(
            f"context: {len(sources)} composites of {len(rows)} labelled catalog products "
            f"in the photos of {', '.join(folders)} teach the encoder"
        )
    return sources, composites
