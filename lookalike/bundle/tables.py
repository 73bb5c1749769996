"""The bundle's row-aligned tables: products (:class:`ItemTable`, ``items.json``) and their
photos (:class:`PhotoTable`, ``photos.json``; photo row i = embedding row i = index id i)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lookalike.bundle.layout import PHOTOS, BundleError


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
