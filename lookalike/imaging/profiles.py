"""Colour profiles: pixels a photo's embedded ICC profile describes, turned into sRGB.

Phones save photos in wider colour spaces than sRGB (an iPhone's HEIC and JPEG photos carry
a Display P3 profile) and print workflows save CMYK JPEGs with their press profile. Read as
if they were sRGB, P3 colours look duller and profiled CMYK can be far off, so the colour
features of a shopper's photo would not match the same colour on a catalog shot. Photos
without a profile, or with an sRGB one, are returned as they are (no cost, the same pixels).
"""

from __future__ import annotations

import functools
import io

from PIL import Image, ImageCms

__all__ = ["to_srgb"]

# Modes a profile can be applied to, and the mode each becomes.
_OUTPUT_MODES = {"RGB": "RGB", "RGBA": "RGBA", "CMYK": "RGB"}
# The profile's own colour space each mode needs (ICC header signatures).
_PROFILE_SPACES = {"RGB": "RGB ", "RGBA": "RGB ", "CMYK": "CMYK"}
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_BROKEN = (ImageCms.PyCMSError, OSError, ValueError, TypeError, AttributeError)


@functools.lru_cache(maxsize=32)
def _transform_to_srgb(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """The transform from ``icc`` to sRGB for images of ``mode`` (None: nothing to do, or a
    profile LittleCMS cannot use). Cached: a catalog's photos share a few profiles."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if profile.profile.xcolor_space != _PROFILE_SPACES[mode]:
            return None  # a profile that does not describe these pixels: ignore it
        if mode != "CMYK" and "srgb" in ImageCms.getProfileDescription(profile).lower():
            return None  # already sRGB: converting would only add rounding
        return ImageCms.buildTransform(
            profile,
            _SRGB,
            mode,
            _OUTPUT_MODES[mode],
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
        )
    except _BROKEN:
        return None


def to_srgb(image: Image.Image) -> Image.Image:
    """``image`` in sRGB when it carries an ICC profile of another colour space.

    Args:
        image: A loaded image; RGB, RGBA and CMYK images with an ``icc_profile`` are
            converted (relative colorimetric, as browsers show photos), anything else is
            returned unchanged, as are images whose profile is sRGB, unreadable or of
            another colour space than the pixels.

    Returns:
        A new RGB (RGBA stays RGBA) image, or ``image`` itself when nothing was converted.
    """
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in _OUTPUT_MODES:
        return image
    transform = _transform_to_srgb(bytes(icc), image.mode)
    if transform is None:
        return image
    try:
        return ImageCms.applyTransform(image, transform)
    except _BROKEN:
        return image
