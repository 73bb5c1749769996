"""The hybrid's colour part: a foreground colour histogram (Hellinger-mapped)."""

from __future__ import annotations

import numpy as np

# Pixels with every channel at or above this are background.
WHITE = 235


def colour_histogram(
    images: np.ndarray, bins: int = 8, white: int = WHITE, centre_sigma: float = 0.0
) -> np.ndarray:
    """Joint RGB histogram of the non-white (foreground) pixels, Hellinger-mapped.

    Args:
        images: uint8 (n, h, w, 3); downsampled to at most 64 px internally for speed.
        bins: bins per channel (output dim bins**3).
        white: pixels with all channels >= this are background.
        centre_sigma: when > 0, pixels count with a Gaussian weight around the image centre
            (sigma as a fraction of the side): catalog products sit in the middle, so a
            photo's surroundings (a bed, a floor) weigh less than the product.

    Returns:
        float32 (n, bins**3), unit length (sqrt of the normalised histogram).
    """
    step = max(1, images.shape[1] // 64)
    small = images[:, ::step, ::step]
    h, w = small.shape[1:3]
    weight = np.ones(h * w)
    if centre_sigma > 0:
        ys = (np.arange(h) + 0.5) / h - 0.5
        xs = (np.arange(w) + 0.5) / w - 0.5
        weight = np.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * centre_sigma**2)).ravel()
    small = small.reshape(len(images), -1, 3)
    quantised = (small.astype(np.int32) * bins) // 256
    codes = (quantised[..., 0] * bins + quantised[..., 1]) * bins + quantised[..., 2]
    foreground = (small < white).any(axis=2)
    out = np.zeros((len(images), bins**3), np.float32)
    for i in range(len(images)):
        chosen = foreground[i] if foreground[i].any() else slice(None)
        out[i] = np.bincount(codes[i][chosen], weights=weight[chosen], minlength=bins**3)
    out /= np.maximum(out.sum(axis=1, keepdims=True), 1e-12)
    return np.sqrt(out).astype(np.float32)
