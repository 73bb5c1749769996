"""Queries over a loaded bundle: by image, by catalog item, by a shopper's profile.

The :class:`Recommender` holds the bundle's encoder, index, item table and embeddings; every
query turns into vectors and a filtered nearest-neighbour search. Search widens until ``k``
results survive the exclusions (the query item itself, already-liked items) and the
duplicate collapse, so filters and exclusions never shrink the list below ``k`` when ``k``
suitable items exist.

Duplicate collapse: byte-identical image files, and photos whose embeddings are nearly
identical (closer than :data:`NEAR_COLLAPSE_FRACTION` times the catalog's median distance
from an item to its nearest other item; measured by ``bench/near_duplicates.py``), form one
*duplicate group*; a result list shows the nearest member of each group and names the others
in :attr:`Recommendation.duplicates`.

Products with several photos: the index holds every photo, and every search is a grouped
search (:meth:`Recommender.nearest_products`: :func:`lookalike.index.grouped.search_groups`,
or for exact searches the cheaper centroid route,
:func:`lookalike.index.grouped.search_groups_exact`): k distinct products come back, each
with the photo that matched (:attr:`Recommendation.photo`). Duplicate groups are then groups
of products: products that share a byte-identical or near-identical photo.

Each result also gets a shopper-facing :attr:`Recommendation.match` word (``same``,
``close``, ``similar``, ``distant``) from its distance relative to that median distance.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.bundle import BundleData, read_bundle
from lookalike.dedup import exact_group_numbers, match_word, near_duplicate_groups
from lookalike.encoders import load_encoder
from lookalike.index import load_index
from lookalike.index.grouped import (
    GroupBounds,
    exact_scan_vectors,
    gather_groups,
    group_bounds,
    search_groups,
    search_groups_exact,
    stored_vectors,
)
from lookalike.recommend import filters as _filters
from lookalike.recommend.filters import Filters
from lookalike.recommend.look import LookQueries
from lookalike.recommend.photos import PhotoQueries
from lookalike.recommend.products import (
    join_groups,
    known_rows,
    product_photo_arrays,
    product_vectors,
)
from lookalike.recommend.results import QueryResult, Recommendation, merge_nearest

MAX_K = 1000
#: How a query by a product with several photos combines them (``recommend_items``).
COMBINE_METHODS = ("mean", "min")


class UnknownItemError(KeyError):
    """An item id that is not in the bundle."""

    def __str__(self) -> str:
        return f"unknown item id {self.args[0]!r}"


class Recommender(PhotoQueries, LookQueries):
    """Loaded bundle + query methods. Thread-safe for concurrent reads."""

    def __init__(self, data: BundleData, encoder, index):
        """Args:
        data: the bundle's parsed files (items, embeddings, config).
        encoder: the bundle's encoder (``lookalike.encoders.base.Encoder``).
        index: the bundle's ``VectorIndex`` over row numbers.
        """
        self.data = data
        self.encoder = encoder
        self.index = index
        self.items = data.items
        #: One row per photo; photo row i is index id i.
        self.photos = data.photos
        self.photo_embeddings = data.embeddings
        #: Whether some product has several photos (else photo row = product row).
        self.grouped = not self.photos.one_per_product
        #: Each photo's product row, and the most photos any product has (bounds searches).
        self.photo_product = self.photos.product_rows()
        self.max_photos = int(np.bincount(self.photo_product).max()) if len(self.photos) else 1
        self._photo_rows = (
            [[row] for row in range(len(self.items))]
            if not self.grouped
            else self.photos.by_product(len(self.items))
        )
        #: One vector per product (a product query, profiles): the photo's own for one photo,
        #: else the mean of its normalised photos' (:func:`product_vectors`).
        self.embeddings = (
            data.embeddings
            if not self.grouped
            else product_vectors(data.embeddings, self.photo_product, len(self.items))
        )
        self._row_of = {item_id: row for row, item_id in enumerate(self.items.ids)}
        hashes = self.photos.content_hashes or [str(row) for row in range(len(self.photos))]
        #: Per photo: photos of one product, and byte-identical photos, share a group number.
        self.photo_exact_group = exact_group_numbers(hashes)
        if self.grouped:
            self.photo_exact_group = join_groups(self.photo_exact_group, self.photo_product)
        #: Median distance from a photo to its nearest other (non-identical, other product's).
        self.typical_distance = 0.0
        self.photo_duplicate_group = self.photo_exact_group
        self._group_members: dict[int, list[int]] = {}
        # Per-query lookups computed once per Recommender (an update builds a new one, so
        # nothing here outlives the bundle version it was computed from).
        self._columns: dict[str, np.ndarray] = {}
        self._rows_by_value: dict[str, dict[str, np.ndarray]] = {}
        self._metadata_columns: list[str] | None = None
        self._product_photos: tuple[np.ndarray, np.ndarray] | None = None
        self._group_bounds: GroupBounds | None = None
        if len(self.photos) > 1 and len(self.photo_embeddings) == len(self.photos):
            self._group_near_duplicates()
        first_photo = np.array([rows[0] for rows in self._photo_rows], np.int64)
        #: Products sharing a byte-identical photo share an exact group number.
        self.exact_group = self.photo_exact_group[first_photo]
        #: Exact groups joined with near-identical embeddings: one result per group.
        self.duplicate_group = self.photo_duplicate_group[first_photo]

    def _group_near_duplicates(self) -> None:
        """Join near-identical photos into one duplicate group (:mod:`lookalike.dedup`)."""
        self.photo_duplicate_group, self.typical_distance = near_duplicate_groups(
            self.photo_embeddings, self.photo_exact_group, self.index
        )

    def match_word(self, distance: float) -> str:
        """How close ``distance`` is, in words (:func:`lookalike.dedup.match_word`)."""
        return match_word(distance, self.typical_distance)

    def duplicates_of(self, row: int) -> list[int]:
        """Rows in ``row``'s duplicate group (exact or near), ``row`` itself left out."""
        group = int(self.duplicate_group[row])
        if group not in self._group_members:
            # (Computed per asked group; a benign race at worst computes it twice.)
            self._group_members[group] = np.flatnonzero(self.duplicate_group == group).tolist()
        return [r for r in self._group_members[group] if r != row]

    @classmethod
    def from_bundle(cls, path: str | Path) -> Recommender:
        """Load the live version of the bundle at ``path``."""

        data = read_bundle(path)
        return cls(data, load_encoder(data.encoder_dir), load_index(data.index_dir))

    # --- catalog access -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.items)

    @property
    def metadata_columns(self) -> list[str]:
        """Metadata columns present in the bundle, in first-seen order."""
        if self._metadata_columns is None:
            # Every filtered query checks its columns: one pass over the items, not one per query.
            self._metadata_columns = _filters.metadata_columns(self.items.metadata)
        return list(self._metadata_columns)

    def row(self, item_id: str) -> int:
        """Row number of ``item_id``; UnknownItemError if absent."""
        try:
            return self._row_of[str(item_id)]
        except KeyError:
            raise UnknownItemError(item_id) from None

    def item(
        self, row: int, distance: float = 0.0, rank: int = 0, photo_row: int | None = None
    ) -> Recommendation:
        """The item at ``row`` as a :class:`Recommendation`; ``photo_row`` is the photo
        that matched (default: the product's main photo)."""
        result = Recommendation(
            id=self.items.ids[row],
            distance=round(float(distance), 6),
            rank=rank,
            metadata=self.items.metadata[row],
            path=self.items.paths[row],
            match=self.match_word(float(distance)),
        )
        if not self.grouped:  # one photo per product: photo 1 is the item's own file
            result.photo_path = result.path
            return result
        photo_rows = self._photo_rows[row]
        photo_row = photo_rows[0] if photo_row is None else int(photo_row)
        result.photo = self.photos.numbers[photo_row]
        result.photos = [self.photos.numbers[r] for r in photo_rows]
        result.photo_path = self.photos.paths[photo_row]
        return result

    def photo_rows(self, row: int) -> list[int]:
        """The photo rows of product ``row``, by photo number."""
        return list(self._photo_rows[row])

    def photo_row(self, item_id: str, number: int) -> int:
        """The photo row of ``item_id``'s photo ``number``. Raises UnknownItemError for an
        unknown id, KeyError naming the numbers for a photo the product does not have."""
        rows = self._photo_rows[self.row(item_id)]
        for photo_row in rows:
            if self.photos.numbers[photo_row] == number:
                return photo_row
        numbers = ", ".join(str(self.photos.numbers[r]) for r in rows)
        raise KeyError(f"item {item_id!r} has no photo {number} (its photos: {numbers})")

    def allowed_photos(self, allowed: np.ndarray | None) -> np.ndarray | None:
        """The photo rows (index ids) of the product rows ``allowed`` (None = no filter)."""
        if allowed is None or not self.grouped:
            return allowed
        offsets, photos = self.product_photos()
        # The allowed products' CSR slices: O(allowed photos), not a pass over all photos.
        return np.sort(gather_groups(offsets, photos, self._known_rows(allowed)))

    def _known_rows(self, rows: np.ndarray) -> np.ndarray:
        return known_rows(rows, len(self.items))

    def product_photos(self) -> tuple[np.ndarray, np.ndarray]:
        """Each product's photo rows as CSR arrays (computed once).

        Returns:
            (offsets int64 (products + 1,), photo rows int64 (photos,)): product ``p``'s
            photo rows, by photo number, are ``rows[offsets[p]:offsets[p + 1]]``.
        """
        if self._product_photos is None:
            self._product_photos = product_photo_arrays(self._photo_rows)
        return self._product_photos

    def nearest_products(
        self, vectors: np.ndarray, k: int, allowed: np.ndarray | None = None, **options: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``k`` nearest distinct products of each vector: a grouped search of the photo
        index (:func:`lookalike.index.grouped.search_groups`), or, where that search would be
        exact (a flat index, or a filter the index answers by an exact scan), the same result
        from the products' centroid bounds (:func:`~lookalike.index.grouped.search_groups_exact`:
        one scan over products, then the photos of the few that can win).

        Args:
            vectors: float32 (q, dim).
            k: products per query.
            allowed: product rows that may be returned (None = all).
            options: more index search options (Milvus ``filters``).

        Returns:
            (distances (q, k), product rows (q, k), matched photo rows (q, k)), -1 padded.
        """
        if not self.grouped:  # one photo per product: the plain search, nothing added
            distances, rows = self.index.search(vectors, k, allowed=allowed, **options)
            return distances, rows, rows
        n_allowed = None
        if allowed is not None:  # the allowed photos, counted from the CSR offsets
            offsets = self.product_photos()[0]
            known = self._known_rows(allowed)
            n_allowed = int((offsets[known + 1] - offsets[known]).sum())
        if not options and self._exact_grouping(n_allowed):
            return search_groups_exact(
                self._exact_vectors(), self.group_bounds(), vectors, k, allowed
            )
        return search_groups(
            self.index,
            vectors,
            k,
            self.photo_product,
            max_per_group=self.max_photos,
            allowed=self.allowed_photos(allowed),
            **options,
        )

    def _exact_grouping(self, n_allowed: int | None) -> bool:
        # Only where the index would rank by exact distances to its stored vectors (index id
        # i = photo row i, every photo indexed), so the results match.
        every_photo = self.index.ntotal == len(self.photo_embeddings) == len(self.photos)
        return every_photo and exact_scan_vectors(self.index, n_allowed)

    def group_bounds(self) -> GroupBounds:
        """Each product's photo centroid and radius (computed once, from the vectors the
        index compares with; :func:`lookalike.index.grouped.group_bounds`)."""
        if self._group_bounds is None:
            offsets, rows = self.product_photos()
            self._group_bounds = group_bounds(self._exact_vectors(), offsets, rows)
        return self._group_bounds

    def _exact_vectors(self) -> Any:
        # The photo embeddings in memory, or IVF-PQ's refine store read on demand.
        return stored_vectors(self.index, self.photo_embeddings)

    def column(self, name: str) -> np.ndarray:
        """All rows' values of metadata column ``name`` as an object array (cached)."""
        if name not in self._columns:
            self._columns[name] = _filters.column_values(self.items.metadata, name)
        return self._columns[name]

    def allowed_rows(self, filters: Filters | None) -> np.ndarray | None:
        """Rows matching every filter (any of the values per column); None = no filter.

        Values compare case-insensitively. Raises FilterError for an unknown column
        (:func:`lookalike.recommend.filters.allowed_rows`).
        """
        if not _filters.active_filters(filters):
            return None
        return _filters.allowed_rows(
            filters, len(self.items), self.metadata_columns, self.rows_by_value
        )

    def rows_by_value(self, name: str) -> dict[str, np.ndarray]:
        """Lower-cased value of metadata column ``name`` -> the rows holding it (cached: a
        filtered query looks its values up instead of lower-casing the column each time)."""
        if name not in self._rows_by_value:
            self._rows_by_value[name] = _filters.rows_by_value(self.column(name))
        return self._rows_by_value[name]

    # --- search -----------------------------------------------------------------------------
    def search(
        self,
        vectors: np.ndarray,
        k: int = 10,
        *,
        filters: Filters | None = None,
        exclude_rows: Sequence[Iterable[int]] | None = None,
        collapse_duplicates: bool = True,
    ) -> list[list[Recommendation]]:
        """Nearest catalog items for each query vector.

        Args:
            vectors: float32 (q, dim) query embeddings.
            k: results per query (1..1000).
            filters: metadata column -> allowed values.
            exclude_rows: per query, rows that must not be returned (and whose duplicate
                groups are excluded too when collapsing duplicates).
            collapse_duplicates: return one item per duplicate group (byte-identical or
                near-identical photos); the others are named in each result's
                ``duplicates`` (those allowed by the filters).

        Returns:
            Per query, up to ``k`` recommendations, nearest first.
        """
        if not 1 <= k <= MAX_K:
            raise ValueError(f"k must be between 1 and {MAX_K}, got {k}")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.encoder.dim)
        allowed = self.allowed_rows(filters)
        n_candidates = len(self.items) if allowed is None else len(allowed)
        excludes = [set(map(int, rows)) for rows in (exclude_rows or [()] * len(vectors))]
        results: list[list[Recommendation] | None] = [None] * len(vectors)
        pending = list(range(len(vectors)))
        fetch = min(n_candidates, k + max((len(e) for e in excludes), default=0) + 8)
        # Indexes that filter on their own metadata fields (Milvus) get the filters as the
        # exact stored values that match, case-insensitively; the others get the rows.
        inside = self.exact_filter_values(filters) if self._filters_inside(allowed) else None
        # Which rows the filter allows, as a mask: each result's duplicates are checked against
        # it (one lookup per duplicate, not a set intersection per result).
        allowed_mask = None
        if allowed is not None:
            allowed_mask = np.zeros(len(self.items), dtype=bool)
            allowed_mask[allowed] = True
        while pending and n_candidates:
            if inside is not None:
                distances, rows, photos = self.nearest_products(
                    vectors[pending], fetch, filters=inside
                )
            else:
                distances, rows, photos = self.nearest_products(vectors[pending], fetch, allowed)
            still = []
            for slot, query in enumerate(pending):
                picked = self._pick(
                    distances[slot],
                    rows[slot],
                    k,
                    excludes[query],
                    collapse_duplicates,
                    allowed_mask,
                    photos[slot],
                )
                if len(picked) >= k or fetch >= n_candidates:
                    results[query] = picked
                else:
                    still.append(query)
            pending, fetch = still, min(n_candidates, fetch * 4)
        return [r or [] for r in results]

    def _filters_inside(self, allowed: np.ndarray | None) -> bool:
        return allowed is not None and getattr(self.index, "filters_inside", False)

    def exact_filter_values(self, filters: Filters | None) -> dict[str, list[str]]:
        """column -> the stored values that match the filter's (case-insensitively)."""
        return _filters.exact_filter_values(filters, self.column)

    def _pick(
        self,
        distances: np.ndarray,
        rows: np.ndarray,
        k: int,
        exclude: set[int],
        collapse: bool,
        allowed_mask: np.ndarray | None = None,
        photos: np.ndarray | None = None,
    ) -> list[Recommendation]:
        banned_groups = {int(self.duplicate_group[r]) for r in exclude} if collapse else set()
        picked: list[Recommendation] = []
        photos = rows if photos is None else photos
        # Python numbers once per list (indexing numpy scalars one by one costs more).
        for distance, row, photo_row in zip(
            np.asarray(distances).tolist(),
            np.asarray(rows).tolist(),
            np.asarray(photos).tolist(),
            strict=True,
        ):
            if row < 0 or row in exclude:
                continue
            if collapse:
                group = int(self.duplicate_group[row])
                if group in banned_groups:
                    continue
                banned_groups.add(group)
            result = self.item(row, distance, rank=len(picked) + 1, photo_row=photo_row)
            if collapse:
                others = self.duplicates_of(row)
                if others and allowed_mask is not None:
                    others = [r for r in others if allowed_mask[r]]
                result.duplicates = [self.items.ids[r] for r in others if r not in exclude]
            picked.append(result)
            if len(picked) == k:
                break
        return picked

    # --- queries ----------------------------------------------------------------------------
    def recommend_items(
        self,
        item_ids: Sequence[str],
        k: int = 10,
        *,
        filters: Filters | None = None,
        collapse_duplicates: bool = True,
        combine: str = "mean",
    ) -> list[QueryResult]:
        """Lookalikes of catalog items; an item (and its identical copies) never recommends
        itself. Raises UnknownItemError for an id not in the bundle.

        ``combine`` says how a product with several photos asks: ``mean`` (one query at the
        mean of its normalised photo vectors, :func:`product_vectors`; the default, see
        docs/products.md) or ``min`` (one query per photo; a product's distance is its
        nearest to any of them). Both are the same for a one-photo product."""
        if combine not in COMBINE_METHODS:
            raise ValueError(f"unknown combine {combine!r}; use {' or '.join(COMBINE_METHODS)}")
        rows = [self.row(item_id) for item_id in item_ids]
        # The item and its byte-identical copies, even when duplicates are not collapsed
        # (its near-identical ones go with its duplicate group when they are).
        excludes = [np.flatnonzero(self.exact_group == self.exact_group[row]) for row in rows]
        if combine == "mean" or not self.grouped:
            found = self.search(
                self.embeddings[rows],
                k,
                filters=filters,
                exclude_rows=excludes,
                collapse_duplicates=collapse_duplicates,
            )
        else:
            found = []
            for row, exclude in zip(rows, excludes, strict=True):
                photo_rows = self._photo_rows[row]
                lists = self.search(
                    self.photo_embeddings[photo_rows],
                    k,
                    filters=filters,
                    exclude_rows=[exclude] * len(photo_rows),
                    collapse_duplicates=collapse_duplicates,
                )
                found.append(merge_nearest(lists, k))
        return [
            QueryResult(query=str(item_id), results=results)
            for item_id, results in zip(item_ids, found, strict=True)
        ]
