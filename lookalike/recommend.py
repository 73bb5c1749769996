"""Queries over a loaded bundle: by image, by catalog item, by a shopper's profile.

The :class:`Recommender` holds the bundle's encoder, index, item table and embeddings; every
query turns into vectors and a filtered nearest-neighbour search. Search widens until ``k``
results survive the exclusions (the query item itself, already-liked items) and the
duplicate collapse (one result per distinct image file), so filters and exclusions never
shrink the list below ``k`` when ``k`` suitable items exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.bundle import BundleData, read_bundle
from lookalike.encoders.base import load_encoder
from lookalike.imaging import load_images
from lookalike.index import load_index

Filters = dict[str, Sequence[str]]
MAX_K = 1000


class UnknownItemError(KeyError):
    """An item id that is not in the bundle."""

    def __str__(self) -> str:
        return f"unknown item id {self.args[0]!r}"


class FilterError(ValueError):
    """A filter names a metadata column the bundle does not have."""


@dataclass
class Recommendation:
    """One recommended item."""

    id: str
    distance: float
    rank: int
    metadata: dict[str, str]
    path: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass
class QueryResult:
    """The ranked list for one query (an image path, an item id or a profile)."""

    query: str
    results: list[Recommendation] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: the query and its ranked list (or its error)."""
        payload: dict[str, Any] = {
            "query": self.query,
            "results": [r.to_dict() for r in self.results],
        }
        if self.error:
            payload["error"] = self.error
        return payload


class Recommender:
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
        self.embeddings = data.embeddings
        self._row_of = {item_id: row for row, item_id in enumerate(self.items.ids)}
        hashes = self.items.content_hashes or [str(row) for row in range(len(self.items))]
        # Rows with byte-identical images share a group number: one result per group.
        group_of: dict[str, int] = {}
        self.duplicate_group = np.array(
            [group_of.setdefault(h, len(group_of)) for h in hashes], dtype=np.int64
        )
        self._columns: dict[str, np.ndarray] = {}

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
        seen: dict[str, None] = {}
        for meta in self.items.metadata:
            seen.update(dict.fromkeys(meta))
        return list(seen)

    def row(self, item_id: str) -> int:
        """Row number of ``item_id``; UnknownItemError if absent."""
        try:
            return self._row_of[str(item_id)]
        except KeyError:
            raise UnknownItemError(item_id) from None

    def item(self, row: int, distance: float = 0.0, rank: int = 0) -> Recommendation:
        """The item at ``row`` as a :class:`Recommendation`."""
        return Recommendation(
            id=self.items.ids[row],
            distance=round(float(distance), 6),
            rank=rank,
            metadata=self.items.metadata[row],
            path=self.items.paths[row],
        )

    def column(self, name: str) -> np.ndarray:
        """All rows' values of metadata column ``name`` as an object array (cached)."""
        if name not in self._columns:
            self._columns[name] = np.array(
                [meta.get(name, "") for meta in self.items.metadata], dtype=object
            )
        return self._columns[name]

    def allowed_rows(self, filters: Filters | None) -> np.ndarray | None:
        """Rows matching every filter (any of the values per column); None = no filter.

        Values compare case-insensitively. Raises FilterError for an unknown column.
        """
        filters = {k: v for k, v in (filters or {}).items() if v}
        if not filters:
            return None
        mask = np.ones(len(self.items), dtype=bool)
        known = set(self.metadata_columns)
        for name, values in filters.items():
            if isinstance(values, str):
                values = [values]
            if name not in known:
                raise FilterError(
                    f"unknown filter column {name!r}; columns: {', '.join(sorted(known))}"
                )
            wanted = {str(v).strip().lower() for v in values}
            column = np.array([str(v).lower() for v in self.column(name)], dtype=object)
            mask &= np.isin(column, list(wanted))
        return np.flatnonzero(mask).astype(np.int64)

    # --- encoding ---------------------------------------------------------------------------
    def encode_images(
        self, sources: Sequence
    ) -> tuple[np.ndarray, list[int], list[tuple[int, str]]]:
        """Decode + encode image files/bytes in one batch.

        Returns:
            (vectors for the readable sources, their indices into ``sources``, errors as
            (index, message) for the unreadable ones).
        """

        batch = load_images(list(sources), self.encoder.input_size)
        vectors = (
            self.encoder.encode(batch.images)
            if batch.ok
            else np.zeros((0, self.encoder.dim), np.float32)
        )
        return vectors, batch.ok, batch.errors

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
            collapse_duplicates: return one item per distinct image file.

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
        while pending and n_candidates:
            distances, rows = self.index.search(vectors[pending], fetch, allowed=allowed)
            still = []
            for slot, query in enumerate(pending):
                picked = self._pick(
                    distances[slot], rows[slot], k, excludes[query], collapse_duplicates
                )
                if len(picked) >= k or fetch >= n_candidates:
                    results[query] = picked
                else:
                    still.append(query)
            pending, fetch = still, min(n_candidates, fetch * 4)
        return [r or [] for r in results]

    def _pick(
        self, distances: np.ndarray, rows: np.ndarray, k: int, exclude: set[int], collapse: bool
    ) -> list[Recommendation]:
        banned_groups = {int(self.duplicate_group[r]) for r in exclude} if collapse else set()
        picked: list[Recommendation] = []
        for distance, row in zip(distances, rows, strict=True):
            row = int(row)
            if row < 0 or row in exclude:
                continue
            if collapse:
                group = int(self.duplicate_group[row])
                if group in banned_groups:
                    continue
                banned_groups.add(group)
            picked.append(self.item(row, distance, rank=len(picked) + 1))
            if len(picked) == k:
                break
        return picked

    # --- queries ----------------------------------------------------------------------------
    def recommend_images(
        self,
        sources: Sequence,
        k: int = 10,
        *,
        filters: Filters | None = None,
        collapse_duplicates: bool = True,
        names: Sequence[str] | None = None,
    ) -> list[QueryResult]:
        """Lookalikes for each image (path or bytes); one model pass for all of them.

        Unreadable images get a QueryResult with ``error`` set instead of raising.
        """
        names = list(names) if names is not None else [str(s) for s in sources]
        vectors, ok, errors = self.encode_images(sources)
        out = [QueryResult(query=name) for name in names]
        for index, message in errors:
            out[index].error = message
        if ok:
            found = self.search(
                vectors, k, filters=filters, collapse_duplicates=collapse_duplicates
            )
            for index, results in zip(ok, found, strict=True):
                out[index].results = results
        return out

    def recommend_items(
        self,
        item_ids: Sequence[str],
        k: int = 10,
        *,
        filters: Filters | None = None,
        collapse_duplicates: bool = True,
    ) -> list[QueryResult]:
        """Lookalikes of catalog items; an item (and its identical copies) never recommends
        itself. Raises UnknownItemError for an id not in the bundle."""
        rows = [self.row(item_id) for item_id in item_ids]
        found = self.search(
            self.embeddings[rows],
            k,
            filters=filters,
            # The item and its byte-identical copies, even when duplicates are not collapsed.
            exclude_rows=[
                np.flatnonzero(self.duplicate_group == self.duplicate_group[row]) for row in rows
            ],
            collapse_duplicates=collapse_duplicates,
        )
        return [
            QueryResult(query=str(item_id), results=results)
            for item_id, results in zip(item_ids, found, strict=True)
        ]
