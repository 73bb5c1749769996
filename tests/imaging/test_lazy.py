"""lookalike.imaging.lazy: photos decoded when read, unreadable ones reported."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from lookalike.imaging import ImageDecodeError, load_image
from lookalike.imaging.lazy import LazyPhotos, join_lazy


def _photos(tmp_path, n=5):
    paths = []
    rng = np.random.default_rng(0)
    for i in range(n):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (30, 20, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def test_lazy_photos_decode_like_load_image_and_report_unreadable_ones(tmp_path):
    paths = _photos(tmp_path)
    (tmp_path / "2.png").write_bytes(b"<html>not an image</html>")
    photos = LazyPhotos(paths, 16, "bilinear")
    assert len(photos) == 5 and photos.shape == (5, 16, 16, 3)
    batch = photos.decode([4, 2, 0])
    assert batch.ok == [0, 2] and [j for j, _ in batch.errors] == [1]
    np.testing.assert_array_equal(batch.images[0], load_image(paths[4], 16, resize="bilinear"))
    np.testing.assert_array_equal(photos[0], load_image(paths[0], 16, resize="bilinear"))
    with pytest.raises(ImageDecodeError, match="2.png"):
        photos[1:3]
    np.testing.assert_array_equal(photos.select([3, 4])[:], photos[3:5])


def test_lazy_crops_joins_and_stamps(tmp_path):
    paths = _photos(tmp_path, 2)
    box = (0.0, 0.0, 0.5, 0.5)
    cropped = LazyPhotos(paths, 8, "bilinear", boxes=[box, None])
    np.testing.assert_array_equal(cropped[0], load_image(paths[0], 8, crop=box, resize="bilinear"))
    joined = join_lazy([cropped, LazyPhotos(paths, 8, "bilinear")])
    assert len(joined) == 4 and joined.boxes == [box, None, None, None]
    with pytest.raises(ValueError, match="different sizes"):
        join_lazy([cropped, LazyPhotos(paths, 16, "bilinear")])
    with pytest.raises(ValueError, match="boxes"):
        LazyPhotos(paths, 8, boxes=[box])
    before = LazyPhotos(paths, 8).stamps()
    os.utime(paths[1], ns=(1, 1))  # a changed file changes its stamp, without decoding
    assert LazyPhotos(paths, 8).stamps() != before
