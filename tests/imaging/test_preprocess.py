"""Tests for lookalike.imaging.preprocess: letterbox."""

from __future__ import annotations

import numpy as np
import pytest
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


# --- crops (fractions of the photo) -------------------------------------------------------


def test_parse_and_check_crop_accept_fractions_inside_the_photo():
    from lookalike.imaging import check_crop, parse_crop

    assert parse_crop("0.1, 0.2,0.5,0.5") == (0.1, 0.2, 0.5, 0.5)
    assert check_crop([0, 0, 1, 1]) == (0.0, 0.0, 1.0, 1.0)
    # Rounding just past the edge is clipped, not refused.
    assert check_crop((0.5, 0.5, 0.5000001, 0.5)) == (0.5, 0.5, 0.5, 0.5)


@pytest.mark.parametrize(
    "text",
    ["", "0.1,0.2,0.3", "a,b,c,d", "0,0,0,1", "0,0,1,1.5", "-0.1,0,0.5,0.5", "0.6,0,0.5,1",
     "nan,0,1,1", "1,0,0.1,0.1"],
)  # fmt: skip
def test_bad_crops_are_one_line_errors(text):
    from lookalike.imaging import CropError, parse_crop

    with pytest.raises(CropError) as info:
        parse_crop(text)
    assert "crop" in str(info.value) and "\n" not in str(info.value)


def test_load_image_with_a_crop_keeps_only_that_region(tmp_path):
    from lookalike.imaging import load_image

    # Left half red, right half blue: the right-half crop is all blue.
    array = np.zeros((40, 80, 3), np.uint8)
    array[:, :40] = (255, 0, 0)
    array[:, 40:] = (0, 0, 255)
    path = tmp_path / "two.png"
    Image.fromarray(array).save(path)

    right = load_image(path, 32, crop=(0.5, 0, 0.5, 1))
    whole = load_image(path, 32)

    assert right.shape == (32, 32, 3)
    assert right[..., 2].mean() > 200 and right[..., 0].mean() < 30
    assert whole[..., 0].mean() > 50  # the uncropped photo still shows red


def _striped(size=(400, 300)) -> Image.Image:
    """Fine vertical stripes: where resize filters differ most."""
    pixels = np.zeros((size[1], size[0], 3), np.uint8)
    pixels[:, ::2] = (200, 40, 90)
    pixels[:, 1::2] = (20, 180, 60)
    return Image.fromarray(pixels)


def test_letterbox_default_is_exactly_lanczos():
    """Bundles without a recorded filter keep LANCZOS: the default letterbox is pixel for
    pixel the resize it always did."""
    image = _striped()
    # A portrait photo, as in the catalog: 300x400 -> 240x320, centred in 320.
    portrait = image.transpose(Image.Transpose.TRANSPOSE)
    out = letterbox(portrait, 320)
    expected = np.asarray(portrait.resize((240, 320), Image.Resampling.LANCZOS, reducing_gap=3.0))
    assert np.array_equal(out[:, 40:280], expected)
    assert (out[:, :40] == 255).all() and (out[:, 280:] == 255).all()
    assert np.array_equal(letterbox(image, 320, resize="lanczos"), letterbox(image, 320))


def test_letterbox_bilinear_differs_and_keeps_the_frame():
    image = _striped()
    lanczos = letterbox(image, 320)
    bilinear = letterbox(image, 320, resize="bilinear")
    assert bilinear.shape == lanczos.shape
    assert not np.array_equal(bilinear, lanczos)
    # Same placement: the white bands (top and bottom of a landscape photo) are where they were.
    assert (bilinear[:40] == 255).all() and (bilinear[280:] == 255).all()
    assert (bilinear[40:280] != 255).any(axis=2).all()
    assert abs(float(bilinear[40:280].mean()) - float(lanczos[40:280].mean())) < 2.0


def test_letterbox_coloured_fill_still_fills():
    out = letterbox(solid(RED, size=(10, 40)), 40, fill=(1, 2, 3), resize="bilinear")
    assert (out[:, 0] == (1, 2, 3)).all() and (out[:, 20] == RED).all()


def test_unknown_resize_filter_is_a_clear_error(tmp_path):
    from lookalike.imaging import load_image, load_images

    with pytest.raises(ValueError, match="unknown resize filter 'bicubic'; one of"):
        letterbox(solid(RED), 8, resize="bicubic")
    path = tmp_path / "a.png"
    solid(RED).save(path)
    with pytest.raises(ValueError, match="unknown resize filter"):
        load_image(path, 8, resize="nearest")
    with pytest.raises(ValueError, match="unknown resize filter"):
        load_images([path], 8, resize="nearest")


def test_load_image_passes_the_filter(tmp_path):
    from lookalike.imaging import load_image, open_rgb

    path = tmp_path / "stripes.png"
    _striped().save(path)
    for resize in ("lanczos", "bilinear"):
        assert np.array_equal(
            load_image(path, 320, resize=resize), letterbox(open_rgb(path), 320, resize=resize)
        )
