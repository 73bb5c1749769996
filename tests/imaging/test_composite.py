"""lookalike.imaging.composite: catalog shots cut out of their studio background and pasted
into other photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lookalike.imaging.composite import (
    alpha_box,
    aspect_distance,
    closest_aspect,
    cut_out,
    paste_product,
    product_alpha,
)
from tests.tolerances import approx


def studio_shot() -> np.ndarray:
    """A 40x40 white studio photo of a red 20x10 product with a white patch inside it."""
    image = np.full((40, 40, 3), 255, np.uint8)
    image[10:30, 15:25] = (200, 20, 20)
    image[18:22, 18:22] = 255  # white on the product: not background (it does not reach the edge)
    return image


def test_alpha_drops_the_edge_background_and_keeps_white_inside_the_product():
    alpha = product_alpha(studio_shot(), soften=0)
    assert alpha[0, 0] == approx(0.0) and alpha[39, 39] == approx(0.0)
    assert alpha[12, 16] == approx(1.0)
    assert alpha[20, 20] == approx(1.0)  # the white patch inside stays opaque
    assert alpha.sum() == approx(200.0)
    assert alpha_box(alpha) == (15, 10, 25, 30)


def test_softened_alpha_stays_in_range():
    alpha = product_alpha(studio_shot(), soften=1.0)
    assert alpha.dtype == np.float32
    assert 0.0 <= float(alpha.min()) and float(alpha.max()) <= 1.0
    assert 0.0 < alpha[10, 14] < 1.0  # the edge is soft


def test_product_alpha_refuses_a_grey_image():
    with pytest.raises(ValueError, match="expected an"):
        product_alpha(np.zeros((4, 4), np.uint8))


def test_cut_out_crops_to_the_product_and_skips_blank_shots():
    cut = cut_out(studio_shot())
    assert cut is not None
    rgb, alpha = cut
    assert rgb.size == alpha.size
    assert 10 <= rgb.width <= 12 and 20 <= rgb.height <= 22
    assert cut_out(np.full((40, 40, 3), 255, np.uint8)) is None
    assert alpha_box(np.zeros((5, 5), np.float32)) is None


def test_closest_aspect_picks_a_region_of_the_products_shape():
    box = (0.0, 0.0, 0.5, 0.5)
    regions = [(0, box, 0.4), (1, box, 1.0), (2, box, 2.5)]
    rng = np.random.default_rng(0)
    assert closest_aspect(0.45, regions, rng) == 0  # a dress: tall
    assert closest_aspect(2.0, regions, rng) == 2  # shoes: wide
    assert aspect_distance(2.0, 2.0) == approx(0.0)
    with pytest.raises(ValueError, match="no regions"):
        closest_aspect(1.0, [], rng)


def test_paste_product_fits_the_box_and_reports_where_it_went():
    photo = Image.new("RGB", (100, 80), (0, 120, 0))
    product, alpha = cut_out(studio_shot())
    rng = np.random.default_rng(1)
    box = (0.2, 0.25, 0.5, 0.5)
    out, placed = paste_product(photo, product, alpha, box, rng, scale=(1.0, 1.0))
    assert out.size == photo.size and photo.getpixel((50, 40)) == (0, 120, 0)  # a copy
    x, y, w, h = placed
    # Scaled to fit the 50x40 px box (aspect 1:2 kept): 20 px wide, 40 px high.
    assert w * 100 == approx(20, abs=1.5) and h * 80 == approx(40, abs=1.5)
    upper = (round((x + w / 2) * 100), round((y + h / 5) * 80))  # above the white patch
    red, green, _ = out.getpixel(upper)
    assert red > 150 and green < 80  # the product covers the box's middle
    assert out.getpixel((2, 2)) == (0, 120, 0)  # the photo around it is kept
