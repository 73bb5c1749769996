"""Metadata CSVs: reading their rows, picking the id and image columns, split files and
duplicate-group files."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

from lookalike.catalog.items import CatalogError

# Column names tried, in order, when the caller does not say which column holds the id / file.


ID_COLUMN_CANDIDATES = ("ProductId", "product_id", "id", "item_id", "sku")
IMAGE_COLUMN_CANDIDATES = ("Image", "image", "filename", "file", "path", "image_path")


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
