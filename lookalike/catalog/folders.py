"""Catalog folders: finding their images and matching them to metadata rows (the Kaggle
layout, any image tree), or handing a folder per product to :mod:`~lookalike.catalog.layout`
and a manifest file to :mod:`~lookalike.catalog.manifest`."""

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
from lookalike.catalog.layout import _product_folder_items, looks_like_product_folders
from lookalike.catalog.manifest import MANIFEST_SUFFIXES, read_manifest
from lookalike.catalog.metadata import (
    ID_COLUMN_CANDIDATES,
    IMAGE_COLUMN_CANDIDATES,
    pick_column,
    read_csv_rows,
)

#: File endings read as images, everywhere (catalog folders, uploads, `lookalike add`).
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".heic", ".heif", ".avif"}
)
#: The project's reference catalog: ``../shared/fashion-images`` beside the checkout.
REFERENCE_CATALOG = Path(__file__).resolve().parents[2].parent / "shared" / "fashion-images"
KAGGLE_CSV = "fashion.csv"


def reference_catalog() -> Path | None:
    """The reference catalog (``../shared/fashion-images`` next to the checkout or to the
    current folder), or None when it is not there."""
    for candidate in (REFERENCE_CATALOG, Path.cwd().parent / "shared" / "fashion-images"):
        if candidate.is_dir():
            return candidate
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
