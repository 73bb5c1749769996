"""Products with several photos, as arrays: a product's vector from its photos' vectors, the
photo rows of each product (CSR), and duplicate groups joined across a product's photos.

The index holds every photo (photo row i = index id i); a product is the group of its photo
rows. Plain functions over NumPy arrays, used by :class:`lookalike.recommend.Recommender`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def product_photo_arrays(photo_rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Each product's photo rows as CSR arrays.

    Args:
        photo_rows: per product row, its photo rows by photo number.

    Returns:
        (offsets int64 (products + 1,), photo rows int64 (photos,)): product ``p``'s
        photo rows, by photo number, are ``rows[offsets[p]:offsets[p + 1]]``.
    """
    counts = np.array([len(rows) for rows in photo_rows], np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    rows = np.fromiter((r for rows in photo_rows for r in rows), np.int64, int(offsets[-1]))
    return offsets, rows


def known_rows(rows: np.ndarray, n_rows: int) -> np.ndarray:
    """The distinct rows (int64, sorted) of ``rows`` that lie in ``0..n_rows-1``."""
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    return rows[(rows >= 0) & (rows < n_rows)]


def product_vectors(photo_vectors: np.ndarray, products: np.ndarray, n_products: int) -> np.ndarray:
    """One vector per product: the mean of its photos' L2-normalised vectors, scaled to their
    mean length (so distances stay on the photos' scale). A one-photo product keeps its
    photo's vector exactly.

    Args:
        photo_vectors: float32 (photos, dim).
        products: int (photos,), each photo's product row in 0..n_products-1.
        n_products: number of products (each must have a photo).

    Returns:
        float32 (n_products, dim).
    """
    vectors = np.asarray(photo_vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.maximum(norms, 1e-12)
    counts = np.bincount(products, minlength=n_products).astype(np.float64)
    mean = np.zeros((n_products, vectors.shape[1]))
    np.add.at(mean, products, unit)
    mean /= np.maximum(counts, 1)[:, None]
    length = np.bincount(products, weights=norms[:, 0], minlength=n_products) / np.maximum(
        counts, 1
    )
    mean *= (length / np.maximum(np.linalg.norm(mean, axis=1), 1e-12))[:, None]
    out = mean.astype(np.float32)
    single = np.flatnonzero(counts == 1)
    if len(single):
        # Exactly the photo's own vector: a one-photo product's queries are unchanged.
        first = np.full(n_products, -1, np.int64)
        first[products[::-1]] = np.arange(len(products))[::-1]
        out[single] = photo_vectors[first[single]]
    return out


def join_groups(groups: np.ndarray, products: np.ndarray) -> np.ndarray:
    """Per photo, a group number shared by the photos of one product and by every photo in
    ``groups`` (e.g. byte-identical) with them: the connected components (union-find).

    Args:
        groups: int (photos,), group numbers (e.g. :func:`lookalike.dedup.exact_group_numbers`).
        products: int (photos,), product rows.

    Returns:
        int64 (photos,), the smallest group number of each component.
    """
    parent = np.arange(int(groups.max()) + 1 if len(groups) else 0)

    def find(g: int) -> int:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = int(parent[g])
        return g

    first_of_product: dict[int, int] = {}
    for group, product in zip(groups.tolist(), products.tolist(), strict=True):
        other = first_of_product.setdefault(product, group)
        a, b = find(group), find(other)
        if a != b:
            parent[max(a, b)] = min(a, b)
    roots = np.array([find(g) for g in range(len(parent))], np.int64)
    return roots[groups]
