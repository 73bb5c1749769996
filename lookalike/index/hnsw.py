"""Graph search: HNSWIndex, a faiss ``IndexIDMap2(IndexHNSWFlat)`` with tombstones."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, ClassVar

import faiss
import numpy as np

from lookalike.index.base import (
    INDEX_FILE,
    _check_positive_params,
    _IndexBase,
    _read_faiss,
    _selector,
    _write_faiss,
)

log = logging.getLogger(__name__)

__all__ = ["FILTER_EF_MAX", "REMOVED_FILE", "HNSWIndex"]

# Filtered HNSW searches widen efSearch by 1/selectivity to keep the same number of
# *allowed* candidates in the beam; capped so one query stays in the millisecond range.
FILTER_EF_MAX = 1024

REMOVED_FILE = "removed.npy"


class HNSWIndex(_IndexBase):
    """Graph search: ``IndexIDMap2(IndexHNSWFlat)``.

    Params:
        m (32): graph degree; memory ~4*dim + 8*m + ~40 bytes per vector.
        ef_construction (80): build beam; higher = better graph, slower build.
        ef_search (128): query beam, passed per call via SearchParametersHNSW. Measured
            recall@10 >= 0.95 at 5k x 64-d (tests) and 1.0 at 100k x 256-d clustered
            data (bench/index_scale.py, ~0.3 ms/query on one core); re-check with the
            bench at 1M+ before relying on it there.

    HNSW cannot delete from its graph, so ``remove`` records tombstones (saved in
    ``removed.npy``) and every search excludes them through an IDSelectorNot. Removed
    ids stay reserved (``add`` rejects them) and their memory is not reclaimed; rebuild
    once tombstones are a large share of the index (a warning is logged at 30%).
    """

    kind = "hnsw"
    _DEFAULTS: ClassVar[dict[str, Any]] = {"m": 32, "ef_construction": 80, "ef_search": 128}

    def __init__(
        self,
        dim: int,
        params: dict[str, Any],
        index: faiss.Index | None = None,
        removed: np.ndarray | None = None,
    ):
        super().__init__(dim, params)
        if index is None:
            hnsw = faiss.IndexHNSWFlat(dim, params["m"])
            hnsw.hnsw.efConstruction = params["ef_construction"]
            hnsw.hnsw.efSearch = params["ef_search"]
            index = faiss.IndexIDMap2(hnsw)
        self._index = index
        self._ids = np.sort(faiss.vector_to_array(index.id_map))
        self._set_removed(np.empty(0, dtype=np.int64) if removed is None else removed)

    @classmethod
    def _check_params(cls, dim, params):
        _check_positive_params(cls.kind, params, ("m", "ef_construction", "ef_search"))

    def _set_removed(self, removed: np.ndarray) -> None:
        self._removed = removed
        # Built once per remove, not per search: IDSelectorBatch hashes every id.
        if len(removed):
            self._removed_sel = _selector(removed)
            self._live_sel = faiss.IDSelectorNot(self._removed_sel)
        else:
            self._removed_sel = self._live_sel = None

    def _faiss_add(self, x, ids):
        self._index.add_with_ids(x, ids)

    def _faiss_remove(self, ids):
        self._set_removed(np.union1d(self._removed, ids))
        if len(self._removed) > 0.3 * len(self._ids):
            log.warning(
                "hnsw index: %d of %d vectors are tombstones; rebuild to reclaim memory and speed",
                len(self._removed),
                len(self._ids),
            )

    def _reconstruct(self, ids):
        return self._index.reconstruct_batch(ids)

    def _ann_search(self, q, k, candidates, selectivity):
        ef = max(self._params["ef_search"], k)
        if selectivity < 1.0:
            ef = max(ef, min(FILTER_EF_MAX, math.ceil(ef / selectivity)))
        sel = self._live_sel if candidates is None else _selector(candidates)
        sp = faiss.SearchParametersHNSW()
        sp.efSearch = ef
        if sel is not None:
            sp.sel = sel
        return self._index.search(q, k, params=sp)

    def _payload(self):
        def write_removed(path: Path) -> None:
            with open(path, "wb") as f:
                np.save(f, self._removed, allow_pickle=False)

        return {INDEX_FILE: _write_faiss(self._index), REMOVED_FILE: write_removed}

    @classmethod
    def _restore(cls, directory, dim, params):
        index = _read_faiss(directory / INDEX_FILE, dim)
        removed = np.load(directory / REMOVED_FILE, allow_pickle=False)
        if removed.dtype != np.int64 or removed.ndim != 1:
            raise ValueError(f"{directory / REMOVED_FILE} must be a 1-D int64 array")
        return cls(dim, params, index, np.sort(removed))
