"""Tests for lookalike.imaging.batches: load_images and iter_image_batches."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from lookalike.imaging import BatchResult, iter_image_batches, load_image, load_images
from lookalike.imaging import batches as imaging_batches
from tests.imaging.conftest import BLUE, GREEN, RED, save, solid


def _mixed_sources(tmp_path: Path):
    colors = [RED, GREEN, BLUE, (200, 100, 50), (10, 20, 30)]
    sources: list = []
    for i, color in enumerate(colors):
        sources.append(save(solid(color, size=(20 + i, 12)), tmp_path / f"ok{i}.png"))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    sources.insert(1, bad)  # index 1
    sources.insert(4, tmp_path / "missing.png")  # index 4
    sources.append(b"\x89PNG broken")  # index 7
    return sources, [0, 2, 3, 5, 6], [1, 4, 7]


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_load_images_order_and_errors(tmp_path, workers):
    sources, good, bad = _mixed_sources(tmp_path)
    result = load_images(sources, 16, workers=workers)
    assert isinstance(result, BatchResult)
    assert result.ok == good
    assert [i for i, _ in result.errors] == bad
    assert "bad.jpg" in result.errors[0][1] and "missing.png" in result.errors[1][1]
    assert "<bytes>" in result.errors[2][1]
    assert result.images.shape == (len(good), 16, 16, 3) and result.images.dtype == np.uint8
    for row, index in enumerate(result.ok):
        np.testing.assert_array_equal(result.images[row], load_image(sources[index], 16))


def test_load_images_empty_and_progress(tmp_path):
    result = load_images([], 8, progress=True)
    assert result.images.shape == (0, 8, 8, 3) and result.ok == [] and result.errors == []
    path = save(solid(RED), tmp_path / "a.png")
    assert load_images([path, path], 8, progress=True, desc="x").ok == [0, 1]


def test_iter_image_batches_yields_everything_once_in_order(tmp_path):
    sources, good, bad = _mixed_sources(tmp_path)
    full = load_images(sources, 16)
    batches = list(iter_image_batches(sources, 16, batch_size=3, workers=2))
    assert len(batches) == 3  # 8 inputs in batches of 3
    assert [b.ok for b in batches] == [[0, 2], [3, 5], [6]]
    assert sum((b.ok for b in batches), []) == good
    assert [i for b in batches for i, _ in b.errors] == bad
    assert all(b.images.shape[1:] == (16, 16, 3) for b in batches)
    np.testing.assert_array_equal(np.concatenate([b.images for b in batches]), full.images)


def test_iter_image_batches_edge_cases(tmp_path):
    assert list(iter_image_batches([], 8, batch_size=4)) == []
    path = save(solid(RED), tmp_path / "a.png")
    batches = list(iter_image_batches([path] * 5, 8, batch_size=10, progress=True))
    assert len(batches) == 1 and batches[0].ok == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError):
        iter_image_batches([path], 8, batch_size=0)  # raised at call time, not first next()


def test_iter_image_batches_prefetches_one_batch(tmp_path, monkeypatch):
    path = save(solid(RED), tmp_path / "a.png")
    decoded: list[int] = []
    real = imaging_batches.load_image

    def counting(source, size, **kwargs):
        decoded.append(1)
        return real(source, size, **kwargs)

    monkeypatch.setattr(imaging_batches, "load_image", counting)
    gen = iter_image_batches([path] * 12, 8, batch_size=3, workers=2)
    next(gen)
    deadline = time.monotonic() + 5
    while len(decoded) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)  # the caller "works" while batch 2 decodes in the background
    time.sleep(0.05)
    assert len(decoded) == 6  # batch 2 prefetched, batch 3 not started: ~2 batches in memory
    assert [b.ok for b in gen] == [[3, 4, 5], [6, 7, 8], [9, 10, 11]]


def test_iter_image_batches_early_stop(tmp_path):
    path = save(solid(RED), tmp_path / "a.png")
    gen = iter_image_batches([path] * 50, 8, batch_size=2, workers=2)
    first = next(gen)
    gen.close()  # must cancel prefetching without hanging
    assert first.ok == [0, 1]
