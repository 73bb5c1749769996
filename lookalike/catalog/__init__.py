"""Read a catalog of product images into items (id, photos, metadata).

An item is a product with one or more photos (:attr:`Item.photos`; the first is its main
photo, :attr:`Item.path`). These layouts are understood:

* the Kaggle "E-commerce Product Images" layout: a folder with ``fashion.csv`` (columns
  ``ProductId`` and ``Image``) and images anywhere below it, named ``<ProductId>.jpg``;
* any folder tree of images (jpg, jpeg, png, webp, heic, avif, gif, bmp), optionally with a
  CSV that maps an image file name (or stem, or id) to metadata columns;
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

The package's parts: :mod:`~lookalike.catalog.items` (items, the catalog, the id check and
order), :mod:`~lookalike.catalog.metadata` (CSV rows and columns, split and duplicate-group
files), :mod:`~lookalike.catalog.manifest` (manifests, local paths and URIs),
:mod:`~lookalike.catalog.folders` (folders of images, :func:`read_catalog`) and
:mod:`~lookalike.catalog.layout` (a folder per product). Every public name is importable from
``lookalike.catalog``, as it was when this was one module.
"""

from __future__ import annotations

from lookalike.catalog.folders import (
    IMAGE_EXTENSIONS,
    KAGGLE_CSV,
    REFERENCE_CATALOG,
    find_images,
    read_catalog,
    reference_catalog,
)
from lookalike.catalog.items import (
    Catalog,
    CatalogError,
    Item,
    add_photo,
    item_sort_key,
    with_valid_ids,
)
from lookalike.catalog.layout import looks_like_product_folders
from lookalike.catalog.manifest import (
    MANIFEST_SUFFIXES,
    is_uri,
    read_location_bytes,
    read_manifest,
)
from lookalike.catalog.metadata import (
    ID_COLUMN_CANDIDATES,
    IMAGE_COLUMN_CANDIDATES,
    pick_column,
    read_csv_rows,
    read_duplicate_groups,
    read_split,
)

__all__ = [
    "ID_COLUMN_CANDIDATES",
    "IMAGE_COLUMN_CANDIDATES",
    "IMAGE_EXTENSIONS",
    "KAGGLE_CSV",
    "MANIFEST_SUFFIXES",
    "REFERENCE_CATALOG",
    "Catalog",
    "CatalogError",
    "Item",
    "add_photo",
    "find_images",
    "is_uri",
    "item_sort_key",
    "looks_like_product_folders",
    "pick_column",
    "read_catalog",
    "read_csv_rows",
    "read_duplicate_groups",
    "read_location_bytes",
    "read_manifest",
    "read_split",
    "reference_catalog",
    "with_valid_ids",
]
