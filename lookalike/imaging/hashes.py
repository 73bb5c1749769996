"""Image hashes for duplicate detection: exact (content sha256) and perceptual (aHash)."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from lookalike.files import sha256_file

__all__ = ["average_hash", "hamming", "image_content_hash"]


def image_content_hash(path: str | os.PathLike) -> str:
    """sha256 hex digest of a file's bytes, for exact-duplicate detection.

    Args:
        path: File to hash; read in chunks, so any size works.

    Returns:
        64-character lower-case hex string.
    """
    return sha256_file(path)


def average_hash(image: np.ndarray, hash_size: int = 8) -> int:
    """Perceptual average hash (aHash) for near-duplicate detection.

    The image is converted to gray, box-averaged down to hash_size x hash_size and each cell
    becomes one bit: 1 if brighter than the mean. Re-encoding, resizing and mild colour changes
    flip few bits; different images differ in about half. Compare with :func:`hamming`.

    Args:
        image: uint8 array, HxWx3 (RGB) or HxW (gray), H and W >= 1.
        hash_size: Cells per side, >= 1 (8 gives a 64-bit hash).

    Returns:
        Non-negative int of hash_size**2 bits, row-major, first cell in the most significant bit.
    """
    if hash_size < 1:
        raise ValueError(f"hash_size must be >= 1, got {hash_size}")
    arr = np.asarray(image)
    if (
        arr.dtype != np.uint8
        or not ((arr.ndim == 3 and arr.shape[2] == 3) or arr.ndim == 2)
        or arr.shape[0] < 1
        or arr.shape[1] < 1
    ):
        raise ValueError(f"expected a uint8 HxWx3 or HxW image, got {arr.dtype} {arr.shape}")
    gray = Image.fromarray(np.ascontiguousarray(arr)).convert("L")
    # BOX makes each cell the plain mean of its pixels, which is what aHash defines.
    small = np.asarray(gray.resize((hash_size, hash_size), Image.Resampling.BOX), dtype=np.float64)
    bits = (small > small.mean()).ravel()
    pad = (-bits.size) % 8  # packbits pads the last byte with zero bits on the right
    return int.from_bytes(np.packbits(bits).tobytes(), "big") >> pad


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two non-negative hashes (e.g. from average_hash)."""
    if a < 0 or b < 0:
        raise ValueError("hashes must be non-negative")
    return (a ^ b).bit_count()
