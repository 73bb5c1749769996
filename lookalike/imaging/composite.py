"""Catalog shots placed into real photos: pure functions over arrays and PIL images.

A catalog photo is a product on a near-white studio background. Its *alpha* keeps the
product and drops the background connected to the photo's edge (white inside the product,
a white shirt's body, stays). Pasted over a garment's region of another photo (a person in
the street, a garment on a bed), it becomes a training photo of that product in a shopper's
context: what the hybrid encoder's ``context_photos`` option learns from, so that a type
seen only as flat catalog shots is also seen on people and in rooms.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

#: A pixel whose three channels are all at least this is studio background (when it touches
#: the edge through such pixels); ``lookalike.degrade`` uses the same value.
WHITE_LEVEL = 235
#: Products whose alpha covers less than this share of their photo are skipped (blank shots).
MIN_PRODUCT_SHARE = 0.02

Box = tuple[float, float, float, float]


def product_alpha(image: np.ndarray, white: int = WHITE_LEVEL, soften: float = 1.0) -> np.ndarray:
    """The product's opacity in a catalog photo: 0 on the near-white background that reaches
    the photo's edge, 1 elsewhere, edges softened.

    Args:
        image: uint8 (h, w, 3).
        white: background pixels have every channel >= this.
        soften: Gaussian blur radius (pixels) of the edge; 0 keeps it hard.

    Returns:
        float32 (h, w) in [0, 1].
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (h, w, 3) image, got shape {image.shape}")
    near_white = (image >= white).all(axis=2)
    # A frame of background round the photo joins every edge region into one, so one flood
    # fill from a corner finds all the background that touches the edge.
    framed = np.pad(near_white, 1, constant_values=True).astype(np.uint8) * 255
    # A copy: an image made by fromarray may share the array's read-only buffer, and the
    # fill would then change nothing.
    mask = Image.fromarray(framed).copy()
    ImageDraw.floodfill(mask, (0, 0), 128)
    background = np.asarray(mask)[1:-1, 1:-1] == 128
    alpha = Image.fromarray(np.where(background, 0, 255).astype(np.uint8))
    if soften > 0:
        alpha = alpha.filter(ImageFilter.GaussianBlur(soften))
    return np.asarray(alpha, np.float32) / 255.0


def alpha_box(alpha: np.ndarray, level: float = 0.5) -> tuple[int, int, int, int] | None:
    """The pixel box ``(left, top, right, bottom)`` (right/bottom exclusive) of the alpha's
    opaque part, or None when nothing reaches ``level``."""
    rows = np.nonzero((alpha >= level).any(axis=1))[0]
    cols = np.nonzero((alpha >= level).any(axis=0))[0]
    if not len(rows) or not len(cols):
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def cut_out(image: np.ndarray, white: int = WHITE_LEVEL) -> tuple[Image.Image, Image.Image] | None:
    """The product of a catalog photo cropped to itself: (RGB image, its alpha as an "L"
    image), or None when the photo is blank (alpha under :data:`MIN_PRODUCT_SHARE`)."""
    alpha = product_alpha(image, white)
    if float(alpha.mean()) < MIN_PRODUCT_SHARE:
        return None
    box = alpha_box(alpha)
    if box is None:
        return None
    left, top, right, bottom = box
    rgb = Image.fromarray(np.ascontiguousarray(image[top:bottom, left:right]))
    mask = Image.fromarray((alpha[top:bottom, left:right] * 255).astype(np.uint8))
    return rgb, mask


def aspect_distance(a: float, b: float) -> float:
    """How far apart two aspect ratios (width / height) are: |log(a / b)|."""
    return abs(float(np.log(max(a, 1e-6) / max(b, 1e-6))))


def closest_aspect(
    product_aspect: float,
    regions: Sequence[tuple[int, Box, float]],
    rng: np.random.Generator,
    sample: int = 24,
) -> int:
    """Index of the region, among ``sample`` drawn at random, whose aspect ratio is closest
    to the product's: a long dress goes over a dress or a whole outfit, shoes over shoes.

    Args:
        product_aspect: the product's width / height.
        regions: (photo index, box in fractions, the box's aspect in pixels) each.
        rng: the draw.
        sample: regions compared per product (more: closer fits, less variety).

    Returns:
        An index into ``regions``.
    """
    if not regions:
        raise ValueError("no regions to choose from")
    drawn = rng.choice(len(regions), size=min(sample, len(regions)), replace=False)
    return int(min(drawn, key=lambda i: aspect_distance(product_aspect, regions[i][2])))


def paste_product(
    photo: Image.Image,
    product: Image.Image,
    alpha: Image.Image,
    box: Box,
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.85, 1.1),
) -> tuple[Image.Image, Box]:
    """``product`` pasted over ``box`` of ``photo``: scaled to fit the box (aspect kept) by a
    random factor in ``scale``, centred on the box with a small random shift.

    Returns:
        (the new photo, the pasted product's box in fractions of the photo).
    """
    width, height = photo.size
    x, y, w, h = box
    box_w, box_h = max(1.0, w * width), max(1.0, h * height)
    fit = min(box_w / product.width, box_h / product.height) * rng.uniform(*scale)
    new_w, new_h = max(2, round(product.width * fit)), max(2, round(product.height * fit))
    centre_x = (x + w / 2) * width + rng.uniform(-0.1, 0.1) * box_w
    centre_y = (y + h / 2) * height + rng.uniform(-0.1, 0.1) * box_h
    left, top = round(centre_x - new_w / 2), round(centre_y - new_h / 2)
    out = photo.copy()
    resized = product.resize((new_w, new_h), Image.Resampling.BILINEAR)
    out.paste(resized, (left, top), alpha.resize((new_w, new_h), Image.Resampling.BILINEAR))
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(width, left + new_w), min(height, top + new_h)
    return out, (x0 / width, y0 / height, max(0, x1 - x0) / width, max(0, y1 - y0) / height)
