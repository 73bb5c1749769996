"""The on-disk bundle: everything needed to serve recommendations, in one directory.

Layout::

    BUNDLE/
      CURRENT                 name of the live version ("v000001"), swapped atomically
      versions/v000001/
        manifest.json         format version, library versions, creation time, counts, sha256
        config.json           the BuildConfig that made it
        items.json            products: ids, main photo paths, metadata, content hashes
        photos.json           photos: product id, photo number, path, sha256 (row = vector)
        embeddings.npy        float32 (photos, dim): one vector per photo
        index/                index.faiss + index.json (see lookalike.index)
        encoder/              encoder.json + weights (see lookalike.encoders)
        training/             loss history CSV and curves PNG, when the encoder trained
      images/                 images added through the API (named by their sha256)
      thumbnails/             made by the server on demand (named by their source's key)

A new version is written to a temporary folder, fsynced, renamed into ``versions/`` and only
then published by replacing ``CURRENT`` (``os.replace`` is atomic), so a reader sees the old
bundle or the new one, never a mix, and a killed build leaves the old one intact. Nothing is
pickled: JSON, ``.npy`` (``allow_pickle=False``), FAISS' own format and safetensors.

Garbage: ``images/`` and ``thumbnails/`` outlive the versions that use them, so
:func:`collect_garbage` (under the writer lock; after every update and by
``lookalike check --repair``) removes every file there that no kept version uses, and
:func:`find_orphans` lists them for ``lookalike check``.

The package's parts agree on one contract: :mod:`~lookalike.bundle.layout` (names, format
version, errors, the live version), :mod:`~lookalike.bundle.tables` (items and photos),
:mod:`~lookalike.bundle.lock` (the writer lock), :mod:`~lookalike.bundle.writer` (staging,
atomic publish, pruning), :mod:`~lookalike.bundle.reading` (read and check) and
:mod:`~lookalike.bundle.garbage` (orphaned images and thumbnails). Every public name is
importable from ``lookalike.bundle``, as it was when this was one module.
"""

from __future__ import annotations

from lookalike.bundle.garbage import (
    GarbageReport,
    collect_garbage,
    find_orphans,
    kept_image_paths,
    thumbnail_source_key,
)
from lookalike.bundle.layout import (
    BUILD_REPORT,
    BUNDLE_LIBRARIES,
    CONFIG,
    CURRENT,
    EMBEDDINGS,
    ENCODER_DIR,
    FORMAT_VERSION,
    IMAGES_DIR,
    INDEX_DIR,
    ITEMS,
    KEEP_VERSIONS,
    LOCK_FILE,
    LOCK_TIMEOUT,
    MANIFEST,
    PHOTOS,
    STALE_TEMP_S,
    THUMBNAILS_DIR,
    TRAINING_DIR,
    VERSIONS,
    BundleBusyError,
    BundleError,
    UpdateError,
    current_version_dir,
    library_versions,
)
from lookalike.bundle.lock import (
    bundle_lock,
)
from lookalike.bundle.reading import (
    BundleData,
    check_bundle,
    read_bundle,
)
from lookalike.bundle.tables import (
    ItemTable,
    PhotoTable,
)
from lookalike.bundle.writer import (
    BundleWriter,
    prune_versions,
)

# sha256_file lives in lookalike.files; importable from here too (an old import path).
from lookalike.files import sha256_file

__all__ = [
    "BUILD_REPORT",
    "BUNDLE_LIBRARIES",
    "BundleBusyError",
    "BundleData",
    "BundleError",
    "BundleWriter",
    "CONFIG",
    "CURRENT",
    "EMBEDDINGS",
    "ENCODER_DIR",
    "FORMAT_VERSION",
    "GarbageReport",
    "IMAGES_DIR",
    "INDEX_DIR",
    "ITEMS",
    "ItemTable",
    "KEEP_VERSIONS",
    "LOCK_FILE",
    "LOCK_TIMEOUT",
    "MANIFEST",
    "PHOTOS",
    "PhotoTable",
    "STALE_TEMP_S",
    "THUMBNAILS_DIR",
    "TRAINING_DIR",
    "UpdateError",
    "VERSIONS",
    "bundle_lock",
    "check_bundle",
    "collect_garbage",
    "current_version_dir",
    "find_orphans",
    "kept_image_paths",
    "library_versions",
    "prune_versions",
    "read_bundle",
    "sha256_file",
    "thumbnail_source_key",
]
