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

The module is about 600 lines on purpose: layout, writer, lock, reading, checks and garbage
collection are the bundle's one on-disk contract and must agree on every file name and rule.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.files import atomic_write_with, sha256_file
from lookalike.index import load_index
from lookalike.index.registry import release_index

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


@dataclass
class ItemTable:
    """Row-aligned product data (one row per product; for a one-photo catalog row i also
    describes embeddings[i]; see :class:`PhotoTable` for several photos per product)."""

    ids: list[str]
    paths: list[str]
    metadata: list[dict[str, str]]
    content_hashes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON form (one list per field)."""
        return {
            "ids": self.ids,
            "paths": self.paths,
            "metadata": self.metadata,
            "content_hashes": self.content_hashes,
        }

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> ItemTable:
        """Inverse of :meth:`to_json`, checking the lists line up."""
        table = cls(
            ids=[str(i) for i in payload["ids"]],
            paths=list(payload["paths"]),
            metadata=[dict(m) for m in payload["metadata"]],
            content_hashes=list(payload.get("content_hashes") or []),
        )
        n = len(table.ids)
        if len(table.paths) != n or len(table.metadata) != n:
            raise BundleError("items.json: ids, paths and metadata differ in length")
        if table.content_hashes and len(table.content_hashes) != n:
            raise BundleError("items.json: content_hashes differ in length from ids")
        return table

    def select(self, rows: np.ndarray | list[int]) -> ItemTable:
        """A new table with only ``rows``, in that order."""
        rows = list(map(int, rows))
        return ItemTable(
            ids=[self.ids[r] for r in rows],
            paths=[self.paths[r] for r in rows],
            metadata=[self.metadata[r] for r in rows],
            content_hashes=[self.content_hashes[r] for r in rows] if self.content_hashes else [],
        )

    def extend(self, other: ItemTable) -> ItemTable:
        """A new table with ``other``'s rows appended."""
        hashes = (
            self.content_hashes + other.content_hashes
            if self.content_hashes and other.content_hashes
            else []
        )
        return ItemTable(
            self.ids + other.ids, self.paths + other.paths, self.metadata + other.metadata, hashes
        )


@dataclass
class PhotoTable:
    """Row-aligned photo data: photo row i describes embeddings[i] (and index id i).

    ``products[i]`` is the item-table row of the photo's product; ``numbers[i]`` its photo
    number within the product (1 = the main photo; numbers stay fixed when a photo is removed).
    """

    products: list[int]
    numbers: list[int]
    paths: list[str]
    content_hashes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.products)

    @classmethod
    def one_per_item(cls, items: ItemTable) -> PhotoTable:
        """One photo per product, the item's own path (how bundles without photos.json,
        and one-photo catalogs, are read)."""
        return cls(
            list(range(len(items))), [1] * len(items), list(items.paths), list(items.content_hashes)
        )

    @property
    def one_per_product(self) -> bool:
        """Whether photo row i is product row i for every row (a one-photo catalog)."""
        return self.products == list(range(len(self.products)))

    def product_rows(self) -> np.ndarray:
        """int64 (photos,): each photo's product row (the group of every grouped search)."""
        return np.asarray(self.products, dtype=np.int64)

    def of_product(self, row: int) -> list[int]:
        """The photo rows of product ``row``, by photo number."""
        rows = [i for i, product in enumerate(self.products) if product == row]
        return sorted(rows, key=lambda i: self.numbers[i])

    def by_product(self, n_items: int) -> list[list[int]]:
        """Per product row (``n_items`` of them), its photo rows by photo number (one pass)."""
        rows: list[list[int]] = [[] for _ in range(n_items)]
        for photo, product in enumerate(self.products):
            rows[product].append(photo)
        for photos in rows:
            if len(photos) > 1:
                photos.sort(key=self.numbers.__getitem__)
        return rows

    def to_json(self, items: ItemTable) -> dict[str, Any]:
        """Plain-JSON form: one list per field, products named by id."""
        return {
            "product_ids": [items.ids[r] for r in self.products],
            "numbers": self.numbers,
            "paths": self.paths,
            "content_hashes": self.content_hashes,
        }

    @classmethod
    def from_json(cls, payload: dict[str, Any], items: ItemTable) -> PhotoTable:
        """Inverse of :meth:`to_json`, checking the lists line up and every product (and only
        a known one) has a photo."""
        row_of = {item_id: row for row, item_id in enumerate(items.ids)}
        try:
            products = [row_of[str(i)] for i in payload["product_ids"]]
        except KeyError as exc:
            raise BundleError(f"{PHOTOS}: photo of unknown product {exc.args[0]!r}") from None
        table = cls(
            products,
            [int(n) for n in payload["numbers"]],
            [str(p) for p in payload["paths"]],
            list(payload.get("content_hashes") or []),
        )
        table.check(len(items))
        return table

    def check(self, n_items: int) -> None:
        """Raise BundleError unless the lists line up and each of ``n_items`` products has
        at least one photo, with distinct photo numbers."""
        n = len(self.products)
        if len(self.numbers) != n or len(self.paths) != n:
            raise BundleError(f"{PHOTOS}: product ids, numbers and paths differ in length")
        if self.content_hashes and len(self.content_hashes) != n:
            raise BundleError(f"{PHOTOS}: content_hashes differ in length from product ids")
        if set(self.products) != set(range(n_items)):
            raise BundleError(f"{PHOTOS}: not every product has a photo")
        if len(set(zip(self.products, self.numbers, strict=True))) != n:
            raise BundleError(f"{PHOTOS}: a product has two photos with the same number")

    def select(self, rows: np.ndarray | list[int], product_map: dict[int, int]) -> PhotoTable:
        """A new table with only photo ``rows``, their products renumbered by
        ``product_map`` (old product row -> new)."""
        rows = list(map(int, rows))
        return PhotoTable(
            [product_map[self.products[r]] for r in rows],
            [self.numbers[r] for r in rows],
            [self.paths[r] for r in rows],
            [self.content_hashes[r] for r in rows] if self.content_hashes else [],
        )

    def extend(self, other: PhotoTable) -> PhotoTable:
        """A new table with ``other``'s rows appended (its product rows already final)."""
        hashes = (
            self.content_hashes + other.content_hashes
            if self.content_hashes and other.content_hashes
            else []
        )
        return PhotoTable(
            self.products + other.products,
            self.numbers + other.numbers,
            self.paths + other.paths,
            hashes,
        )


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


@contextlib.contextmanager
def bundle_lock(bundle_dir: str | Path, timeout: float | None = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the bundle's exclusive writer lock (``BUNDLE/.lock``) for the ``with`` block.

    Writers (builds into an existing bundle, adds, removes; CLI, server or both) take it
    around read-modify-write, so none interleave and no update is lost. It is an
    ``fcntl.flock``: the kernel drops it when a writer dies, so a killed writer never leaves
    the bundle locked.

    Args:
        bundle_dir: the bundle folder (must exist).
        timeout: seconds to wait for another writer; None waits forever.

    Raises:
        BundleError: no such folder.
        BundleBusyError: still locked after ``timeout`` seconds.
    """
    bundle_dir = Path(bundle_dir)
    if not bundle_dir.is_dir():
        raise BundleError(f"no lookalike bundle at {bundle_dir}")
    fd = os.open(bundle_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise BundleBusyError(
                        f"bundle {bundle_dir} is being updated by another writer; try again"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


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


# --- garbage collection -----------------------------------------------------------------------
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
