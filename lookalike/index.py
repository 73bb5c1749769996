"""Nearest-neighbour indexes over item embeddings: exact, graph and compressed.

A flat module in the spirit of ``faiss.contrib``: plain numpy arrays in and out, three
small classes around faiss indexes, and a registry (:data:`INDEX_KINDS`) that maps a
kind name to its class. Every index speaks the same :class:`VectorIndex` protocol:

* ids are caller-chosen non-negative int64 (the row numbers of the bundle); ``-1`` is
  reserved for padding in results;
* distances are Euclidean (the square root of faiss' squared L2), nearest first;
* ``allowed`` filters *inside* the search, so ``k`` results come back whenever ``k``
  allowed ids exist; very selective filters switch to an exact scan of just the
  allowed vectors, and rows that an approximate search could not fill are redone;
* persistence is ``faiss.write_index`` files plus an ``index.json`` sidecar, never pickle.

Which kind for which scale (``choose_index_kind``), with 256-d float32 embeddings:

========  ==================  =====================================================
kind      items               memory per vector (256-d)
========  ==================  =====================================================
flat      < 200k              1 KiB raw vector + 8 B id; exact, no build time
hnsw      200k .. 2M          ~1.3 KiB (raw vector + M=32 graph links)
ivfpq     > 2M (10M sized     ~380 B (32 B PQ code + 8 B id + 256 B SQ8 refine copy
          for 24 GB)          + id maps + tables) -> ~3.8 GB at 10M (estimate)
========  ==================  =====================================================

None of the classes is safe for concurrent ``add``/``remove`` and ``search``; guard
them with a lock if the server mutates an index while serving it.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import faiss
import numpy as np

from lookalike.neighbours import (
    _as_vectors,
    _check_k,
    _exact_sq,
    _merge_topk,
    _numeric_2d,
    _to_euclidean,
    exact_search,
)

log = logging.getLogger(__name__)

__all__ = [
    "EXACT_SCAN_MAX_ALLOWED",
    "FLAT_MAX_ITEMS",
    "HNSW_MAX_ITEMS",
    "INDEX_KINDS",
    "SELECTIVE_FRACTION",
    "FlatIndex",
    "HNSWIndex",
    "IVFPQIndex",
    "VectorIndex",
    "build_index",
    "choose_index_kind",
    "create_index",
    "default_nlist",
    "exact_search",
    "load_index",
    "set_threads",
]

# Measured here (bench/index_scale.py, 256-d, one thread): an exact flat search takes
# 0.8 ms at 20k items and 4.2 ms at 100k, linear in n, while HNSW stays near 0.3 ms with
# recall@10 1.0. Flat is exact and needs no build, so it is kept while it stays under ~2 ms
# a query, i.e. up to about 50k items; above that the approximate index pays off.
FLAT_MAX_ITEMS = 50_000
# HNSW keeps raw vectors plus ~2*M links per item (~1.3 KiB at 256-d, M=32) and builds
# in O(n log n) with a large constant: 2M items is ~2.6 GB and tens of minutes of
# build on a few cores. Beyond that IVF-PQ is ~4x smaller and builds much faster.
HNSW_MAX_ITEMS = 2_000_000

# An exact scan of this many reconstructed vectors (4 MiB at 256-d) costs about as
# much as one graph or IVF search, so below it exactness is free.
EXACT_SCAN_MAX_ALLOWED = 4096
# Graph and IVF searches with a filter that passes < 2% of the stored vectors run out
# of candidates (HNSW's beam is mostly rejected nodes, IVF's probed lists hold few
# allowed ids): results get incomplete and recall collapses, so scan exactly instead.
SELECTIVE_FRACTION = 0.02
# Filtered HNSW searches widen efSearch by 1/selectivity to keep the same number of
# *allowed* candidates in the beam; capped so one query stays in the millisecond range.
FILTER_EF_MAX = 1024

# Rows reconstructed per block in exact scans (64 MiB at 256-d float32).
_RECONSTRUCT_ROWS = 65_536

INDEX_FILE = "index.faiss"
CONFIG_FILE = "index.json"
FORMAT_VERSION = 1


@runtime_checkable
class VectorIndex(Protocol):
    """What every index kind implements (see the module docstring for the contract)."""

    kind: str
    dim: int

    @property
    def ntotal(self) -> int: ...

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None: ...

    def remove(self, ids: np.ndarray) -> int: ...

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def save(self, directory: Path) -> None: ...

    def params(self) -> dict: ...


# ----------------------------------------------------------------------------------
# Input validation: every public entry point goes through these.
# ----------------------------------------------------------------------------------


def _check_dim(dim: Any) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    return int(dim)


def _as_ids(x: Any, name: str) -> np.ndarray:
    """Validate and convert to contiguous int64 (n,); ids must be >= 0 (-1 is padding)."""
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be integers, got dtype {arr.dtype}")
    if arr.dtype == np.uint64 and int(arr.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{name} does not fit in int64")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if int(arr.min()) < 0:
        raise ValueError(f"{name} must be non-negative (-1 marks padding in results)")
    return arr


# ----------------------------------------------------------------------------------
# Small numpy helpers.
# ----------------------------------------------------------------------------------


def _isin_sorted(values: np.ndarray, sorted_ref: np.ndarray) -> np.ndarray:
    """Membership of ``values`` in a sorted array: O(v log n), no hashing of n items."""
    if len(sorted_ref) == 0:
        return np.zeros(len(values), dtype=bool)
    pos = np.searchsorted(sorted_ref, values)
    pos[pos == len(sorted_ref)] = 0
    return sorted_ref[pos] == values


def _insert_sorted(sorted_ref: np.ndarray, new: np.ndarray) -> np.ndarray:
    # One O(n) memmove instead of re-sorting n ids after every add.
    new = np.sort(new)
    return np.insert(sorted_ref, np.searchsorted(sorted_ref, new), new)


def _padding(nq: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((nq, k), np.inf, dtype=np.float32), np.full((nq, k), -1, dtype=np.int64)


def _selector(ids: np.ndarray) -> faiss.IDSelectorBatch:
    # IDSelectorBatch (hash set + bloom filter) is O(1) per test; IDSelectorArray would
    # be O(len(ids)) per stored vector visited.
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    return faiss.IDSelectorBatch(len(ids), faiss.swig_ptr(ids))


def set_threads(n: int) -> None:
    """Set faiss' OpenMP thread count (process-wide). Never called implicitly.

    Args:
        n: threads, >= 1. On a shared machine 1-2 keeps faiss from starving others.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"threads must be an integer >= 1, got {n!r}")
    faiss.omp_set_num_threads(int(n))


# ----------------------------------------------------------------------------------
# Shared machinery: validation, filtered search with exact fallback, persistence.
# ----------------------------------------------------------------------------------


class _IndexBase:
    kind: ClassVar[str]
    # Accepted keyword params and their defaults; anything else is a ValueError.
    _DEFAULTS: ClassVar[dict[str, Any]] = {}

    def __init__(self, dim: int, params: dict[str, Any]):
        self.dim = dim
        self._params = params
        # Sorted ids held by the faiss structures (for HNSW including tombstones):
        # O(log n) membership for duplicate checks and filters; 8 B per item.
        self._ids = np.empty(0, dtype=np.int64)
        # Tombstoned ids (HNSW only; the other kinds delete for real).
        self._removed = np.empty(0, dtype=np.int64)

    # -- construction ------------------------------------------------------------

    @classmethod
    def create(cls, dim: int, **params: Any) -> _IndexBase:
        """Make an empty index. Args: dim (>= 1) and the kind's params (see class doc)."""
        dim = _check_dim(dim)
        unknown = sorted(set(params) - set(cls._DEFAULTS))
        if unknown:
            known = ", ".join(sorted(cls._DEFAULTS)) or "none"
            raise ValueError(f"unknown {cls.kind} params {unknown}; known: {known}")
        merged = {**cls._DEFAULTS, **params}
        cls._check_params(dim, merged)
        return cls(dim, merged)

    @classmethod
    def _check_params(cls, dim: int, params: dict[str, Any]) -> None:
        pass

    @property
    def is_trained(self) -> bool:
        return True

    def train(self, vectors: np.ndarray) -> None:
        """No-op for kinds without training; see :meth:`IVFPQIndex.train`."""
        _numeric_2d(vectors, "vectors", self.dim)

    def params(self) -> dict:
        return dict(self._params)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim}, ntotal={self.ntotal}, {self._params})"

    # -- mutation ----------------------------------------------------------------

    @property
    def ntotal(self) -> int:
        """Number of searchable (not removed) vectors."""
        return len(self._ids) - len(self._removed)

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Add vectors under caller-chosen ids.

        Args:
            vectors: (n, dim) finite numeric, converted to float32.
            ids: (n,) non-negative integers, converted to int64; unique, and not already
                in the index (for HNSW: nor ever removed from it, see HNSWIndex).
        """
        x = _as_vectors(vectors, self.dim, "vectors")
        ids = _as_ids(ids, "ids")
        if len(ids) != len(x):
            raise ValueError(f"got {len(x)} vectors but {len(ids)} ids")
        if not self.is_trained:
            raise ValueError(f"{self.kind} index must be trained before add (use build_index)")
        if len(np.unique(ids)) != len(ids):
            raise ValueError("ids contain duplicates")
        taken = _isin_sorted(ids, self._ids)
        if taken.any():
            raise ValueError(
                f"{int(taken.sum())} ids already used in this index (e.g. {int(ids[taken][0])})"
            )
        if len(ids):
            self._faiss_add(x, ids)
            self._ids = _insert_sorted(self._ids, ids)

    def remove(self, ids: np.ndarray) -> int:
        """Remove ids; unknown or already-removed ids are ignored.

        Returns:
            How many ids were removed. They are never returned by ``search`` again.
        """
        ids = self._live(np.unique(_as_ids(ids, "ids")))
        if len(ids):
            self._faiss_remove(ids)
        return len(ids)

    def _live(self, ids: np.ndarray) -> np.ndarray:
        """The subset of sorted unique ``ids`` that is stored and not tombstoned."""
        ids = ids[_isin_sorted(ids, self._ids)]
        if len(self._removed):
            ids = ids[~_isin_sorted(ids, self._removed)]
        return ids

    def _live_ids(self) -> np.ndarray:
        return self._live(self._ids)

    # -- search ------------------------------------------------------------------

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """k nearest neighbours of each query, optionally restricted to ``allowed`` ids.

        Args:
            queries: (q, dim) finite numeric, converted to float32.
            k: results per query, >= 1.
            allowed: optional int ids; only these can be returned. Unknown ids are
                ignored. The filter runs inside the faiss search (IDSelectorBatch), and
                filters passing <= EXACT_SCAN_MAX_ALLOWED ids or < SELECTIVE_FRACTION of
                the index are answered by an exact scan of just those vectors.

        Returns:
            (distances float32 (q, k) Euclidean, ids int64 (q, k)), nearest first,
            padded with inf / -1 only when fewer than k (allowed) vectors exist: rows an
            approximate search leaves short are redone by a complete search.
        """
        q = _as_vectors(queries, self.dim, "queries")
        k = _check_k(k)
        candidates = None if allowed is None else self._live(np.unique(_as_ids(allowed, "allowed")))
        n_live = self.ntotal if candidates is None else len(candidates)
        if len(q) == 0 or n_live == 0:
            return _padding(len(q), k)
        stored = len(self._ids)
        if candidates is not None and (
            n_live <= EXACT_SCAN_MAX_ALLOWED or n_live < SELECTIVE_FRACTION * stored
        ):
            d2, ids = self._exact_scan(q, k, candidates)
        else:
            d2, ids = self._ann_search(q, k, candidates, n_live / stored)
            short = (ids >= 0).sum(axis=1) < min(k, n_live)
            if short.any():
                d2[short], ids[short] = self._complete_search(q[short], k, candidates)
        return _to_euclidean(d2, ids)

    def _exact_scan(
        self, q: np.ndarray, k: int, ids: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact k-NN over the given ids (default: all live), reconstructed in blocks."""
        ids = self._live_ids() if ids is None else ids
        best_d, best_i = np.full((len(q), k), np.inf), np.full((len(q), k), -1, dtype=np.int64)
        for start in range(0, len(ids), _RECONSTRUCT_ROWS):
            block = ids[start : start + _RECONSTRUCT_ROWS]
            d2, pos = _exact_sq(self._reconstruct(block), q, k)
            found = np.where(pos >= 0, block[np.maximum(pos, 0)], -1)
            best_d, best_i = _merge_topk(best_d, best_i, d2, found, k)
        return best_d, best_i

    def _complete_search(
        self, q: np.ndarray, k: int, ids: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        # Rare path (disconnected graph regions, heavy tombstones): slow but complete.
        return self._exact_scan(q, k, ids)

    # -- persistence -------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write ``index.faiss`` (+ kind-specific files) and ``index.json`` into directory.

        Each file is written to a temporary name, fsynced and ``os.replace``d; the JSON
        sidecar goes last and records file sizes, so a reader never mixes a new sidecar
        with old data, and ``load_index`` detects a save that died half way. Needs free
        disk about the index size (e.g. ~3.5 GB for 10M ivfpq at 256-d).
        """
        if not self.is_trained:
            raise ValueError(f"cannot save an untrained {self.kind} index")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        suffix = f".tmp-{os.getpid()}-{id(self):x}"
        staged: dict[str, Path] = {}
        try:
            for name, write in self._payload().items():
                tmp = directory / (name + suffix)
                staged[name] = tmp
                write(tmp)
                _fsync(tmp)
            config = {
                "format_version": FORMAT_VERSION,
                "kind": self.kind,
                "dim": self.dim,
                "params": self.params(),
                "ntotal": self.ntotal,
                "files": {name: tmp.stat().st_size for name, tmp in staged.items()},
            }
            config_tmp = directory / (CONFIG_FILE + suffix)
            staged[CONFIG_FILE] = config_tmp
            config_tmp.write_text(json.dumps(config, indent=2) + "\n")
            _fsync(config_tmp)
            for name, tmp in staged.items():
                if name != CONFIG_FILE:
                    os.replace(tmp, directory / name)
            os.replace(config_tmp, directory / CONFIG_FILE)
        finally:
            for tmp in staged.values():
                tmp.unlink(missing_ok=True)

    def _payload(self) -> dict[str, Callable[[Path], None]]:
        raise NotImplementedError

    @classmethod
    def load(cls, directory: Path) -> _IndexBase:
        """Read an index written by :meth:`save` (all files are loaded into RAM)."""
        directory = Path(directory)
        config = _read_config(directory)
        if config["kind"] != cls.kind:
            raise ValueError(f"{directory} holds a {config['kind']!r} index, not {cls.kind!r}")
        dim = _check_dim(config["dim"])
        params = {**cls._DEFAULTS, **config["params"]}
        if set(params) != set(cls._DEFAULTS):
            raise ValueError(f"{directory}: unexpected {cls.kind} params {sorted(params)}")
        cls._check_params(dim, params)
        index = cls._restore(directory, dim, params)
        if index.ntotal != config["ntotal"]:
            raise ValueError(
                f"{directory}: index holds {index.ntotal} vectors, index.json says "
                f"{config['ntotal']}"
            )
        return index

    @classmethod
    def _restore(cls, directory: Path, dim: int, params: dict[str, Any]) -> _IndexBase:
        raise NotImplementedError

    # -- kind-specific hooks -----------------------------------------------------

    def _faiss_add(self, x: np.ndarray, ids: np.ndarray) -> None:
        raise NotImplementedError

    def _faiss_remove(self, ids: np.ndarray) -> None:
        raise NotImplementedError

    def _reconstruct(self, ids: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _ann_search(
        self, q: np.ndarray, k: int, candidates: np.ndarray | None, selectivity: float
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _write_faiss(index: faiss.Index) -> Callable[[Path], None]:
    return lambda path: faiss.write_index(index, str(path))


def _read_faiss(path: Path, dim: int) -> faiss.Index:
    index = faiss.read_index(str(path))
    if index.d != dim:
        raise ValueError(f"{path} has dimension {index.d}, index.json says {dim}")
    return index


def _read_config(directory: Path) -> dict[str, Any]:
    path = Path(directory) / CONFIG_FILE
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e
    required = {"format_version", "kind", "dim", "params", "ntotal", "files"}
    if not isinstance(config, dict) or not required <= set(config):
        raise ValueError(f"{path} lacks keys {sorted(required - set(config or {}))}")
    if config["format_version"] != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported format_version {config['format_version']}")
    for name, size in config["files"].items():
        data = Path(directory) / name
        if not data.is_file() or data.stat().st_size != size:
            raise ValueError(f"{data} is missing or does not match {CONFIG_FILE} (torn save?)")
    return config


# ----------------------------------------------------------------------------------
# The three kinds.
# ----------------------------------------------------------------------------------


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
        for name in ("m", "ef_construction", "ef_search"):
            value = params[name]
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"hnsw param {name} must be an integer >= 1, got {value!r}")

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


REFINE_FILE = "refine.faiss"

# Re-ranking stores for IVFPQIndex: the vectors PQ candidates are re-scored against.
_REFINE_STORES: dict[str, Callable[[int], faiss.Index]] = {
    # 1 byte per dimension (256 B at 256-d, 2.5 GB at 10M): distance error ~0.1%, far
    # below PQ's, and 4x less memory than raw float32.
    "sq8": lambda dim: faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit),
    # Raw float32 (10 GB at 10M x 256-d): exact distances and exact filtered fallback.
    "flat": lambda dim: faiss.IndexFlatL2(dim),
}

# faiss warns below 39 training points per centroid; 64 gives stable centroids while
# keeping k-means at 10M (nlist ~12.6k -> 810k points) to a couple of CPU-minutes.
_TRAIN_POINTS_PER_LIST = 64
# PQ k-means (256 centroids per sub-quantizer) subsamples to 256 points per centroid.
_PQ_TRAIN_POINTS = 65_536
# Share of the scanned PQ codes re-ranked exactly: PQ's ranking error grows with the number
# of codes compared, so the pool must too (at 1M items: 320 of ~4,000 scanned -> 0.96).
RERANK_SHARE = 0.08
MIN_K_FACTOR = 32
# Coarse k-means and assignment cost grows with nlist x n: capped so that 10M items train
# and add in minutes on a 2-core CPU; longer lists are then scanned with more re-ranking.
MAX_NLIST = 4096


class IVFPQIndex(_IndexBase):
    """Compressed search: ``IndexIVFPQ`` (native ids) + a re-ranking store.

    Params:
        nlist (None -> 4*sqrt(n), at most n/39, fixed at training): coarse clusters.
        m (None -> largest divisor of dim <= dim/8): PQ bytes per vector (32 at 256-d).
        nbits (8): bits per PQ sub-code.
        nprobe (16): clusters scanned per query.
        k_factor (None -> auto): PQ candidates per result re-scored against the refine
            store. Auto: ``RERANK_SHARE`` of the codes the probes scan, at least 32 per
            result. Measured at 1M x 256-d (nprobe 16, ~4,000 codes scanned): k_factor 8
            gives recall@10 0.79, 16 gives 0.91, 32 gives 0.96 (0.98 ms), 64 gives 0.98
            (1.6 ms); more probes add nothing, the PQ ranking is the limit.
        refine ("sq8" | "flat"): re-ranking store, see _REFINE_STORES.
        train_size (None -> max(64*nlist, 65536)): training sample size.
        seed (1234): training sample and k-means seed.

    Memory at 10M x 256-d with defaults: PQ codes 320 MB + ids 80 MB + SQ8 store
    2.5 GB + id maps ~0.5 GB + precomputed tables ~0.4 GB: ~3.8 GB, so 10M fits in
    24 GB with room for the caller's data; refine="flat" adds 7.7 GB.

    Why not IndexIDMap2 around the IVF: IDMap's remove_ids assumes the sub-index
    compacts its internal ids, which IVF does not, so ids would be scrambled after a
    remove. IVF stores caller ids natively; the refine store is IndexIDMap2 over a
    flat-code index (which does compact) and provides id -> vector lookup.
    Why not faiss.IndexRefine: its search drops the IDSelector of an outer IDMap.

    Distances are re-computed from the refine store, so with "sq8" they (and the exact
    fallback for selective filters) carry SQ8's ~0.1% error; use "flat" for exactness.
    """

    kind = "ivfpq"
    _DEFAULTS: ClassVar[dict[str, Any]] = {
        "nlist": None,
        "m": None,
        "nbits": 8,
        "nprobe": 16,
        "k_factor": None,
        "refine": "sq8",
        "train_size": None,
        "seed": 1234,
    }

    def __init__(
        self,
        dim: int,
        params: dict[str, Any],
        ivf: faiss.Index | None = None,
        store: faiss.Index | None = None,
    ):
        super().__init__(dim, params)
        self._ivf = ivf
        self._store = store
        if store is not None:
            self._ids = np.sort(faiss.vector_to_array(store.id_map))

    @classmethod
    def _check_params(cls, dim, params):
        positive = ("nlist", "m", "nbits", "nprobe", "k_factor", "train_size")
        for name in positive:
            value = params[name]
            if value is None and name in ("nlist", "m", "train_size", "k_factor"):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"ivfpq param {name} must be an integer >= 1, got {value!r}")
        if params["m"] is not None and dim % params["m"]:
            raise ValueError(f"ivfpq param m={params['m']} must divide dim={dim}")
        if not 1 <= params["nbits"] <= 16:
            raise ValueError(f"ivfpq param nbits must be in 1..16, got {params['nbits']}")
        if params["refine"] not in _REFINE_STORES:
            raise ValueError(
                f"ivfpq param refine must be one of {sorted(_REFINE_STORES)}, "
                f"got {params['refine']!r}"
            )

    @property
    def is_trained(self) -> bool:
        return self._ivf is not None

    @property
    def nlist(self) -> int:
        if self._ivf is None:
            raise ValueError("ivfpq index is not trained yet")
        return self._ivf.nlist

    def train(self, vectors: np.ndarray) -> None:
        """Fix nlist/m and train coarse quantizer, PQ and refine store on a sample.

        Args:
            vectors: (n, dim) training data, normally everything that will be added;
                only a ``train_size`` random sample is read (may be a np.memmap). If
                it is itself a sample, create the index with an explicit nlist, since
                the default is derived from n here.
                Needs n >= max(nlist, 2**nbits). k-means over ~64*nlist points is the
                dominant cost (a few CPU-minutes at 10M items).
        """
        if self.is_trained:
            raise ValueError("ivfpq index is already trained")
        x = _numeric_2d(vectors, "vectors", self.dim)
        n = len(x)
        p = self._params
        nlist = p["nlist"] or default_nlist(n)
        m = p["m"] or _default_m(self.dim)
        need = max(nlist, 2 ** p["nbits"])
        if n < need:
            raise ValueError(
                f"ivfpq needs >= {need} training vectors (nlist={nlist}, nbits={p['nbits']}), "
                f"got {n}; use kind='flat' for small collections"
            )
        size = min(n, p["train_size"] or max(_TRAIN_POINTS_PER_LIST * nlist, _PQ_TRAIN_POINTS))
        rng = np.random.default_rng(p["seed"])
        rows = np.sort(rng.choice(n, size=size, replace=False)) if size < n else slice(None)
        sample = _as_vectors(x[rows], self.dim, "vectors")

        ivf = faiss.IndexIVFPQ(faiss.IndexFlatL2(self.dim), self.dim, nlist, m, p["nbits"])
        ivf.cp.seed = p["seed"]
        ivf.pq.cp.seed = p["seed"]
        ivf.train(sample)
        store = faiss.IndexIDMap2(_REFINE_STORES[p["refine"]](self.dim))
        store.train(sample)
        self._ivf, self._store = ivf, store
        self._params = {**p, "nlist": nlist, "m": m}

    def _faiss_add(self, x, ids):
        self._ivf.add_with_ids(x, ids)
        self._store.add_with_ids(x, ids)

    def _faiss_remove(self, ids):
        sel = _selector(ids)
        self._ivf.remove_ids(sel)
        self._store.remove_ids(sel)
        self._ids = self._ids[~_isin_sorted(self._ids, ids)]

    def _reconstruct(self, ids):
        return self._store.reconstruct_batch(ids)

    def _ann_search(self, q, k, candidates, selectivity, nprobe=None):
        if nprobe is None:
            # Scan as many *allowed* codes as an unfiltered search would.
            nprobe = min(self.nlist, math.ceil(self._params["nprobe"] / selectivity))
        sp = faiss.SearchParametersIVF()
        sp.nprobe = nprobe
        sel = None if candidates is None else _selector(candidates)
        if sel is not None:
            sp.sel = sel
        _, cand = self._ivf.search(q, self.rerank_pool(k, nprobe), params=sp)
        return self._rerank(q, cand, k)

    def rerank_pool(self, k: int, nprobe: int) -> int:
        """PQ candidates re-scored for ``k`` results when ``nprobe`` lists are scanned."""
        if self._params["k_factor"]:
            return k * self._params["k_factor"]
        scanned = nprobe * self._ivf.ntotal / max(1, self.nlist)
        return max(k * MIN_K_FACTOR, math.ceil(RERANK_SHARE * scanned))

    def _complete_search(self, q, k, ids):
        # Probing every list reaches every allowed vector: complete without an O(n)
        # reconstruction of the refine store.
        return self._ann_search(q, k, ids, 1.0, nprobe=self.nlist)

    def _rerank(self, q: np.ndarray, cand: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Re-score PQ candidates against the refine store; keep the k best."""
        d2 = np.full(cand.shape, np.inf, dtype=np.float32)
        # 256 queries x 8k candidates x 256-d stays ~20 MB of reconstructed vectors.
        step = 256
        for s in range(0, len(q), step):
            c = cand[s : s + step]
            valid = c >= 0
            rows, _ = np.nonzero(valid)
            vecs = self._store.reconstruct_batch(c[valid])
            diff = vecs - q[s : s + step][rows]
            d2[s : s + step][valid] = np.einsum("ij,ij->i", diff, diff)
        order = np.argsort(d2, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(d2, order, axis=1), np.take_along_axis(cand, order, axis=1)

    def _payload(self):
        return {INDEX_FILE: _write_faiss(self._ivf), REFINE_FILE: _write_faiss(self._store)}

    @classmethod
    def _restore(cls, directory, dim, params):
        ivf = _read_faiss(directory / INDEX_FILE, dim)
        store = _read_faiss(directory / REFINE_FILE, dim)
        if ivf.ntotal != store.ntotal:
            raise ValueError(f"{directory}: {INDEX_FILE} and {REFINE_FILE} disagree on ntotal")
        return cls(dim, params, ivf, store)


def default_nlist(n: int) -> int:
    """IVF list count for n items: 4*sqrt(n), at most n // 39 and MAX_NLIST, at least 1.

    4*sqrt(n) balances coarse-quantizer cost against list length; the n // 39 cap gives
    every list the >= 39 training points faiss asks for; MAX_NLIST bounds build time.
    Pass ``nlist=default_nlist(n_total)`` to ``create_index("ivfpq", ...)`` when training
    on a sample of a larger collection.
    """
    return max(1, min(int(4 * math.sqrt(n)), n // 39, MAX_NLIST))


def _default_m(dim: int) -> int:
    # ~8 dimensions per sub-quantizer (m=32 at 256-d): the usual recall/size sweet spot.
    target = max(1, dim // 8)
    return max(m for m in range(1, target + 1) if dim % m == 0)


# ----------------------------------------------------------------------------------
# Registry and entry points.
# ----------------------------------------------------------------------------------

INDEX_KINDS: dict[str, type] = {cls.kind: cls for cls in (FlatIndex, HNSWIndex, IVFPQIndex)}


def _index_class(kind: str) -> type:
    try:
        return INDEX_KINDS[kind]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown index kind {kind!r}; known kinds: {', '.join(INDEX_KINDS)}"
        ) from None


def create_index(kind: str, dim: int, **params: Any) -> VectorIndex:
    """Make an empty index of a registered kind.

    Args:
        kind: a key of INDEX_KINDS ("flat", "hnsw", "ivfpq").
        dim: vector dimension, >= 1.
        **params: kind-specific params (see each class); unknown ones raise ValueError.

    Returns:
        An empty index. "ivfpq" must be trained (``index.train(vectors)``) before add;
        :func:`build_index` does that.
    """
    return _index_class(kind).create(dim, **params)


def load_index(directory: Path) -> VectorIndex:
    """Load an index saved with ``save``; dispatches on ``kind`` in index.json.

    Raises:
        FileNotFoundError: no index.json in directory.
        ValueError: unknown kind, unsupported format, or files inconsistent with it.
    """
    config = _read_config(Path(directory))
    return _index_class(config["kind"]).load(Path(directory))


def choose_index_kind(n_items: int) -> str:
    """Pick the index kind for a collection size (see FLAT_MAX_ITEMS, HNSW_MAX_ITEMS).

    Returns:
        "flat" below FLAT_MAX_ITEMS (exact and still fast), "hnsw" up to HNSW_MAX_ITEMS
        (best latency/recall while memory allows raw vectors), "ivfpq" beyond (~380 B per
        256-d vector, so 10M items need ~3.8 GB, well inside 24 GB).
    """
    if isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer)) or n_items < 0:
        raise ValueError(f"n_items must be a non-negative integer, got {n_items!r}")
    if n_items < FLAT_MAX_ITEMS:
        return "flat"
    if n_items <= HNSW_MAX_ITEMS:
        return "hnsw"
    return "ivfpq"


def build_index(
    vectors: np.ndarray, ids: np.ndarray | None = None, kind: str = "auto", **params: Any
) -> VectorIndex:
    """Create, train if needed, and fill an index in one call.

    Args:
        vectors: (n, d) finite numeric array (float32 avoids a copy).
        ids: (n,) unique non-negative int ids; default ``arange(n)`` (bundle rows).
        kind: "auto" (``choose_index_kind(n)``) or a key of INDEX_KINDS.
        **params: passed to the kind's ``create``.

    Returns:
        The filled index. Peak memory is the index itself plus, for ivfpq, a training
        sample (~64*nlist rows); the input is not copied when already float32.
    """
    x = _numeric_2d(vectors, "vectors")
    ids = np.arange(len(x), dtype=np.int64) if ids is None else ids
    if kind == "auto":
        kind = choose_index_kind(len(x))
    index = create_index(kind, x.shape[1], **params)
    if not index.is_trained:
        index.train(x)
    index.add(x, ids)
    return index
