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
