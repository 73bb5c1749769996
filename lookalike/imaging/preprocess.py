"""Preprocessing: a decoded image -> a uint8 RGB array of a fixed square size (letterboxed)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image

from lookalike.imaging.decode import (
    _WHITE,
    DEFAULT_MAX_PIXELS,
    ImageSource,
    _to_rgb,
    open_rgb,
)

__all__ = [
    "LEGACY_RESIZE",
    "RESIZE_FILTERS",
    "Crop",
    "CropError",
    "check_crop",
    "check_resize",
    "crop_image",
    "letterbox",
    "load_image",
    "parse_crop",
]

#: The resize filters a letterbox can use, by the name an encoder config records
#: (``resize``). ``lanczos`` is the sharpest; ``bilinear`` (Pillow's, antialiased when
#: shrinking: its support widens with the scale) takes 1.1 instead of 2.4 ms for a 400 px
#: catalog photo to 320 px on this machine (docs/performance.md).
RESIZE_FILTERS: dict[str, Image.Resampling] = {
    "lanczos": Image.Resampling.LANCZOS,
    "bilinear": Image.Resampling.BILINEAR,
}
#: What every bundle built before the filter was recorded used: such bundles keep it, so
#: their queries see exactly the pixels their catalog was encoded from.
LEGACY_RESIZE = "lanczos"

#: A region of a photo as fractions of its width and height: (x, y, w, h), top-left origin.
Crop = tuple[float, float, float, float]


class CropError(ValueError):
    """A crop that is not four fractions x, y, w, h inside the photo."""


def check_crop(crop: Sequence[float]) -> Crop:
    """``crop`` as a validated (x, y, w, h) of floats: 0 <= x, y < 1, 0 < w, h <= 1 and the
    box inside the photo (x + w <= 1, y + h <= 1, within 1e-6).

    Raises:
        CropError: anything else, with a one-line reason.
    """
    try:
        values = tuple(float(v) for v in crop)
    except (TypeError, ValueError):
        raise CropError(f"crop must be four numbers x,y,w,h, got {crop!r}") from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise CropError(f"crop must be four finite numbers x,y,w,h, got {crop!r}")
    x, y, w, h = values
    if not (0 <= x < 1 and 0 <= y < 1 and 0 < w <= 1 and 0 < h <= 1):
        raise CropError(
            f"crop x,y must be in [0, 1) and w,h in (0, 1] (fractions of the photo), got {crop!r}"
        )
    if x + w > 1 + 1e-6 or y + h > 1 + 1e-6:
        raise CropError(f"crop must lie inside the photo (x + w <= 1, y + h <= 1), got {crop!r}")
    return x, y, min(w, 1 - x), min(h, 1 - y)


def parse_crop(text: str) -> Crop:
    """``"x,y,w,h"`` (fractions of the photo) -> a checked :data:`Crop`; CropError otherwise."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 4:
        raise CropError(f"crop must look like x,y,w,h (four fractions), got {text!r}")
    return check_crop(parts)


def crop_image(image: Image.Image, crop: Sequence[float]) -> Image.Image:
    """The region ``crop`` (fractions, see :func:`check_crop`) of ``image``, at least 1 px."""
    x, y, w, h = check_crop(crop)
    width, height = image.size
    left, top = min(width - 1, int(x * width)), min(height - 1, int(y * height))
    right = max(left + 1, min(width, round((x + w) * width)))
    bottom = max(top + 1, min(height, round((y + h) * height)))
    return image.crop((left, top, right, bottom))


def check_resize(resize: str) -> Image.Resampling:
    """The Pillow filter named ``resize`` (a key of :data:`RESIZE_FILTERS`).

    Raises:
        ValueError: an unknown name, listing the known ones.
    """
    if resize not in RESIZE_FILTERS:
        raise ValueError(f"unknown resize filter {resize!r}; one of {sorted(RESIZE_FILTERS)}")
    return RESIZE_FILTERS[resize]


def letterbox_geometry(width: int, height: int, size: int) -> tuple[int, int, int, int]:
    """Where :func:`letterbox` puts a ``width`` x ``height`` image on its ``size`` square:
    ``(left, top, new_width, new_height)`` in pixels of the square."""
    scale = size / max(width, height)
    new_w = min(size, max(1, round(width * scale)))
    new_h = min(size, max(1, round(height * scale)))
    return (size - new_w) // 2, (size - new_h) // 2, new_w, new_h


def letterbox(
    image: Image.Image,
    size: int,
    fill: tuple[int, int, int] = _WHITE,
    *,
    resize: str = LEGACY_RESIZE,
) -> np.ndarray:
    """Fit an image into a square without distortion.

    The image is resized so its long side equals ``size`` (up or down) and pasted centred on a
    square of ``fill``. Resampling uses the filter ``resize`` names, with ``reducing_gap=3``:
    the gap first box-reduces by an integer factor, so huge non-JPEG inputs cost little more
    than a small one (after JPEG draft decoding the input is at most ~8x too big). LANCZOS
    (the default, what bundles without a recorded filter use) is the sharpest.

    Args:
        image: Any PIL image; non-RGB modes are converted as in :func:`open_rgb`.
        size: Output side in pixels, >= 1.
        fill: RGB colour of the padding.
        resize: a :data:`RESIZE_FILTERS` name (an encoder's recorded filter).

    Returns:
        uint8 array of shape (size, size, 3). The short side of the content is at least 1 px,
        so 1x1 images and extreme aspect ratios (e.g. 10000x1) work.

    Raises:
        ValueError: size < 1, an empty image or an unknown ``resize``.
    """
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    resample = check_resize(resize)
    rgb = _to_rgb(image)
    width, height = rgb.size
    if width < 1 or height < 1:
        raise ValueError(f"cannot letterbox an empty {width}x{height} image")
    left, top, new_w, new_h = letterbox_geometry(width, height, size)
    if (new_w, new_h) != (width, height):
        rgb = rgb.resize((new_w, new_h), resample, reducing_gap=3.0)
    if fill[0] == fill[1] == fill[2]:
        # One memset instead of a broadcast per pixel (0.3 ms of a 320 px query).
        out = np.full((size, size, 3), fill[0], dtype=np.uint8)
    else:
        out = np.empty((size, size, 3), dtype=np.uint8)
        out[...] = np.asarray(fill, dtype=np.uint8)
    out[top : top + new_h, left : left + new_w] = np.asarray(rgb, dtype=np.uint8)
    return out


def load_image(
    source: ImageSource,
    size: int,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    crop: Sequence[float] | None = None,
    resize: str = LEGACY_RESIZE,
) -> np.ndarray:
    """Decode and letterbox one image: :func:`open_rgb` (drafting to ``size``) + :func:`letterbox`.

    Args:
        source: As for :func:`open_rgb`.
        size: Output side in pixels, >= 1.
        max_pixels: As for :func:`open_rgb`.
        crop: keep only this region (x, y, w, h fractions, :func:`crop_image`) before the
            letterbox (drafted so the region keeps at least ``size`` pixels a side).
        resize: the letterbox's filter (:data:`RESIZE_FILTERS`; an encoder's recorded one).

    Returns:
        uint8 array of shape (size, size, 3).

    Raises:
        ImageDecodeError: If the image cannot be decoded.
        ValueError: an unknown ``resize`` (before anything is decoded).
    """
    check_resize(resize)
    if crop is None:
        image = open_rgb(source, draft_size=size, max_pixels=max_pixels)
        return letterbox(image, size, resize=resize)
    box = check_crop(crop)
    # Draft so that the cropped region still has at least ``size`` pixels per side.
    draft = math.ceil(size / min(box[2], box[3]))
    image = open_rgb(source, draft_size=draft, max_pixels=max_pixels)
    return letterbox(crop_image(image, box), size, resize=resize)
