"""A folder per product (``CATALOG/<id>/*.jpg``): detecting that layout and reading it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from lookalike.catalog.items import Catalog, Item, item_sort_key, with_valid_ids
from lookalike.catalog.metadata import ID_COLUMN_CANDIDATES, pick_column


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
