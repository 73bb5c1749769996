"""Exact search: FlatIndex, a faiss ``IndexIDMap2(IndexFlatL2)``."""

from __future__ import annotations

from typing import Any, ClassVar

import faiss
import numpy as np

from lookalike.index.base import (
    INDEX_FILE,
    _IndexBase,
    _isin_sorted,
    _read_faiss,
    _selector,
    _write_faiss,
)

__all__ = ["FlatIndex"]


class FlatIndex(_IndexBase):
    """Exact search: ``IndexIDMap2(IndexFlatL2)``.

    No params. Memory 4*dim + ~40 bytes per vector (raw vector, id, reverse id map);
    query cost O(n * dim), so keep it under FLAT_MAX_ITEMS for interactive latency.
    ``remove`` deletes for real (O(n) compaction per call).
    """

    kind = "flat"
    _DEFAULTS: ClassVar[dict[str, Any]] = {}

    def __init__(self, dim: int, params: dict[str, Any], index: faiss.Index | None = None):
        super().__init__(dim, params)
        self._index = faiss.IndexIDMap2(faiss.IndexFlatL2(dim)) if index is None else index
        self._ids = np.sort(faiss.vector_to_array(self._index.id_map))

    def _faiss_add(self, x: np.ndarray, ids: np.ndarray) -> None:
        self._index.add_with_ids(x, ids)

    def _faiss_remove(self, ids: np.ndarray) -> None:
        self._index.remove_ids(_selector(ids))
        self._ids = self._ids[~_isin_sorted(self._ids, ids)]

    def _reconstruct(self, ids: np.ndarray) -> np.ndarray:
        return self._index.reconstruct_batch(ids)

    def _ann_search(self, q, k, candidates, selectivity):
        if candidates is None:
            return self._index.search(q, k)
        sel = _selector(candidates)  # keep a Python reference for the call's duration
        sp = faiss.SearchParameters()
        sp.sel = sel
        return self._index.search(q, k, params=sp)

    def _payload(self):
        return {INDEX_FILE: _write_faiss(self._index)}

    @classmethod
    def _restore(cls, directory, dim, params):
        return cls(dim, params, _read_faiss(directory / INDEX_FILE, dim))
