"""Per-group bounds for the exact grouped search
(:func:`~lookalike.index.grouped.search_groups_exact`): each group's (product's) members, the
centroid of their vectors and the radius that holds them all (:class:`GroupBounds`,
:func:`group_bounds`), the centroids' leading principal directions for a cheaper first bound
(:class:`HeadSpace`), and gathering groups' members (CSR)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["GroupBounds", "HeadSpace", "gather_groups", "group_bounds"]

# Photos per block when computing centroids and radii (8 MiB of float64 at 256-d: larger
# blocks ran at half the speed, out of cache).
_GROUP_BLOCK_ROWS = 4096
# Leading principal directions of the centroids scanned first (HeadSpace): on the reference
# catalog's 256-d vectors 32 of them hold 89 % of the centroids' variance, and the bound from
# them (plus the rest's length) left 1.7x the candidates of the full centroid bound for an
# eighth of the scan. Centroids used to find them (every n-th): about 8k.
_HEAD_DIMS = 32
_HEAD_SAMPLE = 8192


class GroupBounds(NamedTuple):
    """Per group (product): its members (CSR), the centroid of their vectors and the radius
    around it that holds them all. Built by :func:`group_bounds`."""

    #: int64 (groups + 1,): group g's members are ``members[offsets[g]:offsets[g + 1]]``.
    offsets: np.ndarray
    #: int64 (members,): member ids (rows of the vectors), grouped.
    members: np.ndarray
    #: float32 (groups, dim): mean of each group's member vectors (zeros for an empty group).
    centroids: np.ndarray
    #: float64 (groups,): the largest distance from a member to its (float32) centroid, a
    #: little enlarged so rounding never makes it too small; -1 for an empty group.
    radii: np.ndarray
    #: float32 (groups,): squared norms of the centroids.
    centroid_norms: np.ndarray
    #: float64 (rows,): squared norm of each member's vector, by row (nan for non-members).
    member_norms: np.ndarray
    #: int64 (groups, most members) or None: each group's members, ascending, padded by
    #: repeating its first; one gather per search instead of a CSR walk. None where that table
    #: would be over 4x the members (a few groups with very many members): then the CSR.
    table: np.ndarray | None
    #: The centroids in their leading principal directions (:class:`HeadSpace`), for a first
    #: bound 8x cheaper to scan; None for low dimensions or few groups.
    heads: HeadSpace | None


class HeadSpace(NamedTuple):
    """Centroids split into their coordinates along the leading principal directions (the
    head) and the length of the rest (the tail). For any query q and centroid c,
    ``||q - c||^2 >= ||q_head - c_head||^2 + (||q_tail|| - ||c_tail||)^2``: a bound that scans
    ``_HEAD_DIMS`` numbers per group instead of ``dim``."""

    #: float64 (dim,): the centroids' mean (the origin of the split).
    mean: np.ndarray
    #: float64 (head dims, dim): orthonormal leading principal directions of the centroids.
    basis: np.ndarray
    #: float32 (groups, head dims): each centroid's head coordinates.
    heads: np.ndarray
    #: float32 (groups,): squared norms of ``heads``.
    head_norms: np.ndarray
    #: float32 (groups,): length of each centroid's tail.
    tails: np.ndarray
    #: float32 (groups,): ``||c - mean||`` (scales the rounding margin).
    spans: np.ndarray


def group_bounds(vectors: np.ndarray, offsets: np.ndarray, members: np.ndarray) -> GroupBounds:
    """Centroids and radii of groups of vectors, for :func:`search_groups_exact`.

    Args:
        vectors: float (n, dim) member vectors (e.g. photo embeddings; a memmap, or anything
            with ``shape`` that ``vectors[int array]`` reads, e.g. :func:`stored_vectors`),
            read in blocks of ~4k rows.
        offsets: int (groups + 1,), non-decreasing from 0 to ``len(members)``.
        members: int (members,), rows of ``vectors``; group g is
            ``members[offsets[g]:offsets[g + 1]]``. Each row in at most one group.

    Returns:
        The :class:`GroupBounds`. Cost: one pass over the members' vectors, O(members x dim).
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    members = np.asarray(members, dtype=np.int64)
    if offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != len(members):
        raise ValueError("offsets must run from 0 to len(members)")
    if np.any(np.diff(offsets) < 0):
        raise ValueError("offsets must be non-decreasing")
    if not hasattr(vectors, "shape"):
        vectors = np.asarray(vectors)
    n_groups, dim = len(offsets) - 1, vectors.shape[1]
    counts = np.diff(offsets)
    centroids = np.zeros((n_groups, dim), np.float32)
    radii = np.full(n_groups, -1.0)
    member_norms = np.full(int(members.max()) + 1 if len(members) else 0, np.nan)
    # One pass over the members, a block of whole groups (~4k members) at a time: a group's
    # members are contiguous, so sums and maxima are reduceat over the block.
    nonempty = np.flatnonzero(counts > 0)
    ends = offsets[nonempty + 1]
    first = 0
    while first < len(nonempty):
        last = max(
            first + 1,
            int(np.searchsorted(ends, offsets[nonempty[first]] + _GROUP_BLOCK_ROWS, "right")),
        )
        block = nonempty[first:last]
        low, high = offsets[block[0]], offsets[block[-1] + 1]
        rows = members[low:high]
        x = np.asarray(vectors[rows], dtype=np.float64)
        starts = offsets[block] - low
        sums = np.add.reduceat(x, starts, axis=0)
        centre = (sums / counts[block][:, None]).astype(np.float32)
        centroids[block] = centre
        # Radii around the float32 centroid actually stored: the bound is about that point.
        spread = np.linalg.norm(
            x - np.repeat(centre.astype(np.float64), counts[block], axis=0), axis=1
        )
        radii[block] = np.maximum.reduceat(spread, starts)
        member_norms[rows] = np.einsum("ij,ij->i", x, x)
        first = last
    # A relative 1e-9 keeps the bound safe against the float64 rounding of these norms.
    radii = np.where(counts > 0, radii * (1 + 1e-9) + 1e-12, -1.0)
    norms = np.einsum("ij,ij->i", centroids, centroids)
    return GroupBounds(
        offsets,
        members,
        centroids,
        radii,
        norms,
        member_norms,
        _padded(offsets, members),
        _head_space(centroids, counts > 0),
    )


def _head_space(centroids: np.ndarray, live: np.ndarray) -> HeadSpace | None:
    n_live, dim = int(live.sum()), centroids.shape[1]
    if dim < 4 * _HEAD_DIMS or n_live < 4 * _HEAD_DIMS:
        return None
    sample = centroids[live][:: max(1, n_live // _HEAD_SAMPLE)].astype(np.float64)
    mean = sample.mean(axis=0)
    centred = sample - mean
    # The leading eigenvectors of the covariance (dim x dim): cheaper than an SVD of the sample.
    values, vectors = np.linalg.eigh(centred.T @ centred)
    basis = vectors[:, np.argsort(values)[::-1][:_HEAD_DIMS]].T.copy()
    heads = np.empty((len(centroids), _HEAD_DIMS), np.float32)
    tails = np.empty(len(centroids), np.float32)
    spans = np.empty(len(centroids), np.float32)
    for start in range(0, len(centroids), _GROUP_BLOCK_ROWS):
        c = centroids[start : start + _GROUP_BLOCK_ROWS].astype(np.float64) - mean
        h = c @ basis.T
        span2 = np.einsum("ij,ij->i", c, c)
        heads[start : start + len(c)] = h
        tails[start : start + len(c)] = np.sqrt(np.maximum(span2 - np.einsum("ij,ij->i", h, h), 0))
        spans[start : start + len(c)] = np.sqrt(span2)
    return HeadSpace(mean, basis, heads, np.einsum("ij,ij->i", heads, heads), tails, spans)


def _padded(offsets: np.ndarray, members: np.ndarray) -> np.ndarray | None:
    counts = np.diff(offsets)
    width = int(counts.max()) if len(counts) else 0
    if width == 0 or len(counts) * width > 4 * len(members) + 1024:
        return None
    owner = np.repeat(np.arange(len(counts)), counts)
    ordered = members[np.lexsort((members, owner))]  # ascending within each group
    column = np.arange(len(members)) - np.repeat(offsets[:-1], counts)
    # Pad with the group's first (lowest) member: a repeat never changes a minimum, and the
    # first position of the minimum is still the lowest member id at that distance.
    table = np.repeat(
        np.where(counts > 0, ordered[np.minimum(offsets[:-1], len(members) - 1)], 0)[:, None],
        width,
        axis=1,
    )
    table[owner, column] = ordered
    return table


def gather_groups(offsets: np.ndarray, members: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The members of ``groups``, group after group (a CSR gather).

    Args:
        offsets: int (n_groups + 1,): group g's members are ``members[offsets[g]:offsets[g + 1]]``.
        members: int (members,).
        groups: int (q,) group ids, each in 0..n_groups-1 (repeats allowed).

    Returns:
        int64 (their members' count,): the slices concatenated; cost O(that count), not a pass
        over every member.
    """
    starts = offsets[groups]
    counts = offsets[groups + 1] - starts
    first = np.cumsum(counts) - counts
    return members[np.repeat(starts - first, counts) + np.arange(int(counts.sum()))]
