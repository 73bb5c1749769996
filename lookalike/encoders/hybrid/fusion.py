"""The hybrid's fusion: its parts (head, colour, backbone, class probabilities, instance)
from cached features, weighted and concatenated."""

from __future__ import annotations

import numpy as np

from lookalike.encoders.hybrid.config import HybridConfig
from lookalike.encoders.hybrid.head import class_probabilities, head_outputs
from lookalike.encoders.pooling import LAST_CHANNELS


def split_parts(features: np.ndarray, config: HybridConfig) -> tuple[np.ndarray, np.ndarray]:
    """Cached head inputs (n, descriptor + bins**3) -> float32 (descriptor, colour histogram)."""
    features = np.asarray(features, np.float32)
    width = features.shape[1] - config.colour_bins**3
    return features[:, :width], features[:, width:]


def fusion_parts(
    head: dict[str, np.ndarray] | None,
    descriptor: np.ndarray,
    colour: np.ndarray,
    config: HybridConfig,
) -> list[np.ndarray]:
    """The fusion's parts, in ``FUSION_PARTS`` order, from the backbone descriptors (blocks
    unit length) and colour histograms; without a head its three parts are empty. ``config``
    gives the classifiers' temperature and the class part's column weights."""
    if head is None:
        z = instance = probs = np.zeros((len(descriptor), 0), np.float32)
    else:
        z, instance = head_outputs(head, np.concatenate([descriptor, colour], axis=1))
        probs = class_probabilities(head, z, config.temperature, config.class_column_weights)
    # The backbone part is the plain average (the descriptor's first block).
    return [z, colour, descriptor[:, :LAST_CHANNELS], probs, instance]


def fuse(parts: list[np.ndarray], weights: tuple[float, ...]) -> np.ndarray:
    """Concatenate unit-length parts scaled by ``weights`` (zero-weight and empty parts
    dropped)."""
    chosen = [w * p for w, p in zip(weights, parts, strict=True) if w > 0 and p.shape[1]]
    return np.concatenate(chosen, axis=1).astype(np.float32)


def part_sq_distances(queries: list[np.ndarray], gallery: list[np.ndarray]) -> np.ndarray:
    """Squared Euclidean distances per fusion part, so that any weighting's distances are a
    weighted sum (:func:`fused_sq_distances`) rather than a new kNN over ~10k dims.

    Args:
        queries, gallery: the parts of the query rows and of the gallery rows, in the same
            order (as :func:`fusion_parts` returns them); empty parts give zeros.

    Returns:
        float32 (parts, q, n): the cost is one float32 GEMM per part, the memory
        4 x parts x q x n bytes (e.g. 96 MB for 800 queries x 6,000 rows x 5 parts).
    """
    out = np.zeros((len(queries), len(queries[0]), len(gallery[0])), np.float32)
    for p, (a, b) in enumerate(zip(queries, gallery, strict=True)):
        if a.shape[1]:
            a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
            d2 = np.einsum("ij,ij->i", a, a)[:, None] - 2 * (a @ b.T)
            d2 += np.einsum("ij,ij->i", b, b)[None, :]
            np.maximum(d2, 0, out=out[p])
    return out


def fused_sq_distances(part_d2: np.ndarray, weights: tuple[float, ...]) -> np.ndarray:
    """Squared distances of :func:`fuse`'s embeddings with ``weights`` from
    :func:`part_sq_distances` (exact up to float32 rounding): sum over parts of w**2 x d2,
    a zero weight dropping its part as fuse does."""
    squares = np.array([w * w if w > 0 else 0.0 for w in weights], np.float32)
    return np.tensordot(squares, part_d2, axes=1)
