"""The registry of index kinds (a plain dict) and the entry points that dispatch on it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.index.base import VectorIndex, _read_config
from lookalike.index.flat import FlatIndex
from lookalike.index.hnsw import HNSWIndex
from lookalike.index.ivfpq import IVFPQIndex
from lookalike.index.milvus import MilvusIndex
from lookalike.neighbours import _is_int_at_least, _numeric_2d

__all__ = [
    "FLAT_MAX_ITEMS",
    "HNSW_MAX_ITEMS",
    "INDEX_KINDS",
    "build_index",
    "choose_index_kind",
    "create_index",
    "load_index",
    "release_index",
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

# Every kind, by the name saved in index.json. A new kind is one module and one entry here.
# ``milvus`` imports pymilvus only when such an index is created or loaded.
INDEX_KINDS: dict[str, type] = {
    cls.kind: cls for cls in (FlatIndex, HNSWIndex, IVFPQIndex, MilvusIndex)
}


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


def release_index(directory: Path) -> str | None:
    """Free what a saved index holds outside its folder (a Milvus collection) before the
    folder is deleted; returns what was released, or None. Never raises: a pruned version
    must not fail a commit (a leftover collection is named by ``lookalike check``)."""
    try:
        config = _read_config(Path(directory))
        release = getattr(INDEX_KINDS.get(config["kind"]), "release", None)
        return release(Path(directory)) if release else None
    except Exception:  # noqa: BLE001 - see the docstring
        return None


def choose_index_kind(n_items: int) -> str:
    """Pick the index kind for a collection size (see FLAT_MAX_ITEMS, HNSW_MAX_ITEMS).

    Returns:
        "flat" below FLAT_MAX_ITEMS (exact and still fast), "hnsw" up to HNSW_MAX_ITEMS
        (best latency/recall while memory allows raw vectors), "ivfpq" beyond (~380 B per
        256-d vector, so 10M items need ~3.8 GB, well inside 24 GB).
    """
    if not _is_int_at_least(n_items, 0):
        raise ValueError(f"n_items must be a non-negative integer, got {n_items!r}")
    if n_items < FLAT_MAX_ITEMS:
        return "flat"
    if n_items <= HNSW_MAX_ITEMS:
        return "hnsw"
    return "ivfpq"


def build_index(
    vectors: np.ndarray,
    ids: np.ndarray | None = None,
    kind: str = "auto",
    *,
    rows: Sequence[tuple[str, dict[str, str]]] | None = None,
    **params: Any,
) -> VectorIndex:
    """Create, train if needed, and fill an index in one call.

    Args:
        vectors: (n, d) finite numeric array (float32 avoids a copy).
        ids: (n,) unique non-negative int ids; default ``arange(n)`` (bundle rows).
        kind: "auto" (``choose_index_kind(n)``) or a key of INDEX_KINDS.
        rows: per vector, (item id, metadata); kinds that store them beside the vectors
            (``milvus``: scalar fields that filters run on) get them, the others ignore them.
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
    if rows is not None and getattr(index, "stores_rows", False):
        index.add(x, ids, rows=rows)
    else:
        index.add(x, ids)
    return index
