"""Nearest-neighbour indexes over item embeddings: exact, graph and compressed.

In the spirit of ``faiss.contrib``: plain numpy arrays in and out, three small classes
around faiss indexes, and a registry (:data:`INDEX_KINDS`) that maps a kind name to its
class. Every index speaks the same :class:`VectorIndex` protocol:

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
flat      < 50k               1 KiB raw vector + 8 B id; exact, no build time
hnsw      50k .. 2M           ~1.3 KiB (raw vector + M=32 graph links)
ivfpq     > 2M (10M sized     ~380 B (32 B PQ code + 8 B id + 256 B SQ8 refine copy
          for 24 GB)          + id maps + tables) -> ~3.8 GB at 10M (estimate)
========  ==================  =====================================================

None of the classes is safe for concurrent ``add``/``remove`` and ``search``; guard
them with a lock if the server mutates an index while serving it.

Modules: :mod:`~lookalike.index.base` (the protocol, input checks, the shared base with
filtered search and save/load), :mod:`~lookalike.index.flat`,
:mod:`~lookalike.index.hnsw`, :mod:`~lookalike.index.ivfpq` (one kind each) and
:mod:`~lookalike.index.grouped` (``search_groups``: k distinct products over an index of
their photos, for every kind), :mod:`~lookalike.index.registry` (the kinds by name,
``create_index``, ``load_index``, ``choose_index_kind``, ``build_index``). Exact
brute-force search lives below the index, in :mod:`lookalike.neighbours`, and is
re-exported here.
"""

from __future__ import annotations

from lookalike.index.base import (
    CONFIG_FILE,
    EXACT_SCAN_MAX_ALLOWED,
    FORMAT_VERSION,
    INDEX_FILE,
    SELECTIVE_FRACTION,
    VectorIndex,
    set_threads,
)
from lookalike.index.flat import FlatIndex
from lookalike.index.grouped import search_groups
from lookalike.index.hnsw import FILTER_EF_MAX, REMOVED_FILE, HNSWIndex
from lookalike.index.ivfpq import (
    MAX_NLIST,
    MIN_K_FACTOR,
    REFINE_FILE,
    RERANK_SHARE,
    IVFPQIndex,
    default_nlist,
)
from lookalike.index.registry import (
    FLAT_MAX_ITEMS,
    HNSW_MAX_ITEMS,
    INDEX_KINDS,
    build_index,
    choose_index_kind,
    create_index,
    load_index,
)
from lookalike.neighbours import exact_search

__all__ = [
    "CONFIG_FILE",
    "EXACT_SCAN_MAX_ALLOWED",
    "FILTER_EF_MAX",
    "FLAT_MAX_ITEMS",
    "FORMAT_VERSION",
    "HNSW_MAX_ITEMS",
    "INDEX_FILE",
    "INDEX_KINDS",
    "MAX_NLIST",
    "MIN_K_FACTOR",
    "REFINE_FILE",
    "REMOVED_FILE",
    "RERANK_SHARE",
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
    "search_groups",
    "set_threads",
]
