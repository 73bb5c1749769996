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
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lookalike.neighbours import _check_k, first_per_group

__all__ = ["search_groups"]


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
