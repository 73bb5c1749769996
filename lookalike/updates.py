"""Living catalogs: add items to, or remove items from, a built bundle without rebuilding it.

An update never touches the live version. It reads the live version, encodes new images with
that version's own encoder, and writes a complete new version with
:class:`lookalike.bundle.BundleWriter` (unchanged files such as ``encoder/`` are hard-linked,
not copied) which ``commit`` publishes by swapping ``CURRENT`` atomically. A reader (or a
server following ``CURRENT``) therefore sees the old catalog or the new one, never a mix,
and a writer killed at any point leaves the old one intact (plus, at worst, a stale
``versions/.staging-*`` folder or an unpublished version folder, both ignored and pruned
later).

Writers hold the bundle's writer lock (:func:`lookalike.bundle.bundle_lock`) around
read-modify-write, so two updates (CLI, server, or both) never interleave and none is lost.
Added images that duplicate catalog items or each other are reported, never refused
(:mod:`lookalike.dedup` says how they are found).

Test hook: with ``LOOKALIKE_TEST_SLOW_UPDATE`` in the environment, every stage of an update
(``locked``, ``read``, ``decoded``, ``encoded``, ``indexed``, ``written``, then the commit's
``staged``, ``renamed``, ``published``, and ``done``) prints ``lookalike-update-stage: NAME``
on stderr and pauses: ``SECONDS`` pauses that long at every stage, ``NAME=SECONDS`` only at
stage NAME (so a crash test can SIGKILL a writer held exactly there). Unset (always, in
production), it costs one environment lookup per stage.

The commands are ``lookalike add`` and ``lookalike remove`` (:mod:`lookalike.cli.update`).
Add and remove share the report, the id checks and the version-writing steps, so they stay
in one module (about 560 lines) that reads as one update's whole path.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from lookalike.bundle import (
    BUILD_REPORT,
    CONFIG,
    ENCODER_DIR,
    IMAGES_DIR,
    INDEX_DIR,
    LOCK_FILE,
    LOCK_TIMEOUT,
    TRAINING_DIR,
    BundleBusyError,
    BundleData,
    BundleWriter,
    ItemTable,
    UpdateError,
    bundle_lock,
    collect_garbage,
    read_bundle,
)
from lookalike.catalog import (
    ID_COLUMN_CANDIDATES,
    IMAGE_COLUMN_CANDIDATES,
    find_images,
    pick_column,
    read_csv_rows,
)
from lookalike.dedup import (
    AHASH_FACTOR,
    NEAR_FRACTION,
    NEAR_HAMMING,
    NEAR_NEIGHBOURS,
    NEIGHBOUR_SAMPLE,
    Duplicate,
    find_duplicates,
    typical_neighbour_distance,
)
from lookalike.encoders import load_encoder
from lookalike.encoders.base import encode_in_batches
from lookalike.files import atomic_write_bytes
from lookalike.imaging import image_content_hash, load_images
from lookalike.index import CONFIG_FILE, build_index, load_index

UPDATE_REPORT = "update_report.json"
SLOW_ENV = "LOOKALIKE_TEST_SLOW_UPDATE"
MAX_ID_LENGTH = 200
# Pillow format name -> file extension for stored uploads (the image endpoint serves files
# with a type guessed from the extension).
_FORMAT_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp"}


# --- reports --------------------------------------------------------------------------------------
@dataclass
class NewItem:
    """One item to add.

    Attributes:
        id: the item id (unique in the bundle).
        source: the image file, or its encoded bytes (needs ``store_images``).
        metadata: metadata columns.
        name: how messages name the image (a path or an upload's file name).
    """

    id: str
    source: Path | bytes
    metadata: dict[str, str] = field(default_factory=dict)
    name: str = ""


@dataclass
class Skipped:
    """An input that was not added, and why.

    ``code`` is one of ``not_found``, ``invalid_id``, ``repeated_id``, ``id_exists``,
    ``invalid_image`` and ``non_finite``, for callers (the API) that branch on it.
    """

    name: str
    id: str | None
    reason: str
    code: str = "skipped"


@dataclass
class UpdateReport:
    """What an add or remove did. ``version`` is None when nothing changed."""

    action: str
    previous_version: str
    version: str | None = None
    items: int = 0
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unknown_ids: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        """Whether a new version was published."""
        return self.version is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    def lines(self) -> list[str]:
        """Human-readable summary, one finding per line."""
        out = [f"skipped {s.name}: {s.reason}" for s in self.skipped]
        out += [f"unknown id {i!r}: not in the bundle" for i in self.unknown_ids]
        out += [f"warning: {p}" for p in self.problems]
        for d in self.duplicates:
            if d.kind == "exact":
                out.append(f"duplicate: {d.id!r} is a byte-identical copy of {d.of!r}")
            else:
                how = []
                if d.hamming is not None:
                    how.append(f"aHash {d.hamming} bits apart")
                if d.distance is not None:
                    how.append(f"embedding distance {d.distance:.4f}")
                out.append(f"near duplicate: {d.id!r} looks like {d.of!r} ({', '.join(how)})")
        verb = {"add": "added", "remove": "removed"}.get(self.action, self.action)
        count = len(self.added) if self.action == "add" else len(self.removed)
        extra = f", {len(self.replaced)} replaced" if self.replaced else ""
        if self.version:
            out.append(
                f"{verb} {count} item(s){extra}: bundle version {self.version} now holds "
                f"{self.items} items ({self.seconds:.1f}s)"
            )
        else:
            out.append(f"nothing {verb}; bundle unchanged at {self.previous_version}")
        return out


# --- locking and the test hook --------------------------------------------------------------------
def _stage(name: str) -> None:
    """Test hook (see the module docstring): announce stage ``name`` and pause there."""
    raw = os.environ.get(SLOW_ENV)
    if not raw:
        return
    where, _, seconds = raw.rpartition("=")
    try:
        delay = float(seconds) if not where or where == name else 0.0
    except ValueError:
        return
    # One write of a whole line: the marker must not interleave with other output.
    sys.stderr.write(f"lookalike-update-stage: {name}\n")
    sys.stderr.flush()
    time.sleep(max(0.0, delay))


# --- validation -----------------------------------------------------------------------------------
#: Unicode categories never allowed in an id: controls, format characters (zero-width
#: spaces and joiners, bidi overrides and isolates, soft hyphen, BOM), private use,
#: surrogates, line and paragraph separators, unassigned code points.
_BAD_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "an invisible format character (zero-width or bidi control)",
    "Co": "a private-use character",
    "Cs": "a lone surrogate (not valid Unicode)",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Cn": "an unassigned code point",
}
#: Default-ignorable code points outside category Cf that render as nothing: the combining
#: grapheme joiner, variation selectors, Mongolian free variation selectors and Hangul
#: fillers. An id holding one looks identical to the id without it.
_INVISIBLE = frozenset(
    [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180F, 0x3164, 0xFFA0]
    + list(range(0xFE00, 0xFE10))
    + list(range(0xE0100, 0xE01F0))
)


def normalize_item_id(item_id: str) -> str:
    """The form a new id is stored in: Unicode NFC, so ids that look the same and differ
    only in composition (``"e\u0301"`` and ``"\u00e9"``) are one id. Check the result with
    :func:`check_item_id`."""
    return unicodedata.normalize("NFC", item_id) if isinstance(item_id, str) else item_id


def check_item_id(item_id: Any) -> str | None:
    """Why ``item_id`` is not acceptable as a new id, or None if it is; the one id check of
    the CLI, the library and the HTTP API.

    Ids appear in URLs, file names and on screens, and two ids must never look alike, so
    these are refused: an empty id or one over :data:`MAX_ID_LENGTH` characters, leading or
    trailing whitespace, ``.``/``..``, ``/`` and ``\\``, ids not in Unicode NFC (see
    :func:`normalize_item_id`), and any character of the categories Cc, Cf, Co, Cs, Zl, Zp
    or Cn (controls, NUL, zero-width and bidi characters, private use, lone surrogates,
    separators, unassigned), invisible default-ignorable ones (variation selectors, Hangul
    fillers) and spaces other than U+0020.
    """
    if not isinstance(item_id, str) or not item_id:
        return "the id is empty"
    if len(item_id) > MAX_ID_LENGTH:
        return f"the id is longer than {MAX_ID_LENGTH} characters"
    if item_id != item_id.strip():
        return "the id has leading or trailing whitespace"
    if item_id in (".", "..") or "/" in item_id or "\\" in item_id:
        return "the id may not be '.', '..' or contain '/' or '\\'"
    for position, char in enumerate(item_id):
        category = unicodedata.category(char)
        what = _BAD_CATEGORIES.get(category)
        if what is None and ord(char) in _INVISIBLE:
            what = "an invisible character"
        if what is None and category == "Zs" and char != " ":
            what = "a space other than U+0020"
        if what is not None:
            return f"the id contains {what} (U+{ord(char):04X} at position {position})"
    if not unicodedata.is_normalized("NFC", item_id):
        return "the id is not in Unicode normal form NFC"
    return None


# --- add ------------------------------------------------------------------------------------------
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
    paths = _expand_images([Path(p) for p in images])
    if ids is not None and len(ids) != len(paths):
        raise UpdateError(f"got {len(ids)} ids for {len(paths)} images")
    rows, problems = _metadata_rows(metadata_csv, id_column, image_column, paths)
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

    Returns:
        The report (``version`` None when nothing was added).
    """
    started = time.perf_counter()
    say = print if progress else (lambda *a, **k: None)
    skipped = list(skipped or [])
    candidates: list[NewItem] = []
    seen: set[str] = set()
    for item in new:
        item = NewItem(normalize_item_id(item.id), item.source, item.metadata, item.name)
        reason, code = check_item_id(item.id), "invalid_id"
        if reason is None and item.id in seen:
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
            )
        finally:
            # Also after a failed add: an image stored before the failure is garbage.
            _collect(bundle_dir, thumbnail_dirs)
    if report.version:
        say(f"bundle {bundle_dir}: version {report.version}, {report.items} items")
    return report


def _collect(bundle_dir: Path, thumbnail_dirs: Sequence[str | Path] | None) -> None:
    """Garbage collection after an update (the caller holds the lock); never raises, so
    an update's own outcome (or error) is what the caller sees."""
    try:
        collect_garbage(bundle_dir, thumbnail_dirs=thumbnail_dirs, locked=True)
    except Exception as exc:  # noqa: BLE001 - garbage stays for `lookalike check --repair`
        sys.stderr.write(f"warning: garbage collection of {bundle_dir} failed: {exc}\n")


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
) -> UpdateReport:
    """The body of :func:`add_new_items`, run under the writer lock."""
    _stage("locked")
    data = read_bundle(bundle_dir)
    report = UpdateReport(
        "add",
        data.version_dir.name,
        items=len(data.items),
        skipped=skipped,
        problems=list(problems or []),
    )
    _stage("read")
    existing = set(data.items.ids)
    if not replace:
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
    if not candidates:
        report.seconds = time.perf_counter() - started
        return report

    encoder = encoder_loader(data) if encoder_loader else load_encoder(data.encoder_dir)
    say(f"decoding {len(candidates)} image(s) at {encoder.input_size}px")
    accepted, vectors, images, failed = _encode_new(candidates, encoder)
    report.skipped += failed
    if not accepted:
        report.seconds = time.perf_counter() - started
        return report
    hashes = [_content_hash(item.source) for item in accepted]
    index = _load_index(data)
    report.duplicates = find_duplicates(
        data, index, accepted, hashes, vectors, images, encoder.input_size, near_threshold
    )
    paths = (
        [
            _store_image(bundle_dir, item.source, digest)
            for item, digest in zip(accepted, hashes, strict=True)
        ]
        if store_images
        else [str(Path(item.source).resolve()) for item in accepted]  # type: ignore[arg-type]
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
    if replaced_rows:
        kept = np.setdiff1d(np.arange(len(data.items)), replaced_rows)
        items = _with_hashes(data.items).select(kept).extend(added)
        embeddings = np.concatenate([data.embeddings[kept], vectors])
        index, note = _rebuild_index(data, embeddings, items)
        report.problems += [note] if note else []
    else:
        items = _with_hashes(data.items).extend(added)
        embeddings = np.concatenate([data.embeddings, vectors])
        # Appended rows keep ids == row numbers: the old rows are unchanged.
        new_rows = np.arange(len(data.items), len(items), dtype=np.int64)
        if getattr(index, "stores_rows", False):  # Milvus: item id + metadata as fields
            index.add(vectors, new_rows, rows=_index_rows(added))
        else:
            index.add(vectors, new_rows)
    _stage("indexed")
    report.items = len(items)
    report.seconds = time.perf_counter() - started
    report.version = _write_version(bundle_dir, data, items, embeddings, index, report)
    return report


def _encode_new(
    candidates: list[NewItem], encoder: Any
) -> tuple[list[NewItem], np.ndarray, np.ndarray, list[Skipped]]:
    """Decode and encode ``candidates``: (the usable ones, their vectors, their decoded
    images, the skipped ones with the decoder's message)."""
    skipped = []
    batch = load_images([item.source for item in candidates], encoder.input_size)
    for position, message in batch.errors:
        item = candidates[position]
        name = item.name or item.id
        # The decoder names in-memory sources "<bytes>"; name the upload instead.
        message = message.replace("<bytes>", repr(name))
        skipped.append(Skipped(name, item.id, message, "invalid_image"))
    decoded = [candidates[position] for position in batch.ok]
    _stage("decoded")
    if not decoded:
        return [], np.zeros((0, encoder.dim), np.float32), batch.images, skipped
    vectors = encode_in_batches(encoder.encode, batch.images, batch_size=64)
    finite = np.isfinite(vectors).all(axis=1)
    for position in np.flatnonzero(~finite):
        item = decoded[position]
        reason = "the encoder gave non-finite values"
        skipped.append(Skipped(item.name or item.id, item.id, reason, "non_finite"))
    keep = np.flatnonzero(finite)
    _stage("encoded")
    return [decoded[p] for p in keep], vectors[keep], batch.images[keep], skipped


def _expand_images(paths: list[Path]) -> list[Path]:
    """Files as given; folders replaced by the catalog images below them."""
    out: list[Path] = []
    for path in paths:
        out += find_images(path) if path.is_dir() else [path]
    return out


def _metadata_rows(
    csv_path: str | Path | None,
    id_column: str | None,
    image_column: str | None,
    images: list[Path],
) -> tuple[dict[str, tuple[str | None, dict[str, str]]], list[str]]:
    """CSV rows keyed by image file name and by id: key -> (id, metadata); plus problems."""
    if csv_path is None:
        return {}, []
    rows, problems = read_csv_rows(Path(csv_path))
    fieldnames = list(rows[0]) if rows else []
    id_col = pick_column(fieldnames, id_column, ID_COLUMN_CANDIDATES)
    image_col = pick_column(fieldnames, image_column, IMAGE_COLUMN_CANDIDATES)
    if rows and id_col is None and image_col is None:
        problems.append(
            f"{Path(csv_path).name} has neither an id nor an image column; ids are file names"
        )
        return {}, problems
    names = {p.name for p in images} | {p.stem for p in images}
    keyed: dict[str, tuple[str | None, dict[str, str]]] = {}
    for line_no, row in enumerate(rows, start=2):
        item_id = row.get(id_col, "") if id_col else ""
        file_name = Path(row.get(image_col, "")).name if image_col else ""
        key = file_name if file_name in names else item_id if item_id in names else None
        if key is None:
            problems.append(
                f"{Path(csv_path).name} line {line_no}: no image among the inputs matches "
                f"{(file_name or item_id)!r}; row ignored"
            )
            continue
        if key in keyed:
            problems.append(f"{Path(csv_path).name} line {line_no}: {key!r} repeated; first kept")
            continue
        metadata = {k: v for k, v in row.items() if k not in (id_col, image_col)}
        keyed[key] = (item_id or None, metadata)
    return keyed, problems


def _content_hash(source: Path | bytes) -> str:
    if isinstance(source, bytes | bytearray):
        return hashlib.sha256(source).hexdigest()
    return image_content_hash(source)


def _with_hashes(items: ItemTable) -> ItemTable:
    """``items`` with content hashes (old bundles may lack them: rows then count as unique)."""
    if items.content_hashes or not len(items):
        return items
    return ItemTable(
        items.ids, items.paths, items.metadata, [f"row-{r}" for r in range(len(items))]
    )


def _store_image(bundle_dir: Path, source: Path | bytes, digest: str) -> str:
    """Keep an added image in ``BUNDLE/images/<sha256><ext>`` (written once, atomically)."""
    data = bytes(source) if isinstance(source, bytes | bytearray) else Path(source).read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as image:
            suffix = _FORMAT_EXTENSIONS.get(image.format or "", ".img")
    except Exception:  # noqa: BLE001 - it decoded a moment ago; the name is cosmetic
        suffix = ".img"
    folder = bundle_dir / IMAGES_DIR
    folder.mkdir(exist_ok=True)
    target = folder / f"{digest}{suffix}"
    if not target.exists():
        atomic_write_bytes(target, data)
    return str(target.resolve())


# --- remove ---------------------------------------------------------------------------------------
def remove_items(
    bundle_dir: str | Path,
    ids: Sequence[str],
    progress: bool = False,
    *,
    lock_timeout: float | None = LOCK_TIMEOUT,
    thumbnail_dirs: Sequence[str | Path] | None = None,
) -> UpdateReport:
    """Remove items by id, as a new version; unknown ids are reported, not fatal.

    Rows are renumbered (an item's id in the index must equal its row), so the index is
    rebuilt from the remaining embeddings with the same kind and parameters. At the sizes a
    live catalog is edited at this is cheap (a flat index below 200k items is a copy of the
    vectors: milliseconds); approximate kinds are retrained, which also keeps their recall
    after large deletions. Images and thumbnails that no kept version uses any more are
    then removed (:func:`lookalike.bundle.collect_garbage`; ``thumbnail_dirs`` as for
    :func:`add_new_items`).

    Raises:
        UpdateError: the removal would leave the bundle empty.
    """
    started = time.perf_counter()
    wanted = list(dict.fromkeys(str(i) for i in ids))
    bundle_dir = Path(bundle_dir)
    with bundle_lock(bundle_dir, lock_timeout):
        try:
            report = _remove_locked(bundle_dir, wanted, started)
        finally:
            _collect(bundle_dir, thumbnail_dirs)
    if progress and report.version:
        print(f"bundle {bundle_dir}: version {report.version}, {report.items} items")
    return report


def _remove_locked(bundle_dir: Path, wanted: list[str], started: float) -> UpdateReport:
    """The body of :func:`remove_items`, run under the writer lock."""
    _stage("locked")
    data = read_bundle(bundle_dir)
    report = UpdateReport("remove", data.version_dir.name, items=len(data.items))
    _stage("read")
    row_of = {item_id: row for row, item_id in enumerate(data.items.ids)}
    report.unknown_ids = [i for i in wanted if i not in row_of]
    drop = sorted(row_of[i] for i in wanted if i in row_of)
    if not drop:
        report.seconds = time.perf_counter() - started
        return report
    kept = np.setdiff1d(np.arange(len(data.items)), drop)
    if not len(kept):
        raise UpdateError(
            f"refusing to remove all {len(data.items)} items: a bundle needs at least one; "
            "build a new bundle instead"
        )
    items = data.items.select(kept)
    embeddings = data.embeddings[kept]
    index, note = _rebuild_index(data, embeddings, items)
    report.problems += [note] if note else []
    _stage("indexed")
    report.removed = [data.items.ids[r] for r in drop]
    report.items = len(items)
    report.seconds = time.perf_counter() - started
    report.version = _write_version(bundle_dir, data, items, embeddings, index, report)
    return report


# --- shared steps ---------------------------------------------------------------------------------
def _load_index(data: BundleData):
    return load_index(data.index_dir)


def _index_rows(items: ItemTable) -> list[tuple[str, dict[str, str]]]:
    return list(zip(items.ids, items.metadata, strict=True))


def _rebuild_index(
    data: BundleData, embeddings: np.ndarray, items: ItemTable
) -> tuple[Any, str | None]:
    """A new index over ``embeddings`` (ids = rows) of the live index's kind and params
    (a Milvus index gets a new collection with ``items``' ids and metadata)."""
    config = json.loads((data.index_dir / CONFIG_FILE).read_text())
    kind, params = config["kind"], dict(config.get("params") or {})
    try:
        return build_index(embeddings, kind=kind, rows=_index_rows(items), **params), None
    except ValueError as exc:
        if kind == "milvus":
            raise  # a serving index never silently becomes a local one
        # e.g. an ivfpq index with more lists than the remaining items can train.
        index = build_index(embeddings, kind="auto")
        return index, f"could not rebuild the {kind} index ({exc}); using {index.kind}"


def _write_version(
    bundle_dir: Path,
    data: BundleData,
    items: ItemTable,
    embeddings: np.ndarray,
    index,
    report: UpdateReport,
) -> str:
    """Stage and publish a version: new items/embeddings/index, the rest linked from the
    live version. Returns the new version's name."""
    with BundleWriter(bundle_dir) as writer:
        # Only when the test hook is on, so production commits stay hook-free.
        if os.environ.get(SLOW_ENV):
            writer.on_step = _stage
        writer.link_from(data.version_dir, [CONFIG, ENCODER_DIR, TRAINING_DIR, BUILD_REPORT])
        writer.write_items(items, embeddings)
        index.save(writer.path(INDEX_DIR, "x").parent)
        writer.write_json(
            UPDATE_REPORT, {k: v for k, v in report.to_dict().items() if k != "version"}
        )
        _stage("written")
        extra = {key: data.manifest[key] for key in ("encoder",) if key in data.manifest}
        extra["index"] = {"kind": index.kind, **index.params()}
        extra["update"] = {
            "action": report.action,
            "based_on": data.version_dir.name,
            "added": len(report.added),
            "removed": len(report.removed) + len(report.replaced),
        }
        version = writer.commit(extra)
    _stage("done")
    return version.name


# The lock, the errors and duplicate detection moved to lookalike.bundle and lookalike.dedup;
# their names stay importable from here (tests/test_public_api.py pins them).
__all__ = [
    "AHASH_FACTOR",
    "BUILD_REPORT",
    "IMAGES_DIR",
    "LOCK_FILE",
    "LOCK_TIMEOUT",
    "MAX_ID_LENGTH",
    "NEAR_FRACTION",
    "NEAR_HAMMING",
    "NEAR_NEIGHBOURS",
    "NEIGHBOUR_SAMPLE",
    "SLOW_ENV",
    "UPDATE_REPORT",
    "BundleBusyError",
    "Duplicate",
    "NewItem",
    "Skipped",
    "UpdateError",
    "UpdateReport",
    "add_items",
    "add_new_items",
    "bundle_lock",
    "check_item_id",
    "normalize_item_id",
    "find_duplicates",
    "remove_items",
    "typical_neighbour_distance",
]
