"""Exact k nearest neighbours in numpy: the reference every approximate index is held to.

A leaf module (numpy only, nothing from lookalike), so the layers below the index
(encoder fusion tuning, evaluation metrics) can use exact search without importing the
index. Also holds the array checks the index shares with it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["exact_search", "first_per_group", "smallest_per_row"]

# Rows per block when validating or scanning caller arrays, to bound temporaries.
_CHECK_ROWS = 65_536
# Bytes of float64 scratch per block in exact_search.
_EXACT_BLOCK_BYTES = 64 << 20
_EXACT_QUERY_ROWS = 256


# ----------------------------------------------------------------------------------
# Input validation: shared with lookalike.index, whose entry points go through these.
# ----------------------------------------------------------------------------------


def _is_int_at_least(value: Any, minimum: int) -> bool:
    """True for a Python or numpy integer (not a bool) that is >= ``minimum``."""
    return not isinstance(value, bool) and isinstance(value, (int, np.integer)) and value >= minimum


def _check_k(k: Any) -> int:
    if not _is_int_at_least(k, 1):
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    return int(k)


def _numeric_2d(x: Any, name: str, dim: int | None = None) -> np.ndarray:
    """Shape and dtype checks only (no copy), so huge inputs can be handled in blocks."""
    arr = np.asarray(x)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n, dim), got shape {arr.shape}; use x[None, :] for one vector"
        )
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name} has dimension {arr.shape[1]}, the index expects {dim}")
    return arr


def _check_finite(arr: np.ndarray, name: str) -> None:
    # Blocked so a 10M x 256 input does not allocate a 2.5 GB boolean temporary.
    for start in range(0, len(arr), _CHECK_ROWS):
        block = arr[start : start + _CHECK_ROWS]
        ok = np.isfinite(block).all(axis=1)
        if not ok.all():
            row = start + int(np.argmin(ok))
            raise ValueError(f"{name} contains NaN or infinite values (first at row {row})")


def _as_vectors(x: Any, dim: int | None, name: str) -> np.ndarray:
    """Validate and convert to contiguous float32 (n, dim); values must be finite."""
    arr = _numeric_2d(x, name, dim)
    # float64 values beyond float32 range become inf here and are caught below.
    with np.errstate(over="ignore"):
        arr = np.ascontiguousarray(arr, dtype=np.float32)
    _check_finite(arr, name)
    return arr


# ----------------------------------------------------------------------------------
# Top-k bookkeeping and the blocked brute force.
# ----------------------------------------------------------------------------------


def _merge_topk(
    d_a: np.ndarray, i_a: np.ndarray, d_b: np.ndarray, i_b: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise k smallest of two (distances, ids) lists; stable, so earlier wins ties."""
    d = np.concatenate([d_a, d_b], axis=1)
    i = np.concatenate([i_a, i_b], axis=1)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, order, axis=1), np.take_along_axis(i, order, axis=1)


def _to_euclidean(d2: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared L2 -> Euclidean float32; faiss pads with FLT_MAX, we pad with inf."""
    d = np.sqrt(np.maximum(d2, 0)).astype(np.float32)
    d[ids < 0] = np.inf
    return d, ids.astype(np.int64, copy=False)


def _exact_sq(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Blocked brute force in float64: (squared distances, positions), padded."""
    nq, dim = queries.shape
    best_d = np.full((nq, k), np.inf)
    best_p = np.full((nq, k), -1, dtype=np.int64)
    if nq == 0 or len(vectors) == 0:
        return best_d, best_p
    q64 = queries.astype(np.float64)
    qn = np.einsum("ij,ij->i", q64, q64)
    rows = max(1, _EXACT_BLOCK_BYTES // (8 * (dim + _EXACT_QUERY_ROWS)))
    for start in range(0, len(vectors), rows):
        x = np.asarray(vectors[start : start + rows], dtype=np.float64)
        xn = np.einsum("ij,ij->i", x, x)
        for qs in range(0, nq, _EXACT_QUERY_ROWS):
            qe = min(nq, qs + _EXACT_QUERY_ROWS)
            # |q - x|^2 = |q|^2 - 2 q.x + |x|^2: one GEMM per block; float64 keeps the
            # cancellation error far below float32 faiss noise, so this is a reference.
            d2 = qn[qs:qe, None] - 2.0 * (q64[qs:qe] @ x.T) + xn[None, :]
            np.maximum(d2, 0, out=d2)
            if d2.shape[1] > k:
                part = np.argpartition(d2, k - 1, axis=1)[:, :k]
                d2 = np.take_along_axis(d2, part, axis=1)
                pos = part + start
            else:
                pos = np.broadcast_to(np.arange(start, start + d2.shape[1]), d2.shape)
            best_d[qs:qe], best_p[qs:qe] = _merge_topk(best_d[qs:qe], best_p[qs:qe], d2, pos, k)
    return best_d, best_p


def exact_search(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force k nearest neighbours in numpy: the reference for tests and benchmarks.

    Args:
        vectors: (n, d) numeric array, may be a ``np.memmap``; read in blocks so peak
            scratch memory is ~64 MiB regardless of n.
        queries: (q, d) numeric array.
        k: neighbours per query, >= 1.

    Returns:
        (distances float32 (q, k) Euclidean, positions int64 (q, k)) nearest first;
        positions are row numbers into ``vectors``, padded with inf / -1 when k > n.
        Cost is O(q * n * d) in float64: fine for tests and ground truth on subsets,
        use faiss for millions of queries.
    """
    vectors = _numeric_2d(vectors, "vectors")
    queries = _as_vectors(queries, vectors.shape[1], "queries")
    k = _check_k(k)
    for start in range(0, len(vectors), _CHECK_ROWS):
        _check_finite(np.asarray(vectors[start : start + _CHECK_ROWS]), "vectors")
    d2, pos = _exact_sq(vectors, queries, k)
    return _to_euclidean(d2, pos)


def smallest_per_row(d2: np.ndarray, k: int) -> np.ndarray:
    """Columns of the ``k`` smallest values per row of a full distance matrix, smallest
    first (ties: the lower column first, as :func:`exact_search`'s merge keeps them).

    Args:
        d2: float (q, n) distances (any monotone form, e.g. squared).
        k: columns per row; capped at n.

    Returns:
        int64 (q, min(k, n)).
    """
    k = min(_check_k(k), d2.shape[1])
    if k < d2.shape[1]:
        part = np.argpartition(d2, k - 1, axis=1)[:, :k]
        # Sort the k by (distance, column) so that ties are broken as exact_search does.
        part.sort(axis=1)
        order = np.argsort(np.take_along_axis(d2, part, axis=1), axis=1, kind="stable")
        return np.take_along_axis(part, order, axis=1).astype(np.int64, copy=False)
    return np.argsort(d2, axis=1, kind="stable").astype(np.int64, copy=False)


def first_per_group(
    distances: np.ndarray, ids: np.ndarray, groups: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reduce ranked member lists to the first (nearest) member of each group.

    Args:
        distances: float (q, n) nearest first, as an index returns them.
        ids: int (q, n) member ids, -1 for padding.
        groups: int (members,): the group of each member id (ids index it).
        k: groups kept per row.

    Returns:
        (distances (q, k), group ids (q, k), member ids (q, k), distinct groups found per
        row (q,)); padded with inf / -1.
    """
    q = len(ids)
    out_d = np.full((q, k), np.inf, dtype=np.float32)
    out_g = np.full((q, k), -1, dtype=np.int64)
    out_m = np.full((q, k), -1, dtype=np.int64)
    found = np.zeros(q, dtype=np.int64)
    for row in range(q):
        valid = np.flatnonzero(ids[row] >= 0)
        if not len(valid):
            continue
        row_groups = groups[ids[row, valid]]
        # np.unique's return_index is each group's first position: its nearest member.
        _, first = np.unique(row_groups, return_index=True)
        found[row] = len(first)
        keep = valid[np.sort(first)[:k]]
        out_d[row, : len(keep)] = distances[row, keep]
        out_m[row, : len(keep)] = ids[row, keep]
        out_g[row, : len(keep)] = groups[ids[row, keep]]
    return out_d, out_g, out_m, found
