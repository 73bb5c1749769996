"""Labelled photos that are not catalog items: a shopper-photo query set, or a retailer's
archive of past products that teaches the encoder.

A folder of labelled photos is read like a catalog (any image tree, or ``images/<id>.jpg``,
with a CSV of labels: ``labels.csv`` by default, or the Kaggle ``fashion.csv``), then
optionally narrowed to one value of its ``split`` column, and its label columns are renamed
to the catalog's spelling when they differ only in case (``producttype`` -> ``ProductType``),
so the same vocabulary compares equal.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lookalike.catalog import CatalogError, Item, read_catalog
from lookalike.garment_boxes import garment_boxes
from lookalike.imaging import LEGACY_RESIZE, ImageDecodeError, cached_images, load_image
from lookalike.imaging.lazy import LazyPhotos, join_lazy

#: The ``split`` value an archive folder's photos are taken from when it has that split
#: (else ``train`` when it has that one).
ARCHIVE_SPLIT = "archive"
TRAIN_SPLIT = "train"
#: The catalog column a ``type_map.csv`` maps a folder's own labels to.
TYPE_COLUMN = "ProductType"
#: A label that names several catalog types (``Tops;Shirts``): one of them, not known which.
LABEL_SEPARATOR = ";"
#: Label file names tried, in order, inside a labelled-photo folder.
LABEL_FILES = ("labels.csv", "fashion.csv", "metadata.csv")
SPLIT_COLUMN = "split"


@dataclass
class LabelledPhotos:
    """Photos with labels, in a stable order (sorted by id)."""

    root: Path
    items: list[Item]
    split: str | None = None
    problems: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def paths(self) -> list[str]:
        """Image paths, in item order."""
        return [str(item.path) for item in self.items]

    def labels(self, column: str) -> list[str]:
        """Per photo, its label in ``column`` ('' when missing)."""
        return [item.metadata.get(column, "") for item in self.items]

    def digest(self) -> str:
        """sha256 of the sorted list of (id, image file name, labels): what a manifest
        records, so two bundles trained on the same archive can be told apart from others."""
        rows = sorted(
            [item.id, Path(str(item.path)).name, sorted(item.metadata.items())]
            for item in self.items
        )
        return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def canonical_metadata(metadata: dict[str, str], columns: Iterable[str]) -> dict[str, str]:
    """``metadata`` with every key that equals one of ``columns`` ignoring case renamed to
    that spelling (other keys kept as they are)."""
    spelling = {c.lower(): c for c in columns}
    return {spelling.get(key.lower(), key): value for key, value in metadata.items()}


def read_labelled_photos(
    folder: str | Path,
    *,
    split: str | None = None,
    columns: Iterable[str] = (),
    labels_csv: str | Path | None = None,
) -> LabelledPhotos:
    """Read a folder of labelled photos.

    Args:
        folder: the folder (images anywhere below it, e.g. ``images/<id>.jpg``).
        split: keep only rows whose ``split`` column has this value (None: every row).
        columns: the catalog's label column names; CSV columns equal to one of them ignoring
            case take its spelling.
        labels_csv: the label CSV (default: the first of ``LABEL_FILES`` in ``folder``).

    Raises:
        CatalogError: the folder or CSV is missing, the split is unknown, or nothing is left.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise CatalogError(f"labelled-photo folder not found: {folder}")
    if labels_csv is None:
        found = [folder / name for name in LABEL_FILES if (folder / name).is_file()]
        if not found:
            raise CatalogError(f"no {' / '.join(LABEL_FILES)} with labels in {folder}")
        labels_csv = found[0]
    catalog = read_catalog(folder, labels_csv)
    columns = list(columns)
    items = [
        Item(item.id, item.path, canonical_metadata(item.metadata, columns))
        for item in catalog.items
        if item.metadata
    ]
    if split is not None:
        splits = {item.metadata.get(SPLIT_COLUMN, "") for item in items}
        if split not in splits:
            known = ", ".join(sorted(s for s in splits if s)) or "none"
            raise CatalogError(f"no photos of split {split!r} in {labels_csv} (splits: {known})")
        items = [item for item in items if item.metadata.get(SPLIT_COLUMN) == split]
    if not items:
        raise CatalogError(f"no labelled photos in {folder}")
    return LabelledPhotos(Path(folder).resolve(), items, split, catalog.problems)


#: A folder's map from its own label vocabulary to catalog types (``label,producttypes``).
TYPE_MAP_FILE = "type_map.csv"
#: A masked folder's label numbers (``value,label``) and its label maps (``masks/<id>.png``).
MASK_LABELS_FILE = "mask_labels.csv"
MASKS_DIR = "masks"


def read_type_map(path: str | Path) -> dict[str, list[str]]:
    """A ``type_map.csv``: label -> the catalog types that answer it.

    Args:
        path: a CSV with columns ``label`` and ``producttypes`` (``;``-joined types).

    Returns:
        label -> types, in file order (labels with no type are left out).

    Raises:
        CatalogError: the file lacks one of the two columns.
    """
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not {"label", "producttypes"} <= set(reader.fieldnames or ()):
            raise CatalogError(f"{path}: expected columns label,producttypes")
        out: dict[str, list[str]] = {}
        for row in reader:
            types = [t.strip() for t in (row["producttypes"] or "").split(";") if t.strip()]
            label = (row["label"] or "").strip()
            if label and types:
                out[label] = types
    return out


def read_mask_labels(path: str | Path) -> dict[int, str]:
    """A ``mask_labels.csv``: label number (pixel value) -> label name.

    Raises:
        CatalogError: the file lacks the ``value`` or ``label`` column.
    """
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not {"value", "label"} <= set(reader.fieldnames or ()):
            raise CatalogError(f"{path}: expected columns value,label")
        return {int(row["value"]): row["label"].strip() for row in reader}


@dataclass
class Archive:
    """A decoded archive: labelled photos that teach the encoder and are never indexed."""

    photos: LabelledPhotos
    # uint8 (n, size, size, 3), the readable photos; or all of them, decoded when read
    images: np.ndarray | LazyPhotos
    labels: dict[str, list[str]]  # label column -> per readable photo ('' unknown)
    problems: list[str] = field(default_factory=list)

    #: The archives this one joins (:func:`join_archives`); empty for one folder.
    parts: list[Archive] = field(default_factory=list)

    def record(self) -> dict[str, object] | list[dict[str, object]]:
        """What a bundle's manifest records: folder, split, count and sha256 of the list
        (a list of those for joined archives)."""
        if self.parts:
            return [part.record() for part in self.parts]
        return {
            "folder": str(self.photos.root),
            "split": self.photos.split,
            "count": len(self.images),
            "sha256": self.photos.digest(),
        }


def resolve_archive_split(folder: str | Path, split: str | None) -> str | None:
    """``auto``: ``archive`` when the folder's labels have that split value, else ``train``
    when they have that one, else every photo (None); any other value as given."""
    if split != "auto":
        return split
    splits = {item.metadata.get(SPLIT_COLUMN) for item in read_labelled_photos(folder).items}
    for wanted in (ARCHIVE_SPLIT, TRAIN_SPLIT):
        if wanted in splits:
            return wanted
    return None


def mapped_type_labels(photos: LabelledPhotos, type_map: dict[str, list[str]]) -> list[str]:
    """Per photo, the catalog types its own ``label`` maps to, ``;``-joined (a partial
    label: one of them), '' when the label has no row in the map."""
    return [LABEL_SEPARATOR.join(type_map.get(label, [])) for label in photos.labels("label")]


def _masked_garments(photos: LabelledPhotos, type_map: dict[str, list[str]]):
    """(item, box, types) for every garment of every masked photo: a wanted label (one with
    a type_map row) covering >= 1.5% of its photo, boxed as the street protocol boxes it."""
    from PIL import Image

    by_value = read_mask_labels(photos.root / MASK_LABELS_FILE)
    for item in photos.items:
        mask_path = photos.root / MASKS_DIR / f"{Path(str(item.path)).stem}.png"
        if not mask_path.is_file():
            continue
        with Image.open(mask_path) as mask:
            labels = np.asarray(mask)
        for label, box in garment_boxes(labels, by_value, type_map):
            yield item, box, LABEL_SEPARATOR.join(type_map[label])


def read_archive(
    folder: str | Path,
    split: str | None,
    columns: Iterable[str],
    size: int,
    cache_dir: Path,
    progress: bool = False,
    resize: str = LEGACY_RESIZE,
    lazy: bool = False,
) -> Archive:
    """Read and decode an archive of labelled photos (``split`` as for
    :func:`resolve_archive_split`) at ``size`` with the letterbox filter ``resize`` (the
    encoder's), labels in the catalog's ``columns`` (unreadable photos reported in
    ``problems`` and skipped). ``lazy``: nothing is decoded here; ``images`` are
    :class:`~lookalike.imaging.lazy.LazyPhotos` of every listed photo (or garment crop), and
    whoever reads them leaves out the unreadable ones.

    Raises:
        CatalogError: no readable labelled photo.
    """
    columns = list(columns)
    photos = read_labelled_photos(
        folder, split=resolve_archive_split(folder, split), columns=columns
    )
    type_map_path = photos.root / TYPE_MAP_FILE
    if type_map_path.is_file() and TYPE_COLUMN in columns:
        type_map = read_type_map(type_map_path)
        if (photos.root / MASKS_DIR).is_dir() and (photos.root / MASK_LABELS_FILE).is_file():
            return _masked_archive(photos, type_map, columns, size, resize, lazy)
        types = mapped_type_labels(photos, type_map)
        photos = LabelledPhotos(
            photos.root,
            [
                Item(item.id, item.path, {**item.metadata, TYPE_COLUMN: t})
                for item, t in zip(photos.items, types, strict=True)
                if t
            ],
            photos.split,
            photos.problems,
        )
    paths = [Path(p) for p in photos.paths]
    if lazy:
        if not paths:
            raise CatalogError(f"no labelled photos in the archive {folder}")
        labels = {column: photos.labels(column) for column in columns}
        return Archive(photos, LazyPhotos(photos.paths, size, resize), labels, [])
    batch = cached_images(paths, size, cache_dir, progress=progress, resize=resize)
    problems = [f"{photos.paths[i]}: {message}; skipped" for i, message in batch.errors]
    if not batch.ok:
        raise CatalogError(f"no readable photos in the archive {folder}")
    photos = LabelledPhotos(
        photos.root, [photos.items[i] for i in batch.ok], photos.split, photos.problems
    )
    labels = {column: photos.labels(column) for column in columns}
    return Archive(photos, batch.images, labels, problems)


def _masked_archive(
    photos: LabelledPhotos,
    type_map: dict[str, list[str]],
    columns: list[str],
    size: int,
    resize: str,
    lazy: bool = False,
) -> Archive:
    """An archive of the garments in masked photos (street photos): one labelled crop per
    garment (:func:`_masked_garments`), its type the type_map's types for its label
    (``lazy``: crops decoded when read, as for :func:`read_archive`)."""
    items, images, problems = [], [], []
    boxes: list[tuple[float, float, float, float]] = []
    for item, box, types in _masked_garments(photos, type_map):
        if lazy:
            boxes.append(tuple(box))
        else:
            try:
                images.append(load_image(item.path, size, crop=box, resize=resize))
            except ImageDecodeError as exc:
                problems.append(f"{item.path}: {exc}; skipped")
                continue
        crop = ",".join(f"{v:.4f}" for v in box)
        items.append(Item(f"{item.id}@{crop}", item.path, {TYPE_COLUMN: types}))
    if not items:
        raise CatalogError(f"no garments with a type_map row in the masks of {photos.root}")
    garments = LabelledPhotos(photos.root, items, photos.split, photos.problems)
    labels = {column: garments.labels(column) for column in columns}
    if lazy:
        pixels = LazyPhotos([str(item.path) for item in items], size, resize, boxes)
        return Archive(garments, pixels, labels, problems)
    return Archive(garments, np.stack(images), labels, problems)


def join_archives(archives: list[Archive]) -> Archive:
    """Several archives as one (photos, images and labels in order); ``record()`` of the
    result lists each archive's record."""
    if len(archives) == 1:
        return archives[0]
    first = archives[0]
    columns = list(first.labels)
    photos = LabelledPhotos(
        first.photos.root,
        [item for a in archives for item in a.photos.items],
        first.photos.split,
        [problem for a in archives for problem in a.photos.problems],
    )
    lazy = [a.images for a in archives if isinstance(a.images, LazyPhotos)]
    if lazy and len(lazy) < len(archives):
        raise ValueError("lazy and decoded archives cannot be joined")
    joined = Archive(
        photos,
        join_lazy(lazy) if lazy else np.concatenate([a.images for a in archives]),
        {c: [v for a in archives for v in a.labels.get(c, [""] * len(a.images))] for c in columns},
        [problem for a in archives for problem in a.problems],
    )
    joined.parts = archives
    return joined
