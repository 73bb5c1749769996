"""Tests for lookalike.imaging.cache: cached_images."""

from __future__ import annotations

import os

import numpy as np
import pytest

from lookalike.imaging import cache as imaging_cache
from lookalike.imaging import cached_images
from tests.imaging.conftest import BLUE, GREEN, RED, save, solid


def test_cached_images_reuses_and_invalidates(tmp_path, monkeypatch):
    img_dir, cache_dir = tmp_path / "imgs", tmp_path / "cache"
    img_dir.mkdir()
    paths = [save(solid(c), img_dir / f"{i}.png") for i, c in enumerate([RED, GREEN])]
    bad = img_dir / "bad.png"
    bad.write_text("<html></html>")
    paths.append(bad)

    first = cached_images(paths, 8, cache_dir, progress=False)
    assert first.ok == [0, 1] and [i for i, _ in first.errors] == [2]
    assert len(list(cache_dir.glob("*.npy"))) == 1 and len(list(cache_dir.glob("*.json"))) == 1
    assert not list(cache_dir.glob("*.tmp"))

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded despite a valid cache")

    monkeypatch.setattr(imaging_cache, "load_images", no_decoding)
    second = cached_images(paths, 8, cache_dir, progress=False)
    np.testing.assert_array_equal(second.images, first.images)
    assert second.ok == first.ok and second.errors == first.errors
    assert type(second.images) is np.ndarray  # not a memmap
    assert second.images.flags.writeable

    # A different size is a different cache entry.
    with pytest.raises(AssertionError, match="decoded"):
        cached_images(paths, 4, cache_dir, progress=False)

    # Rewriting a file (new content, size and mtime) must invalidate the cache.
    save(solid(BLUE, size=(16, 8)), paths[0])
    st = paths[0].stat()
    os.utime(paths[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="decoded"):
        cached_images(paths, 8, cache_dir, progress=False)
    monkeypatch.undo()
    third = cached_images(paths, 8, cache_dir, progress=False)
    assert (third.images[0, 4] == BLUE).all()
    assert (third.images[0, 0] == 255).all()


def test_cached_images_decode_again_when_decoding_changes(tmp_path, monkeypatch):
    """A new DECODE_VERSION (a format newly readable, colour profiles now converted) must
    not reuse pixels, nor a file's "unreadable", cached by the decoding before it."""
    path = save(solid(RED), tmp_path / "a.png")
    cache_dir = tmp_path / "cache"
    cached_images([path], 8, cache_dir, progress=False)
    calls = []
    real = imaging_cache.load_images
    monkeypatch.setattr(
        imaging_cache, "load_images", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    cached_images([path], 8, cache_dir, progress=False)
    assert calls == []
    monkeypatch.setattr(imaging_cache, "DECODE_VERSION", imaging_cache.DECODE_VERSION + 1)
    again = cached_images([path], 8, cache_dir, progress=False)
    assert calls == [1] and (again.images[0] == RED).all()


def test_cached_images_rebuilds_corrupt_cache(tmp_path):
    path = save(solid(RED), tmp_path / "a.png")
    cache_dir = tmp_path / "cache"
    cached_images([path], 8, cache_dir, progress=False)
    (npy,) = cache_dir.glob("*.npy")
    npy.write_bytes(b"garbage")
    again = cached_images([path], 8, cache_dir, progress=False)
    assert again.ok == [0] and (again.images == RED).all()


def test_cached_images_keys_the_resize_filter(tmp_path):
    """A bilinear cache never answers for a LANCZOS one (and vice versa), and the LANCZOS
    key is the one caches had before the filter was recorded."""
    img_dir, cache_dir = tmp_path / "imgs", tmp_path / "cache"
    img_dir.mkdir()
    pixels = np.zeros((30, 40, 3), np.uint8)
    pixels[:, ::2] = 200
    from PIL import Image

    paths = [img_dir / "stripes.png"]
    Image.fromarray(pixels).save(paths[0])
    lanczos = cached_images(paths, 16, cache_dir, progress=False)
    bilinear = cached_images(paths, 16, cache_dir, progress=False, resize="bilinear")
    assert len(list(cache_dir.glob("*.npy"))) == 2
    assert not np.array_equal(lanczos.images, bilinear.images)
    assert np.array_equal(
        cached_images(paths, 16, cache_dir, progress=False).images, lanczos.images
    )
    assert imaging_cache._cache_key(paths, 16) == imaging_cache._cache_key(paths, 16, "lanczos")
    assert imaging_cache._cache_key(paths, 16) != imaging_cache._cache_key(paths, 16, "bilinear")
