"""Compressed search: IVFPQIndex, a faiss ``IndexIVFPQ`` plus a re-ranking store."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import faiss
import numpy as np

from lookalike.index.base import (
    INDEX_FILE,
    _check_positive_params,
    _IndexBase,
    _isin_sorted,
    _read_faiss,
    _selector,
    _write_faiss,
)
from lookalike.neighbours import _as_vectors, _numeric_2d

__all__ = [
    "MAX_NLIST",
    "MIN_K_FACTOR",
    "REFINE_FILE",
    "RERANK_SHARE",
    "IVFPQIndex",
    "default_nlist",
]

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
        _check_positive_params(
            cls.kind,
            params,
            ("nlist", "m", "nbits", "nprobe", "k_factor", "train_size"),
            optional=("nlist", "m", "train_size", "k_factor"),
        )
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
        """Whether :meth:`train` has run (needed before add, search and save)."""
        return self._ivf is not None

    @property
    def nlist(self) -> int:
        """Coarse clusters, fixed at training."""
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
