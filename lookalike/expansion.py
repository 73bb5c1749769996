"""Query expansion for outside photos: move a query towards its nearest catalog photos.

A shopper's photo (a person wearing the garment, another shop's studio) lies off the
catalog's manifold; its nearest catalog photos agree on what it shows more than the photo's
own vector does. Average query expansion (Chum et al., ICCV 2007) searches twice: once with
the photo's vector, then with that vector moved a fixed share of the way towards the mean of
its first ``n`` neighbours. A leaf module (numpy only); the recommender wires it into photo
queries (:meth:`lookalike.recommend.Recommender.expand_photo_queries`).

Measured on the archive hold-out (300 archive photos held out of head training, 218 scored;
the default's fusion weights; mean of 3 head seeds; never on dev): P@10 type AND colour
0.581 -> 0.589 (every seed up: +0.008 / +0.010 / +0.004), P@10 type 0.876 -> 0.881, strongly
augmented catalog photos finding their original recall@1 0.847 -> 0.851, recall@10 0.993 ->
0.990. 3, 5, 8 or 10 neighbours at weights 0.25, 0.5 or 1 moved type AND colour by +0.004 to
+0.012; more weight costs recall (10 at weight 1: recall@10 0.976).
"""

from __future__ import annotations

import numpy as np

__all__ = ["EXPANSION_MIN_PHOTOS", "EXPANSION_NEIGHBOURS", "EXPANSION_WEIGHT", "expand_queries"]

#: Neighbours averaged into an expanded query.
EXPANSION_NEIGHBOURS = 10
#: Weight of the neighbours' mean against the query's own vector (1): the expanded query is
#: (q + w * mean) / (1 + w), a fifth of the way towards the mean at 0.25.
EXPANSION_WEIGHT = 0.25
#: Catalogs with fewer photos than this are not expanded: ten neighbours would be a large
#: share of the catalog and describe it rather than the photo.
EXPANSION_MIN_PHOTOS = 100


def expand_queries(
    queries: np.ndarray,
    distances: np.ndarray,
    rows: np.ndarray,
    vectors: np.ndarray,
    *,
    weight: float = EXPANSION_WEIGHT,
    keep_within: float = 0.0,
) -> np.ndarray:
    """Average query expansion of each query with its nearest stored vectors.

    Args:
        queries: float (q, dim) query vectors.
        distances: (q, n) distances of each query's nearest stored vectors, nearest first
            (as an index search returns them).
        rows: int (q, n) their rows in ``vectors``; -1 (padding) entries are ignored.
        vectors: (N, dim) stored vectors (an array or a memmap; only the named rows are read).
        weight: >= 0, the neighbours' mean against the query's own weight of 1.
        keep_within: a query whose nearest neighbour is closer than this is returned as it
            is (a copy of a catalog photo answers as that photo: no drift towards others).

    Returns:
        float32 (q, dim): ``(q + weight * mean(neighbours)) / (1 + weight)`` per query; queries
        without a neighbour, or within ``keep_within`` of their nearest, unchanged.

    Raises:
        ValueError: shapes that do not match, or a negative weight.
    """
    queries = np.asarray(queries, np.float32)
    rows = np.asarray(rows, np.int64)
    distances = np.asarray(distances, np.float32)
    if queries.ndim != 2 or rows.shape != distances.shape or rows.shape[:1] != queries.shape[:1]:
        raise ValueError(
            f"queries (q, dim), distances and rows (q, n) must agree; got {queries.shape}, "
            f"{distances.shape} and {rows.shape}"
        )
    if weight < 0:
        raise ValueError(f"weight must be >= 0, got {weight}")
    out = queries.copy()
    if weight == 0 or rows.size == 0:
        return out
    valid = rows >= 0
    expand = valid.any(axis=1) & ~(valid[:, 0] & (distances[:, 0] < keep_within))
    for q in np.flatnonzero(expand):
        neighbours = np.asarray(vectors[np.sort(rows[q][valid[q]])], np.float32)
        out[q] = (queries[q] + weight * neighbours.mean(axis=0)) / (1.0 + weight)
    return out
