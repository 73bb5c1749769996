"""What a build is asked for (:class:`BuildConfig`), reading the catalog and split it names,
and the labels an encoder may learn from (columns chosen, test items' labels hidden)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lookalike.bundle import ItemTable
from lookalike.catalog import Catalog, read_catalog, read_split

# Columns that describe an item one-of-a-kind (titles) are useless as class labels.
MAX_LABEL_CLASSES = 200
DEFAULT_ENCODER = "hybrid"
#: Catalog photos an encoder is fitted on by default (evenly spaced; archives come on top):
#: the fit's cost grows with it (views and head training, ~0.07 s a photo for the hybrid on
#: 2 cores) and the rest of the catalog is only encoded. See docs/scale.md for the measured
#: quality and cost against the sample's size.
DEFAULT_FIT_LIMIT = 6000
#: The engines of the encode step.
ENGINES = ("local", "ray")


@dataclass
class BuildConfig:
    """Everything that decides what a bundle contains; saved as the bundle's config.json.

    Attributes:
        catalog: folder of images (Kaggle layout or any tree).
        metadata_csv: optional CSV of metadata (default: catalog/fashion.csv when present).
        id_column, image_column: CSV columns for the id and the image file name.
        encoder: registered encoder name (``cae``, ``efficientnet-lite0``, ``hybrid``).
        encoder_options: overrides of the encoder's config dataclass.
        index: ``auto`` (chosen by catalog size), ``flat``, ``hnsw`` or ``ivfpq``.
        split_csv: ``ProductId,split`` CSV; labels of items whose split is ``test`` are never
            used for training, so the bundle can be evaluated fairly. Default: catalog/split.csv
            when present; ``""`` turns it off.
        label_columns: metadata columns an encoder may learn from (default: every column with
            2..200 distinct values).
        workdir: cache and checkpoint folder (default: BUNDLE/work); reused by later runs.
        fit_limit: fit the encoder on at most this many catalog images, evenly spaced over
            the catalog's order (default ``DEFAULT_FIT_LIMIT``; None: all of them); every
            image is still encoded. The hybrid streams its fit sample (a chunk of pixels at
            a time) but caches its view features and trains on them, so the fit's time and
            cache grow with the sample, not with the catalog.
        index_options: parameters of the index kind (e.g. ``uri`` for ``milvus``).
        archive: folder(s) of labelled photos that are not catalog items (a retailer's
            archive of past products; a CSV with the catalog's label columns, as a catalog
            takes, or labels in another vocabulary with a ``type_map.csv``, and with
            ``masks/`` one photo per garment: :func:`lookalike.labelled.read_archive`): they
            teach the encoder (the hybrid trains its head on them too), are recorded in the
            manifest (count, sha256 of the list) and are never indexed or shown.
        archive_split: which rows of the archives' labels: ``auto`` (the ``archive`` split
            when its CSV has a ``split`` column with that value, else ``train``, else every
            photo), a split value, or None for every photo.
        product_folders: the catalog is a folder per product (``CATALOG/<id>/*.jpg``);
            None = detected (:func:`lookalike.catalog.looks_like_product_folders`).
        context_photos: folder(s) of photos of people or rooms (no labels needed; a labelled
            folder gives only its ``archive``/``train`` split): each labelled catalog
            product is pasted over a garment the garment parser finds in them
            (:mod:`lookalike.parsing.context`), and these composites teach the encoder with
            the product's labels, so every catalog type is also seen in a shopper's context.
        context_per_item: composites per labelled catalog product.
    """

    catalog: str
    metadata_csv: str | None = None
    id_column: str | None = None
    image_column: str | None = None
    encoder: str = DEFAULT_ENCODER
    encoder_options: dict[str, Any] = field(default_factory=dict)
    index: str = "auto"
    split_csv: str | None = None
    label_columns: list[str] | None = None
    workdir: str | None = None
    fit_limit: int | None = DEFAULT_FIT_LIMIT
    index_options: dict[str, Any] = field(default_factory=dict)
    archive: str | list[str] | None = None
    archive_split: str | None = "auto"
    product_folders: bool | None = None
    context_photos: str | list[str] | None = None
    context_per_item: int = 1


def load_catalog(config: BuildConfig) -> Catalog:
    """Read the catalog the config names."""
    return read_catalog(
        config.catalog,
        config.metadata_csv,
        id_column=config.id_column,
        image_column=config.image_column,
        product_folders=config.product_folders,
    )


def hidden_label_ids(config: BuildConfig, known_ids: Iterable[str] | None = None) -> set[str]:
    """Ids whose labels must not be trained on (the ``test`` split), per ``split_csv``; with
    ``known_ids`` (the catalog's), a split file matching none of them is refused
    (:func:`~lookalike.catalog.read_split`)."""
    split_path = config.split_csv
    if split_path is None:
        default = Path(config.catalog) / "split.csv"
        split_path = str(default) if default.is_file() else ""
    if not split_path:
        return set()
    split = read_split(split_path, config.id_column, known_ids)
    return {item_id for item_id, part in split.items() if part == "test"}


def choose_label_columns(metadata: list[dict[str, str]], wanted: list[str] | None) -> list[str]:
    """Metadata columns usable as class labels: given, or those with 2..200 distinct values
    where a value repeats on average (at most half as many values as labelled rows), which
    leaves out one-of-a-kind columns such as titles even on small catalogs."""
    columns: dict[str, set[str]] = {}
    filled: dict[str, int] = {}
    for row in metadata:
        for key, value in row.items():
            if value:
                columns.setdefault(key, set()).add(value)
                filled[key] = filled.get(key, 0) + 1
    if wanted is not None:
        missing = [c for c in wanted if c not in columns]
        if missing:
            raise ValueError(f"label column(s) {missing} not in the metadata ({sorted(columns)})")
        return list(wanted)
    return [
        c
        for c, values in columns.items()
        if 2 <= len(values) <= MAX_LABEL_CLASSES and len(values) <= filled[c] / 2
    ]


def training_labels(items: ItemTable, columns: list[str], hidden: set[str]) -> dict[str, list[str]]:
    """column -> per-row label, '' for unknown values and for hidden (test) items."""
    return {
        column: [
            "" if item_id in hidden else meta.get(column, "")
            for item_id, meta in zip(items.ids, items.metadata, strict=True)
        ]
        for column in columns
    }
