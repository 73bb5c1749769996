"""What every index kind shares: the VectorIndex protocol, input checks and _IndexBase.

:class:`_IndexBase` holds the whole contract once: id bookkeeping, ``add``/``remove``,
filtered search with its exact fallback, and ``save``/``load`` (faiss files plus an
``index.json`` sidecar, staged and swapped in with :func:`lookalike.files.stage_file`).
A kind subclasses it and fills in a few hooks (``_faiss_add``, ``_faiss_remove``,
``_reconstruct``, ``_ann_search``, ``_payload``, ``_restore``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import faiss
import numpy as np

from lookalike.files import stage_file
from lookalike.neighbours import (
    _as_vectors,
    _check_k,
    _exact_sq,
    _is_int_at_least,
    _merge_topk,
    _numeric_2d,
    _to_euclidean,
)

__all__ = [
    "CONFIG_FILE",
    "EXACT_SCAN_MAX_ALLOWED",
    "FORMAT_VERSION",
    "INDEX_FILE",
    "SELECTIVE_FRACTION",
    "VectorIndex",
    "scans_exactly",
    "set_threads",
]

# An exact scan of this many reconstructed vectors (4 MiB at 256-d) costs about as
# much as one graph or IVF search, so below it exactness is free.
EXACT_SCAN_MAX_ALLOWED = 4096
# Graph and IVF searches with a filter that passes < 2% of the stored vectors run out
# of candidates (HNSW's beam is mostly rejected nodes, IVF's probed lists hold few
# allowed ids): results get incomplete and recall collapses, so scan exactly instead.
SELECTIVE_FRACTION = 0.02

# Rows reconstructed per block in exact scans (64 MiB at 256-d float32).
_RECONSTRUCT_ROWS = 65_536

INDEX_FILE = "index.faiss"
CONFIG_FILE = "index.json"
FORMAT_VERSION = 1


@runtime_checkable
class VectorIndex(Protocol):
    """What every index kind implements (see :mod:`lookalike.index` for the contract)."""

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


def scans_exactly(n_allowed: int, n_stored: int) -> bool:
    """Whether a search allowing ``n_allowed`` of ``n_stored`` ids is answered by an exact
    scan of just those: at most :data:`EXACT_SCAN_MAX_ALLOWED` ids, or under
    :data:`SELECTIVE_FRACTION` of the index."""
    return n_allowed <= EXACT_SCAN_MAX_ALLOWED or n_allowed < SELECTIVE_FRACTION * n_stored


def _check_dim(dim: Any) -> int:
    if not _is_int_at_least(dim, 1):
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


def _check_positive_params(
    kind: str, params: dict[str, Any], names: Iterable[str], optional: Collection[str] = ()
) -> None:
    """Each named param must be an integer >= 1, or None where it is ``optional``."""
    for name in names:
        value = params[name]
        if value is None and name in optional:
            continue
        if not _is_int_at_least(value, 1):
            raise ValueError(f"{kind} param {name} must be an integer >= 1, got {value!r}")


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
    if not _is_int_at_least(n, 1):
        raise ValueError(f"threads must be an integer >= 1, got {n!r}")
    faiss.omp_set_num_threads(int(n))


# ----------------------------------------------------------------------------------
# Shared machinery: validation, filtered search with exact fallback, persistence.
# ----------------------------------------------------------------------------------


class _IndexBase:
    """The VectorIndex contract implemented once; a kind fills in the ``_`` hooks below."""

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
        """Whether vectors can be added (False only for an ivfpq index before train)."""
        return True

    def train(self, vectors: np.ndarray) -> None:
        """No-op for kinds without training; see :meth:`IVFPQIndex.train`."""
        _numeric_2d(vectors, "vectors", self.dim)

    def params(self) -> dict:
        """A copy of the kind's params, as recorded in index.json."""
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
        if candidates is not None and scans_exactly(n_live, stored):
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
        staged: dict[str, Path] = {}
        try:
            for name, write in self._payload().items():
                staged[name] = stage_file(directory / name, write)
            config = index_config(self, {name: tmp.stat().st_size for name, tmp in staged.items()})
            text = json.dumps(config, indent=2) + "\n"
            staged[CONFIG_FILE] = stage_file(directory / CONFIG_FILE, lambda p: p.write_text(text))
            # Data files first, the sidecar (staged last) last.
            for name, tmp in staged.items():
                os.replace(tmp, directory / name)
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


def index_config(index: Any, files: dict[str, int]) -> dict[str, Any]:
    """The ``index.json`` sidecar of ``index``: format version, kind, dim, parameters, vector
    count and the byte size of each data file (none for an index kept elsewhere)."""
    return {
        "format_version": FORMAT_VERSION,
        "kind": index.kind,
        "dim": index.dim,
        "params": index.params(),
        "ntotal": index.ntotal,
        "files": files,
    }


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
