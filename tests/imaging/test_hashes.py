"""Tests for lookalike.imaging.hashes: content hash, average hash, hamming."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from lookalike.imaging import average_hash, hamming, image_content_hash, letterbox, open_rgb
from tests.imaging.conftest import RED, encode, save, solid


def test_image_content_hash(tmp_path):
    data = encode(solid(RED), "PNG")
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(data)
    b.write_bytes(data)
    assert image_content_hash(a) == hashlib.sha256(data).hexdigest() == image_content_hash(str(b))
    c = save(solid(RED), tmp_path / "c.jpg")
    assert image_content_hash(c) != image_content_hash(a)


def _blocky(seed: int) -> np.ndarray:
    blocks = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    return np.kron(blocks, np.ones((16, 16, 1), dtype=np.uint8))  # 128x128x3


def test_average_hash_near_duplicates_and_different_images():
    original = _blocky(1)
    reencoded = np.asarray(open_rgb(encode(Image.fromarray(original), "JPEG", quality=70)))
    h_orig, h_jpeg = average_hash(original), average_hash(reencoded)
    assert 0 <= h_orig < 2**64
    assert hamming(h_orig, h_jpeg) <= 4
    h_other = average_hash(_blocky(2))
    assert hamming(h_orig, h_other) >= 16
    # Resizing is also a near-duplicate.
    resized = letterbox(Image.fromarray(original), 64)
    assert hamming(h_orig, average_hash(resized)) <= 4


def test_average_hash_bits_and_sizes():
    left_dark = np.zeros((8, 8, 3), dtype=np.uint8)
    left_dark[:, 4:] = 255
    # Each row is 00001111, so 8 rows of 0x0F.
    assert average_hash(left_dark) == int("0F" * 8, 16)
    assert average_hash(left_dark[..., 0]) == average_hash(left_dark)  # grayscale input
    assert average_hash(_blocky(3), hash_size=16) < 2**256
    assert average_hash(_blocky(3), hash_size=3) < 2**9
    with pytest.raises(ValueError):
        average_hash(left_dark.astype(np.float32))
    with pytest.raises(ValueError):
        average_hash(left_dark, hash_size=0)


def test_hamming():
    assert hamming(0b1011, 0b0001) == 2
    assert hamming(0, 0) == 0
    assert hamming(2**64 - 1, 0) == 64
    with pytest.raises(ValueError):
        hamming(-1, 0)
