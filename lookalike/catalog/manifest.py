"""Manifests: a CSV or Parquet file with one row per photo (an image path or URI, an optional
id, metadata), and reading the bytes of a local path or a URI through pyarrow's filesystems."""

from __future__ import annotations

from pathlib import Path

from lookalike.catalog.items import (
    Catalog,
    CatalogError,
    Item,
    add_photo,
    item_sort_key,
    with_valid_ids,
)
from lookalike.catalog.metadata import (
    ID_COLUMN_CANDIDATES,
    IMAGE_COLUMN_CANDIDATES,
    pick_column,
    read_csv_rows,
)
from lookalike.extras import require

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
