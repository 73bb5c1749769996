"""Tests for lookalike.imaging.preprocess: letterbox."""

from __future__ import annotations

import numpy as np
from PIL import Image

from lookalike.imaging import letterbox
from tests.imaging.conftest import BLUE, GREEN, RED, solid


def test_letterbox_wide_image():
    out = letterbox(solid(RED, size=(400, 10)), 64)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    content_rows = np.where((out != 255).any(axis=(1, 2)))[0]
    assert len(content_rows) >= 1
    assert content_rows.min() > 20 and content_rows.max() < 44  # centred band
    assert (out[:20] == 255).all() and (out[44:] == 255).all()  # white top and bottom
    assert (out[content_rows] == RED).all()  # full width, never stretched vertically


def test_letterbox_tall_image_pads_left_right():
    out = letterbox(solid(BLUE, size=(10, 400)), 64)
    assert (out[:, :20] == 255).all() and (out[:, 44:] == 255).all()
    assert (out[:, 32] == BLUE).all()


def test_letterbox_extreme_aspect_keeps_one_pixel():
    out = letterbox(solid(RED, size=(5000, 1)), 32)
    red_rows = np.where((out == RED).all(axis=(1, 2)))[0]
    assert len(red_rows) == 1


def test_letterbox_keeps_aspect_and_fill():
    img = solid(RED, size=(100, 50))
    out = letterbox(img, 40, fill=(0, 0, 0))
    nonblack = np.where((out != 0).any(axis=2))
    assert nonblack[1].min() == 0 and nonblack[1].max() == 39
    assert nonblack[0].max() - nonblack[0].min() + 1 == 20
    assert (out[0] == 0).all()


def test_letterbox_upscales_small_image():
    out = letterbox(solid(GREEN, size=(4, 2)), 32)
    assert (out[8:24] == GREEN).all() and (out[:8] == 255).all()


def test_letterbox_converts_rgba():
    out = letterbox(Image.new("RGBA", (4, 4), (0, 0, 0, 0)), 8)
    assert (out == 255).all()
