"""The bundle's on-disk contract: file and folder names, the format version, the errors, the
live version's folder and the library versions a manifest records (see :mod:`lookalike.bundle`
for the layout)."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

FORMAT_VERSION = 1
CURRENT = "CURRENT"
VERSIONS = "versions"
MANIFEST = "manifest.json"
CONFIG = "config.json"
ITEMS = "items.json"
PHOTOS = "photos.json"
EMBEDDINGS = "embeddings.npy"
INDEX_DIR = "index"
ENCODER_DIR = "encoder"
TRAINING_DIR = "training"
KEEP_VERSIONS = 2
#: What a build (or an update, linked unchanged) reports: problems, duplicates, timings.
BUILD_REPORT = "build_report.json"
#: The writer lock's file, beside CURRENT.
LOCK_FILE = ".lock"
#: Seconds a writer waits for another writer's lock before giving up.
LOCK_TIMEOUT = 600.0
#: Images added through the API (outside versions/, which get pruned).
IMAGES_DIR = "images"
#: The server's thumbnail cache, by default.
THUMBNAILS_DIR = "thumbnails"
#: A temporary file (an atomic write in progress) older than this is garbage.
STALE_TEMP_S = 3600.0


class BundleError(ValueError):
    """A bundle is missing, incomplete or fails its integrity checks."""


class UpdateError(ValueError):
    """An update that cannot be done as asked (the bundle is left unchanged)."""


class BundleBusyError(UpdateError):
    """Another writer held the bundle's lock for longer than the timeout."""


#: The libraries that shape a bundle's contents.
BUNDLE_LIBRARIES = ("lookalike", "torch", "numpy", "faiss-cpu", "onnxruntime", "pillow")


def library_versions(names: Sequence[str] = BUNDLE_LIBRARIES) -> dict[str, str]:
    """Python's version and the installed version of each of ``names`` (missing ones left
    out); by default the libraries that shape a bundle's contents."""
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            pass
    return versions


def current_version_dir(bundle_dir: str | Path) -> Path:
    """The folder of the live version of ``bundle_dir``.

    Raises:
        BundleError: no bundle there.
    """
    bundle_dir = Path(bundle_dir)
    pointer = bundle_dir / CURRENT
    if not pointer.is_file():
        raise BundleError(
            f"no lookalike bundle at {bundle_dir} (missing {CURRENT}); "
            "build one with `lookalike build CATALOG --out DIR`"
        )
    name = pointer.read_text().strip()
    version_dir = bundle_dir / VERSIONS / name
    if not name or "/" in name or not version_dir.is_dir():
        raise BundleError(f"bundle {bundle_dir}: {CURRENT} names a missing version {name!r}")
    return version_dir
