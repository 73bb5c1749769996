"""Read a catalog of product images into items (id, photos, metadata).

An item is a product with one or more photos (:attr:`Item.photos`; the first is its main
photo, :attr:`Item.path`). These layouts are understood:

* the Kaggle "E-commerce Product Images" layout: a folder with ``fashion.csv`` (columns
  ``ProductId`` and ``Image``) and images anywhere below it, named ``<ProductId>.jpg``;
* any folder tree of images (jpg, jpeg, png, webp), optionally with a CSV that maps an image
  file name (or stem, or id) to metadata columns;
* a manifest: a CSV or Parquet file with one row per item, an image column holding a path
  (relative to the manifest's folder, or absolute) or a URI (``s3://``, ``gs://``,
  ``hdfs://``, ``file://``: anything pyarrow's filesystems open), an optional id column and
  metadata columns. Photos can then live on shared or object storage;
* several photos per product: a CSV (metadata or manifest) with several rows for one id,
  one photo each (their metadata must agree: a row that disagrees is named in ``problems``
  and the first row's metadata kept), or a folder per product, ``CATALOG/<id>/*.jpg``
  (``product_folders``; detected when the metadata CSV's ids name the subfolders).

Reading never decodes images; problems (bad CSV rows, duplicate ids, rows without an image,
images without a row) are collected as human-readable strings, never raised, so one bad row
never stops a build.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lookalike.extras import require
from lookalike.ids import check_item_id, normalize_item_id

#: File endings read as images, everywhere (catalog folders, uploads, `lookalike add`).
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"})
#: The project's reference catalog: ``../shared/fashion-images`` beside the checkout.
REFERENCE_CATALOG = Path(__file__).resolve().parents[1].parent / "shared" / "fashion-images"
KAGGLE_CSV = "fashion.csv"
# Column names tried, in order, when the caller does not say which column holds the id / file.
ID_COLUMN_CANDIDATES = ("ProductId", "product_id", "id", "item_id", "sku")
IMAGE_COLUMN_CANDIDATES = ("Image", "image", "filename", "file", "path", "image_path")


@dataclass(frozen=True)
class Item:
    """One catalog item: a stable id, its image file and its metadata columns.

    ``path`` is a local :class:`~pathlib.Path`, or a ``str`` URI for a manifest row whose
    image lives on a remote filesystem (see :func:`is_uri`).
    """

    id: str
    path: Path | str
    metadata: dict[str, str] = field(default_factory=dict)
    #: The product's other photos, after its main photo ``path`` (empty: one photo).
    more_photos: tuple[Path | str, ...] = ()

    @property
    def photos(self) -> tuple[Path | str, ...]:
        """Every photo of the product, main photo first."""
        return (self.path, *self.more_photos)


@dataclass
class Catalog:
    """Items in a stable order (sorted by id) plus the problems met while reading."""

    root: Path
    items: list[Item]
    problems: list[str] = field(default_factory=list)
    #: How the tree was read when that was detected, not given (e.g. "a folder per product,
    #: detected: ..."); empty otherwise. The build prints it.
    layout_note: str = ""

    def __len__(self) -> int:
        return len(self.items)

    @property
    def photo_count(self) -> int:
        """Photos over all items (= ``len(self)`` for a one-photo-per-product catalog)."""
        return sum(len(item.photos) for item in self.items)

    def metadata_columns(self) -> list[str]:
        """Metadata column names present on at least one item, in first-seen order."""
        seen: dict[str, None] = {}
        for item in self.items:
            seen.update(dict.fromkeys(item.metadata))
        return list(seen)


class CatalogError(ValueError):
    """The catalog as a whole cannot be read (missing folder, unreadable CSV, no images)."""


def reference_catalog() -> Path | None:
    """The reference catalog (``../shared/fashion-images`` next to the checkout or to the
    current folder), or None when it is not there."""
    for candidate in (REFERENCE_CATALOG, Path.cwd().parent / "shared" / "fashion-images"):
        if candidate.is_dir():
            return candidate
    return None


def read_csv_rows(path: Path) -> tuple[list[dict[str, str]], list[str]]:
    """Read a CSV into dict rows, tolerating non-UTF-8 bytes and ragged rows.

    Args:
        path: CSV file with a header row.

    Returns:
        (rows, problems): rows with whitespace-stripped string values; problems name the line of
        every row that had too many or too few fields (such rows are kept with what they have).
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"cannot read metadata CSV {path}: {exc.strerror or exc}") from exc
    problems: list[str] = []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Shop exports are often cp1252/latin-1; keep the rows and say so instead of failing.
        text = raw.decode("latin-1")
        problems.append(f"{path.name}: not valid UTF-8, read as Latin-1")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise CatalogError(f"metadata CSV {path} has no header row")
    rows = []
    for line_no, row in enumerate(reader, start=2):
        extra = row.pop(None, None)  # type: ignore[call-overload]
        if extra:
            problems.append(f"{path.name} line {line_no}: {len(extra)} extra field(s) ignored")
        if any(value is None for value in row.values()):
            problems.append(f"{path.name} line {line_no}: missing fields")
        rows.append({k.strip(): (v or "").strip() for k, v in row.items() if k is not None})
    return rows, problems


def pick_column(
    fieldnames: Sequence[str], wanted: str | None, candidates: Sequence[str]
) -> str | None:
    """The CSV column to use: ``wanted`` if given (None when absent), else the first of
    ``candidates`` present, compared case-insensitively (the CSV's own spelling returned)."""
    if wanted is not None:
        return wanted if wanted in fieldnames else None
    lowered = {name.lower(): name for name in fieldnames}
    for candidate in candidates:
        if candidate.lower() in lowered:
            return lowered[candidate.lower()]
    return None


def find_images(root: Path) -> list[Path]:
    """All catalog image files below ``root`` (hidden folders skipped), sorted for stability."""
    found = []
    for path in root.rglob("*"):
        if path.suffix.lower() not in IMAGE_EXTENSIONS or not path.is_file():
            continue
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        found.append(path)
    return sorted(found)


MANIFEST_SUFFIXES = (".csv", ".parquet", ".pq")


def is_uri(location: str | Path) -> bool:
    """True for ``scheme://...`` locations (read through pyarrow filesystems)."""
    return isinstance(location, str) and "://" in location


def read_location_bytes(location: str | Path) -> bytes:
    """The bytes of a local path or a URI (``s3://``, ``gs://``, ``hdfs://``, ``file://``).

    URIs need pyarrow (``pip install 'lookalike[ray]'``); local paths need nothing.

    Raises:
        OSError: the file cannot be read.
    """
    if not is_uri(location):
        return Path(location).read_bytes()
    fs_module = require("pyarrow.fs", "ray")
    try:
        filesystem, path = fs_module.FileSystem.from_uri(str(location))
        with filesystem.open_input_stream(path) as stream:
            return stream.read()
    except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) too
        raise OSError(f"cannot read {location}: {exc}") from exc


def _manifest_rows(path: Path) -> tuple[list[dict[str, str]], list[str]]:
    if path.suffix.lower() == ".csv":
        return read_csv_rows(path)
    pq = require("pyarrow.parquet", "ray")
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise CatalogError(f"cannot read manifest {path}: {exc}") from exc
    rows = [
        {str(k): "" if v is None else str(v).strip() for k, v in row.items()}
        for row in table.to_pylist()
    ]
    return rows, []


def read_manifest(
    path: str | Path, *, id_column: str | None = None, image_column: str | None = None
) -> Catalog:
    """Read a manifest (CSV or Parquet: image path or URI + metadata columns) into a Catalog.

    Args:
        path: the manifest file.
        id_column: column with the item id (default: ProductId, id, ...; else the file stem).
        image_column: column with the image location (default: Image, image, path, ...).

    Returns:
        A :class:`Catalog` rooted at the manifest's folder, sorted by id. Rows without an image
        location, duplicate ids and repeated locations are skipped and named in ``problems``.
        Images are not opened here (a missing file is reported when the build decodes it).

    Raises:
        CatalogError: unreadable manifest, no image column, or no usable row.
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise CatalogError(f"manifest not found: {path}")
    rows, problems = _manifest_rows(path)
    fieldnames = list(rows[0]) if rows else []
    image_col = pick_column(fieldnames, image_column, IMAGE_COLUMN_CANDIDATES)
    if image_col is None:
        raise CatalogError(
            f"manifest {path} has no image column "
            f"({image_column or ', '.join(IMAGE_COLUMN_CANDIDATES)}); columns: "
            f"{', '.join(fieldnames) or 'none'}"
        )
    id_col = pick_column(fieldnames, id_column, ID_COLUMN_CANDIDATES)
    if id_column is not None and id_col is None:
        problems.append(f"manifest has no id column {id_column!r}; ids are file stems")
    items: dict[str, Item] = {}
    seen: set[str] = set()
    for line_no, row in enumerate(rows, start=2):
        location = row.get(image_col, "")
        if not location:
            problems.append(f"manifest row {line_no}: no image location; skipped")
            continue
        where: Path | str = location if is_uri(location) else (path.parent / location).resolve()
        key = str(where)
        stem = Path(location.rsplit("/", 1)[-1]).stem
        item_id = (row.get(id_col, "") if id_col else "") or stem
        if key in seen:
            problems.append(f"manifest row {line_no}: image {location} already used; skipped")
            continue
        seen.add(key)
        metadata = {k: v for k, v in row.items() if k not in (id_col, image_col)}
        if item_id in items:  # another photo of the same product
            items[item_id] = add_photo(
                items[item_id], where, metadata, f"manifest row {line_no}", problems
            )
            continue
        items[item_id] = Item(item_id, where, metadata)
    if not items:
        raise CatalogError(f"manifest {path} lists no usable image")
    ordered = sorted(with_valid_ids(list(items.values()), problems), key=item_sort_key)
    if not ordered:
        raise CatalogError(f"manifest {path} lists no usable image")
    return Catalog(root=path.parent, items=ordered, problems=problems)


def read_catalog(
    root: str | Path,
    metadata_csv: str | Path | None = None,
    *,
    id_column: str | None = None,
    image_column: str | None = None,
    product_folders: bool | None = None,
) -> Catalog:
    """Read a catalog folder (Kaggle layout or any image tree) with optional metadata.

    Args:
        root: folder holding the images (searched recursively).
        metadata_csv: CSV of metadata; defaults to ``root/fashion.csv`` when it exists.
        id_column: CSV column with the item id (default: first of ProductId, id, item_id, sku).
        image_column: CSV column with the image file name (default: Image, filename, ...);
            without one, rows are matched to images by id == file stem.
        product_folders: the folder holds a folder per product (``root/<id>/*.jpg``, each
            folder's images the product's photos); None = detected
            (:func:`looks_like_product_folders`).

    Returns:
        A :class:`Catalog` sorted by id. Items whose image has no CSV row keep the file stem as
        id and empty metadata; rows without an image are skipped and named in ``problems``.
        Several rows for one id with different images are one product with several photos.

    A file ending in .csv or .parquet is read as a manifest (:func:`read_manifest`).

    Raises:
        CatalogError: the folder is missing or holds no images.
    """
    root = Path(root).expanduser().resolve()
    if root.is_file() and root.suffix.lower() in MANIFEST_SUFFIXES:
        return read_manifest(root, id_column=id_column, image_column=image_column)
    if not root.is_dir():
        raise CatalogError(f"catalog folder not found: {root}")
    images = find_images(root)
    if not images:
        raise CatalogError(f"no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) found under {root}")
    if metadata_csv is None and (root / KAGGLE_CSV).is_file():
        metadata_csv = root / KAGGLE_CSV
    problems: list[str] = []
    rows: list[dict[str, str]] = []
    if metadata_csv is not None:
        rows, problems = read_csv_rows(Path(metadata_csv))
    note = ""
    if product_folders is None:
        product_folders = looks_like_product_folders(root, images, rows)
        if product_folders:
            note = f"read as a folder per product ({root.name}/<id>/*), detected: " + (
                "the CSV's ids name the folders" if rows else "file names repeat across folders"
            )
    if product_folders:
        catalog = _product_folder_items(root, images, rows, problems, id_column)
        catalog.layout_note = note
        return catalog
    return _match_rows_to_images(root, images, rows, problems, id_column, image_column)


def _match_rows_to_images(
    root: Path,
    images: list[Path],
    rows: list[dict[str, str]],
    problems: list[str],
    id_column: str | None,
    image_column: str | None,
) -> Catalog:
    by_name: dict[str, Path] = {}
    by_stem: dict[str, Path] = {}
    for path in images:
        # First path wins for a repeated file name; the repeat is reported as a duplicate id below.
        by_name.setdefault(path.name, path)
        by_stem.setdefault(path.stem, path)

    fieldnames = list(rows[0]) if rows else []
    id_col = pick_column(fieldnames, id_column, ID_COLUMN_CANDIDATES) if rows else None
    image_col = pick_column(fieldnames, image_column, IMAGE_COLUMN_CANDIDATES) if rows else None
    for what, wanted, found in (("id", id_column, id_col), ("image", image_column, image_col)):
        if rows and wanted is not None and found is None:
            problems.append(
                f"metadata CSV has no {what} column {wanted!r} (columns: {', '.join(fieldnames)})"
            )
    if rows and id_col is None and image_col is None:
        problems.append(
            "metadata CSV has neither an id nor an image column "
            f"(looked for {', '.join(ID_COLUMN_CANDIDATES + IMAGE_COLUMN_CANDIDATES)}); ignored"
        )
        rows = []

    items: dict[str, Item] = {}
    used_paths: set[Path] = set()
    for line_no, row in enumerate(rows, start=2):
        item_id = row.get(id_col, "") if id_col else ""
        file_name = Path(row.get(image_col, "")).name if image_col else ""
        path = by_name.get(file_name) if file_name else None
        if path is None and item_id:
            path = by_stem.get(item_id)
        if not item_id and path is not None:
            item_id = path.stem
        if not item_id:
            problems.append(f"metadata line {line_no}: no id and no matching image; skipped")
            continue
        if path is None:
            problems.append(f"metadata line {line_no}: item {item_id!r} has no image file; skipped")
            continue
        if item_id in items and path in items[item_id].photos:
            problems.append(f"metadata line {line_no}: duplicate id {item_id!r}; first row kept")
            continue
        if path in used_paths:
            problems.append(
                f"metadata line {line_no}: image {path.name} already used by another id; skipped"
            )
            continue
        metadata = {k: v for k, v in row.items() if k not in (id_col, image_col)}
        used_paths.add(path)
        if item_id in items:  # another row of the same product: one more photo
            where = f"metadata line {line_no}"
            items[item_id] = add_photo(items[item_id], path, metadata, where, problems)
            continue
        items[item_id] = Item(item_id, path, metadata)

    orphans, taken = 0, 0
    for path in images:
        if path in used_paths:
            continue
        item_id = path.stem
        if item_id in items:
            problems.append(f"{path.relative_to(root)}: id {item_id!r} already taken; skipped")
            taken += 1
            continue
        items[item_id] = Item(item_id, path, {})
        orphans += 1
    if taken * 2 > len(images):
        # Most photos would be dropped: a catalog that builds from a fraction of its photos
        # must not look like a success.
        raise CatalogError(
            f"{taken} of {len(images)} images under {root} share a file name with another "
            "image (e.g. front.jpg in several folders), so most would be skipped. If each "
            "folder is one product (CATALOG/<id>/*.jpg), pass --product-folders; otherwise "
            "give the images distinct names or a metadata CSV with an id per image"
        )
    if rows and orphans:
        problems.append(f"{orphans} image(s) have no metadata row; kept with empty metadata")
    ordered = sorted(with_valid_ids(list(items.values()), problems), key=item_sort_key)
    return Catalog(root=root, items=ordered, problems=problems)


def add_photo(
    item: Item, path: Path | str, metadata: dict[str, str], where: str, problems: list[str]
) -> Item:
    """``item`` with one more photo, ``path``. A product's rows must agree on its metadata:
    a row whose ``metadata`` differs is named in ``problems`` (its photo is kept, the first
    row's metadata wins)."""
    differ = sorted(
        name
        for name in set(item.metadata) | set(metadata)
        if item.metadata.get(name, "") != metadata.get(name, "")
    )
    if differ:
        shown = ", ".join(
            f"{name} {metadata.get(name, '')!r} vs {item.metadata.get(name, '')!r}"
            for name in differ[:3]
        )
        problems.append(
            f"{where}: duplicate id {item.id!r} whose metadata disagrees with its first row "
            f"({shown}): kept as another photo of the product, with the first row's metadata"
        )
    return dataclasses.replace(item, more_photos=(*item.more_photos, path))


def looks_like_product_folders(root: Path, images: list[Path], rows: list[dict[str, str]]) -> bool:
    """Whether ``root`` is a folder per product (``root/<id>/*.jpg``): every image one
    level down, and either the metadata CSV's ids name most subfolders but few image files,
    or (without a CSV) most folders hold several photos and most file names repeat across
    folders (``<id>/front.jpg``, ``<id>/back.jpg``: file names that cannot be ids)."""
    if any(len(path.relative_to(root).parts) != 2 for path in images):
        return False
    if not rows:
        per_folder = Counter(path.parent.name for path in images)
        per_name = Counter(path.stem for path in images)
        several = sum(count >= 2 for count in per_folder.values())
        repeated = sum(per_name[path.stem] >= 2 for path in images)
        return len(per_folder) >= 2 and several * 2 > len(per_folder) and repeated * 2 > len(images)
    id_col = pick_column(list(rows[0]), None, ID_COLUMN_CANDIDATES)
    if id_col is None:
        return False
    ids = {row.get(id_col, "") for row in rows}
    folders = {path.parent.name for path in images}
    stems = {path.stem for path in images}
    return len(folders & ids) * 2 > len(folders) and len(stems & ids) * 2 <= len(stems)


def _product_folder_items(
    root: Path,
    images: list[Path],
    rows: list[dict[str, str]],
    problems: list[str],
    id_column: str | None,
) -> Catalog:
    """Items of a folder-per-product catalog: ``root/<id>/*`` are the photos of product
    ``id`` (sorted by file name, the first is the main photo); an image directly in ``root``
    is a one-photo product named by its stem; metadata rows are matched by id."""
    photos: dict[str, list[Path]] = {}
    for path in images:
        parts = path.relative_to(root).parts
        photos.setdefault(parts[0] if len(parts) > 1 else path.stem, []).append(path)
    id_col = pick_column(list(rows[0]), id_column, ID_COLUMN_CANDIDATES) if rows else None
    metadata: dict[str, dict[str, str]] = {}
    for line_no, row in enumerate(rows, start=2):
        item_id = row.get(id_col, "") if id_col else ""
        if not item_id or item_id not in photos:
            problems.append(
                f"metadata line {line_no}: no folder of photos for {item_id!r}; skipped"
            )
            continue
        if item_id in metadata:
            problems.append(f"metadata line {line_no}: duplicate id {item_id!r}; first row kept")
            continue
        metadata[item_id] = {k: v for k, v in row.items() if k != id_col}
    items = [
        Item(item_id, paths[0], metadata.get(item_id, {}), tuple(paths[1:]))
        for item_id, paths in photos.items()
    ]
    ordered = sorted(with_valid_ids(items, problems), key=item_sort_key)
    return Catalog(root=root, items=ordered, problems=problems)


def with_valid_ids(items: list[Item], problems: list[str]) -> list[Item]:
    """The items whose id passes :func:`lookalike.ids.check_item_id` once stored in Unicode NFC
    (a folder copied from macOS names files in NFD); the others are named in ``problems``.

    The same check as for items added later through the CLI or the HTTP API, so a catalog id
    can always be looked up, linked to and shown.
    """
    kept: list[Item] = []
    seen: set[str] = set()
    for item in items:
        item_id = normalize_item_id(item.id)
        reason = check_item_id(item_id)
        if reason is None and item_id in seen:
            reason = "it repeats another id once written in Unicode NFC"
        if reason is not None:
            problems.append(f"{item.path}: id {item.id!r} refused ({reason}); skipped")
            continue
        seen.add(item_id)
        kept.append(item if item_id == item.id else dataclasses.replace(item, id=item_id))
    return kept


def item_sort_key(item: Item) -> tuple[int, int, str, str]:
    """Numeric ids in numeric order first, then the rest alphabetically."""
    if item.id.isascii() and item.id.isdigit():
        # Compare by magnitude without int(): leading zeros must not make "007" sort after "10".
        digits = item.id.lstrip("0")
        return (0, len(digits), digits, item.id)
    return (1, 0, item.id, item.id)


def read_split(
    path: str | Path,
    id_column: str | None = None,
    known_ids: Iterable[str] | None = None,
) -> dict[str, str]:
    """Read a split file (id -> 'train' / 'test' / ...).

    Args:
        path: CSV with an id column and a ``split`` column.
        id_column: the id column; default the first of ``ProductId, product_id, id, item_id,
            sku`` the file has (the catalog's own id column should be passed here).
        known_ids: the catalog's ids. When given, a split file none of whose ids is one of
            them is refused: it would silently hide no label and score every item.

    Returns:
        id -> split for each row with an id (a row without a split maps to ``""``); ids
        outside the catalog are kept, for the caller to ignore.

    Raises:
        CatalogError: the file has no id column or no ``split`` column (the columns found are
            named), or none of its ids is in ``known_ids``.
    """
    rows, _ = read_csv_rows(Path(path))
    if not rows:
        return {}
    columns = list(rows[0])
    id_col = pick_column(columns, id_column, ID_COLUMN_CANDIDATES)
    if id_col is None and id_column is not None:
        # The catalog's id column is not in the split file: fall back to the usual names.
        id_col = pick_column(columns, None, ID_COLUMN_CANDIDATES)
    if id_col is None or "split" not in columns:
        wanted = ", ".join(
            dict.fromkeys([*([id_column] if id_column else []), *ID_COLUMN_CANDIDATES])
        )
        raise CatalogError(
            f"split file {path}: needs an id column ({wanted}) and a 'split' column; "
            f"found columns: {', '.join(columns)}"
        )
    split = {row[id_col]: row.get("split") or "" for row in rows if row.get(id_col)}
    if known_ids is not None and split and not split.keys() & set(known_ids):
        example = ", ".join(list(split)[:3])
        raise CatalogError(
            f"split file {path}: none of its {len(split)} ids (column {id_col!r} of columns "
            f"{', '.join(columns)}; e.g. {example}) is a catalog item; is it this catalog's "
            "split file, with the catalog's ids?"
        )
    return split


def read_duplicate_groups(path: str | Path, id_column: str = "ProductId") -> dict[str, str]:
    """Read a ``duplicates.csv`` (id -> duplicate_group)."""
    rows, _ = read_csv_rows(Path(path))
    return {row[id_column]: row.get("duplicate_group", "") for row in rows if row.get(id_column)}
