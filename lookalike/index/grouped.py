"""Grouped search: the k nearest distinct *groups* (products) over an index of members (photos).

One routine for every index kind, at the :class:`~lookalike.index.base.VectorIndex` seam:
the index holds one vector per photo, a ``groups`` array maps each stored id to its product,
and :func:`search_groups` answers with k distinct products, each with its best (nearest)
photo.

Why it is bounded: with at most ``m`` photos per product, the ``k * m`` nearest photos always
hold at least ``k`` distinct products (every photo ranked before the k-th product's best
photo belongs to one of the k - 1 products before it). So the search starts at ``k`` times
the catalog's mean photos per product, doubles while fewer than ``k`` distinct products came
back, and never goes deeper than ``k * m`` photos (nor than the photos a filter allows).
Filters are the index's own (``allowed`` ids or Milvus ``filters``), so ``k`` products come
back under a filter whenever ``k`` allowed products exist.

Milvus groups inside its own search (``group_by_field`` on the stored item id, which Milvus
Lite supports too), so it is asked once for k groups.

For an exact index (flat, or an exact scan) the result is the exact per-product minimum: the
first photo of each product in an exact ranking is its nearest. For approximate kinds (HNSW,
IVF-PQ, Milvus) it is as approximate as their photo search.

Exact searches have a cheaper route, :func:`search_groups_exact`: a scan of one vector per
product instead of every photo. Each product keeps the centroid ``c`` of its photos and its
radius ``r`` (the farthest photo from ``c``); by the triangle inequality no photo of it is
nearer to a query ``q`` than ``lb = ||q - c|| - r``. So the products are scanned by centroid,
and exact photo distances are computed only for the products whose bound could still beat the
k-th best product found: products in increasing ``lb`` order, in two rounds (the most
promising ``4k``, then every product whose ``lb`` is under the k-th exact distance found).
The result is the exact per-product minimum, the same as an exact photo search grouped; it
costs one scan over products plus the photos of a few dozen candidates, when a product's
photos lie close together compared with the distance between products (the usual case: the
shots of one garment). :func:`exact_scan_vectors` says when an index's own search would be
exact over the same vectors, so that this route returns what the index would. The bounds
themselves (:func:`group_bounds`) are built in :mod:`lookalike.index.bounds`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lookalike.index.base import scans_exactly
from lookalike.index.bounds import GroupBounds, HeadSpace, gather_groups, group_bounds
from lookalike.neighbours import _as_vectors, _check_k, first_per_group

__all__ = [
    "GroupBounds",
    "HeadSpace",
    "exact_scan_vectors",
    "gather_groups",
    "group_bounds",
    "search_groups",
    "search_groups_exact",
    "stored_vectors",
]

# Centroid distances per block of queries (64 MiB of float32 scratch).
_CENTROID_CELLS = 16 << 20
# Float32 unit roundoff: bounds the error of the float32 centroid scan (see _lower_bounds).
_F32_EPS = 2.0**-24
# Groups whose members the first round scans, per result wanted (k): on the reference catalog
# with 3 photos per product ~6k groups had a bound under the k-th distance; 4k left the
# second round small (measured 2k, 4k, 6k, 8k: 4k was as fast as any, plain and filtered).
_FIRST_ROUND = 4


def search_groups(
    index: Any,
    queries: np.ndarray,
    k: int,
    groups: np.ndarray | None,
    *,
    max_per_group: int = 1,
    allowed: np.ndarray | None = None,
    **search_options: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` nearest distinct groups of each query, each with its nearest member.

    Args:
        index: a ``VectorIndex`` over member ids (photo rows).
        queries: float (q, dim).
        k: groups per query, >= 1.
        groups: int (members,), each member id's group (product row); None = every member is
            its own group (one photo per product: a plain ``index.search``, unchanged).
        max_per_group: the most members any group has (``m``): bounds the search at ``k * m``.
        allowed: member ids that may be returned (passed to the index's filtered search).
        search_options: more keyword arguments of the index's ``search`` (Milvus ``filters``).

    Returns:
        (distances float32 (q, k) Euclidean, group ids int64 (q, k), member ids int64 (q, k)),
        nearest first; padded with inf / -1 only when fewer than ``k`` groups can be found.
    """
    k = _check_k(k)
    queries = np.asarray(queries)
    if allowed is not None:
        search_options["allowed"] = allowed
    if groups is None or max_per_group <= 1:
        distances, ids = index.search(queries, k, **search_options)
        return distances, ids, ids
    groups = np.asarray(groups, dtype=np.int64)
    if getattr(index, "groups_inside", False):
        # Milvus groups by its stored item id itself (group_by_field): one call, no deepening.
        distances, ids = index.search(queries, k, group_by_item=True, **search_options)
        return distances, np.where(ids >= 0, groups[np.maximum(ids, 0)], -1), ids
    n_members = index.ntotal if allowed is None else len(allowed)
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    deepest = max(1, min(n_members, k * int(max_per_group)))
    # Start where k products usually are (k x the mean photos per product), double up to k*m.
    fetch = max(1, min(deepest, math.ceil(k * len(groups) / max(n_groups, 1))))
    out_d = np.full((len(queries), k), np.inf, dtype=np.float32)
    out_g = np.full((len(queries), k), -1, dtype=np.int64)
    out_m = np.full((len(queries), k), -1, dtype=np.int64)
    pending = np.arange(len(queries))
    while len(pending):
        distances, ids = index.search(queries[pending], fetch, **search_options)
        d, g, m, found = first_per_group(distances, ids, groups, k)
        done = (found >= k) | (fetch >= deepest)
        out_d[pending[done]], out_g[pending[done]], out_m[pending[done]] = d[done], g[done], m[done]
        pending = pending[~done]
        fetch = min(deepest, fetch * 2)
    return out_d, out_g, out_m


def search_groups_exact(
    vectors: np.ndarray,
    bounds: GroupBounds,
    queries: np.ndarray,
    k: int,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The exact ``k`` nearest groups of each query (a group's distance: its nearest member),
    by centroid bounds first and member distances for the few groups that can still win.

    Args:
        vectors: float (n, dim) member vectors, the ones ``bounds`` was built from (anything
            ``vectors[int array]`` reads, see :func:`group_bounds`).
        bounds: :func:`group_bounds` of those vectors.
        queries: float (q, dim), finite.
        k: groups per query, >= 1.
        allowed: group ids that may be returned (None = all); unknown ids are ignored.

    Returns:
        (distances float32 (q, k) Euclidean, group ids int64 (q, k), member ids int64 (q, k)),
        nearest first (equal distances: the lower member id first); padded with inf / -1
        when fewer than ``k`` (allowed, non-empty) groups exist. The same groups and
        distances as an exact search of every member grouped, up to float rounding of
        distances (computed in float64 here). Cost per query: one float32 scan of the allowed
        centroids, plus the members of the groups whose bound is below the k-th best
        distance (a few times k groups when members lie close to their centroid; every
        group, i.e. a full member scan, in the worst case).
    """
    k = _check_k(k)
    queries = _as_vectors(queries, bounds.centroids.shape[1], "queries")
    n_groups = len(bounds.radii)
    if allowed is None:
        groups = np.flatnonzero(bounds.radii >= 0)
    else:
        groups = np.unique(np.asarray(allowed, dtype=np.int64))
        groups = groups[(groups >= 0) & (groups < n_groups)]
        groups = groups[bounds.radii[groups] >= 0]
    nq = len(queries)
    out_d = np.full((nq, k), np.inf, dtype=np.float32)
    out_g = np.full((nq, k), -1, dtype=np.int64)
    out_m = np.full((nq, k), -1, dtype=np.int64)
    if nq == 0 or len(groups) == 0:
        return out_d, out_g, out_m
    every = allowed is None and len(groups) == n_groups
    radii = bounds.radii[groups]
    head = bounds.heads
    step = max(1, _CENTROID_CELLS // len(groups))
    for start in range(0, nq, step):
        block = queries[start : start + step]
        if head is not None:
            # The cheap bound first; the full centroid bound only for the second round.
            lower = _head_lower_bounds(block, head, None if every else groups, radii)
        else:
            centroids = bounds.centroids if every else bounds.centroids[groups]
            norms = bounds.centroid_norms if every else bounds.centroid_norms[groups]
            lower = _lower_bounds(block, centroids, norms, radii)
        for row in range(len(block)):
            d, g, m = _nearest_groups(vectors, bounds, groups, lower[row], block[row], k)
            out_d[start + row, : len(d)], out_g[start + row, : len(g)] = d, g
            out_m[start + row, : len(m)] = m
    return out_d, out_g, out_m


def _lower_bounds(
    queries: np.ndarray, centroids: np.ndarray, norms: np.ndarray, radii: np.ndarray
) -> np.ndarray:
    """float64 (q, groups): no member of a group is nearer to the query than this."""
    qn = np.einsum("ij,ij->i", queries, queries)
    # The float32 scan's rounding error is at most ~(dim + 2) eps (|q|^2 + |c|^2) (a dot
    # product's standard bound); taking it off (scaling both norms down) keeps it a bound.
    keep = 1.0 - (centroids.shape[1] + 2) * 2 * _F32_EPS
    d2 = (keep * qn)[:, None] - 2.0 * (queries @ centroids.T) + keep * norms[None, :]
    # Less a relative 1e-6 for the rounding of the square root and the subtraction.
    return np.sqrt(np.maximum(d2, 0.0, out=d2), out=d2) * (1 - 1e-6) - radii[None, :]


def _head_lower_bounds(
    queries: np.ndarray, head: HeadSpace, groups: np.ndarray | None, radii: np.ndarray
) -> np.ndarray:
    """float64 (q, groups): the :class:`HeadSpace` bound, less the groups' radii."""
    heads = head.heads if groups is None else head.heads[groups]
    head_norms = head.head_norms if groups is None else head.head_norms[groups]
    tails = head.tails if groups is None else head.tails[groups]
    spans = head.spans if groups is None else head.spans[groups]
    centred = queries.astype(np.float64) - head.mean
    q_head = centred @ head.basis.T
    span2 = np.einsum("ij,ij->i", centred, centred)
    q_tail = np.sqrt(np.maximum(span2 - np.einsum("ij,ij->i", q_head, q_head), 0.0))
    q32 = q_head.astype(np.float32)
    qn = np.einsum("ij,ij->i", q32, q32)
    # As _lower_bounds: the float32 products' rounding taken off through the norms.
    keep = 1.0 - (q32.shape[1] + 2) * 2 * _F32_EPS
    d2 = (keep * qn)[:, None] - 2.0 * (q32 @ heads.T) + keep * head_norms[None, :]
    d2 = np.maximum(d2, 0.0, out=d2) + (q_tail.astype(np.float32)[:, None] - tails[None, :]) ** 2
    # The float32 heads, tails and projections are each within ~1e-7 of their exact values:
    # a margin of 1e-6 of the lengths involved covers them.
    margin = 1e-6 * (np.sqrt(span2)[:, None] + spans[None, :])
    return np.sqrt(d2) - margin - radii[None, :]


def _nearest_groups(
    vectors: np.ndarray,
    bounds: GroupBounds,
    groups: np.ndarray,
    lower: np.ndarray,
    query: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One query: exact member distances of the groups by increasing bound, two rounds."""
    q64 = query.astype(np.float64)
    first = min(len(groups), _FIRST_ROUND * k)
    picked = np.argpartition(lower, first - 1)[:first] if first < len(groups) else None
    if picked is None:
        d, g, m = _group_minima(vectors, bounds, groups, q64)
        return _top(d, g, m, k)
    d, g, m = _group_minima(vectors, bounds, groups[picked], q64)
    rest = np.ones(len(groups), dtype=bool)
    rest[picked] = False
    kth = math.sqrt(np.partition(d, k - 1)[k - 1]) if len(d) >= k else np.inf
    # Every group left out has a bound above the k-th exact distance: none can enter the top k
    # (the margin covers the float64 rounding of that distance).
    threshold = kth * (1 + 1e-9) + 1e-12
    more = np.flatnonzero(rest & (lower <= threshold))
    if len(more) and bounds.heads is not None:
        # ``lower`` was the head bound: the full centroid bound of the few left is tighter.
        left = groups[more]
        full = _lower_bounds(
            query[None], bounds.centroids[left], bounds.centroid_norms[left], bounds.radii[left]
        )[0]
        more = more[full <= threshold]
    if len(more):
        d2, g2, m2 = _group_minima(vectors, bounds, groups[more], q64)
        d, g, m = np.concatenate([d, d2]), np.concatenate([g, g2]), np.concatenate([m, m2])
    return _top(d, g, m, k)


def _group_minima(
    vectors: np.ndarray, bounds: GroupBounds, groups: np.ndarray, q64: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each group's nearest member: (squared distances float64, groups, member ids)."""
    if bounds.table is not None:
        rows = bounds.table[groups]
        flat = rows.ravel()
        x = np.asarray(vectors[flat], dtype=np.float64)
        d2 = q64 @ q64 - 2.0 * (x @ q64) + bounds.member_norms[flat]
        d2 = np.maximum(d2, 0.0, out=d2).reshape(rows.shape)
        at = d2.argmin(axis=1)  # the first (lowest id) of the members at the minimum
        picked = np.arange(len(groups))
        return d2[picked, at], groups, rows[picked, at]
    counts = bounds.offsets[groups + 1] - bounds.offsets[groups]
    first = np.cumsum(counts) - counts
    members = gather_groups(bounds.offsets, bounds.members, groups)
    x = np.asarray(vectors[members], dtype=np.float64)
    # As the exact scan computes it (lookalike.neighbours._exact_sq), in float64.
    d2 = np.maximum(q64 @ q64 - 2.0 * (x @ q64) + bounds.member_norms[members], 0.0)
    best = np.minimum.reduceat(d2, first)
    # The lowest member id among those at the group's minimum.
    owner = np.repeat(np.arange(len(groups)), counts)
    at_min = np.flatnonzero(d2 == best[owner])
    choice = np.full(len(groups), np.iinfo(np.int64).max)
    np.minimum.at(choice, owner[at_min], members[at_min])
    return best, groups, choice


def _top(
    d2: np.ndarray, groups: np.ndarray, members: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.lexsort((members, d2))[:k]
    return np.sqrt(d2[order]).astype(np.float32), groups[order], members[order]


def exact_scan_vectors(index: Any, n_allowed: int | None) -> bool:
    """Whether ``index.search`` (with ``n_allowed`` allowed ids, None = no filter) ranks by
    exact distances to its stored vectors (:func:`stored_vectors`), so that
    :func:`search_groups_exact` over those returns what a grouped search of the index returns.

    True for a flat index, and for a filter that HNSW or IVF-PQ answer by an exact scan
    (:data:`~lookalike.index.base.EXACT_SCAN_MAX_ALLOWED`,
    :data:`~lookalike.index.base.SELECTIVE_FRACTION`). False for any other kind (Milvus,
    kinds added later).
    """
    kind = getattr(index, "kind", None)
    if kind == "flat":
        return True
    if kind not in ("hnsw", "ivfpq") or n_allowed is None:
        return False
    # base.search compares with its stored ids, tombstones included (>= ntotal): checking
    # against ntotal only says "exact" where the index is sure to scan exactly too.
    return scans_exactly(n_allowed, index.ntotal)


def stored_vectors(index: Any, vectors: np.ndarray) -> Any:
    """The vectors ``index``'s exact scan compares with, for :func:`search_groups_exact`.

    Args:
        index: a flat, HNSW or IVF-PQ index built from ``vectors`` (id i = row i).
        vectors: float32 (n, dim), what was added.

    Returns:
        ``vectors`` itself for flat and HNSW (they store them unchanged); for IVF-PQ a reader
        of its refine store (``sq8`` by default: rounded vectors), read by id on demand, so
        results match its exact scan without holding a second copy.
    """
    if getattr(index, "kind", None) == "ivfpq":
        return _Reconstructed(index)
    return vectors


class _Reconstructed:
    """``vectors[ids]`` read from an index's stored vectors (its exact-scan source)."""

    def __init__(self, index: Any):
        self.index = index
        self.shape = (index.ntotal, index.dim)

    def __getitem__(self, ids: np.ndarray) -> np.ndarray:
        return self.index._reconstruct(np.ascontiguousarray(ids, dtype=np.int64))
