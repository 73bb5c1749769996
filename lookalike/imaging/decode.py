"""Safe decoding: bytes on disk, in memory or in a stream -> an upright RGB PIL image.

Everything that turns catalog or query images into pixels goes through :func:`open_rgb`, so
training, indexing and serving see identical pixels. Decoding is defensive: catalog scrapes
contain truncated JPEGs, HTML error pages saved as ``.png``, CMYK and 16-bit files and the
occasional decompression bomb; each becomes an :class:`ImageDecodeError` with a clear message
instead of a crash or, worse, a silently gray image.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["DEFAULT_MAX_PIXELS", "ImageDecodeError", "ImageSource", "open_rgb"]

#: Decoded-size limit (width * height) above which images are refused unread. 40 MP is a
#: 7300x5500 photo; anything larger in an apparel catalog is almost surely hostile or broken,
#: and decoding it would need 120 MB of RGB for a single image.
DEFAULT_MAX_PIXELS: int = 40_000_000

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO

_WHITE = (255, 255, 255)

# EXIF Orientation tag values -> the transpose that makes the image upright (same table as
# PIL.ImageOps.exif_transpose; applied by hand so it works on the converted copy).
_ORIENTATION_TAG = 0x0112
_ORIENTATION_FIX = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


class ImageDecodeError(ValueError):
    """An image could not be decoded.

    ``str(err)`` names the source (file path, ``'<bytes>'`` or ``'<stream>'``) and the reason in
    words meant for users. ``source`` and ``reason`` hold the two parts separately (``None`` when
    the error was raised with only a message).
    """

    def __init__(self, message: str, *, source: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.source = source
        self.reason = reason


def _fail(name: str, reason: str) -> ImageDecodeError:
    return ImageDecodeError(f"cannot decode image {name}: {reason}", source=name, reason=reason)


def _source_name(source: ImageSource) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, os.PathLike):
        return os.fsdecode(source)
    if isinstance(source, bytes | bytearray | memoryview):
        return "<bytes>"
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else "<stream>"


@contextlib.contextmanager
def _open_source(source: ImageSource, name: str) -> Iterator[BinaryIO]:
    """Yield a binary stream for ``source``; closes only streams it opened itself."""
    if isinstance(source, bytes | bytearray | memoryview):
        yield io.BytesIO(source)
    elif isinstance(source, str | os.PathLike):
        try:
            fp = open(source, "rb")
        except OSError as e:
            raise _fail(name, f"cannot read file ({e.strerror or e})") from e
        with fp:
            yield fp
    elif hasattr(source, "read"):
        yield source
    else:
        raise _fail(name, f"unsupported source type {type(source).__name__}")


def _sniff_reason(fp: BinaryIO) -> str:
    """Explain why Pillow could not identify the data, from its first bytes."""
    try:
        fp.seek(0)
        head = fp.read(512)
    except (OSError, ValueError):
        return "not a recognised image format"
    if not head:
        return "file is empty (0 bytes)"
    text = head.lstrip().lower()
    if text.startswith(b"<") and b"<svg" in text:
        return "SVG vector images are not supported; convert it to PNG or JPEG"
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml", b"<")):
        return "file contains HTML/XML text, not image data (perhaps a saved web page)"
    return "not a recognised image format (or corrupt header)"


def _sixteen_bit_to_l(img: Image.Image) -> Image.Image:
    # Pillow's own convert("L") clips 16-bit values at 255, turning most of the image white;
    # scale the full 0..65535 range to 0..255 with rounding instead. Mode "I" is 32-bit but in
    # practice comes from 16-bit PNG/TIFF, so it is clipped to that range first.
    values = np.asarray(img).astype(np.int64)
    values = np.clip(values, 0, 65535)
    return Image.fromarray(((values * 255 + 32767) // 65535).astype(np.uint8))


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB, compositing transparency onto white."""
    mode = img.mode
    if mode == "RGB" and "transparency" not in img.info:
        return img
    if mode in _SIXTEEN_BIT_MODES:
        return _sixteen_bit_to_l(img).convert("RGB")
    if mode in _ALPHA_MODES or "transparency" in img.info:
        if mode == "La":  # premultiplied; Pillow has no direct La -> RGBA conversion
            img = img.convert("LA")
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (*_WHITE, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    # Covers L, 1, P, CMYK, YCbCr, LAB, HSV and F (clipped to 0..255 by Pillow).
    return img.convert("RGB")


def _orientation(img: Image.Image) -> int:
    # Corrupt EXIF blocks are common in scraped photos and the pixels are usually fine, so a
    # broken orientation tag means "leave as is" rather than a decode failure.
    try:
        value = img.getexif().get(_ORIENTATION_TAG, 1)
        return int(value)
    except Exception:
        return 1


def _check_size(name: str, size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    pixels = width * height
    # Pillow warns (and may print) above its own MAX_IMAGE_PIXELS; refusing everything above the
    # smaller of the two limits turns that warning into an error without touching the global,
    # non-thread-safe warning filters.
    limit = max_pixels
    if Image.MAX_IMAGE_PIXELS is not None:
        limit = min(limit, Image.MAX_IMAGE_PIXELS)
    if pixels > limit:
        raise _fail(
            name,
            f"image is {width}x{height} = {pixels:,} pixels, over the {limit:,}-pixel limit "
            "(refused before decoding as a possible decompression bomb)",
        )
    if width <= 0 or height <= 0:
        raise _fail(name, f"image has an empty size {width}x{height}")


def _decode(fp: BinaryIO, name: str, draft_size: int | None, max_pixels: int) -> Image.Image:
    try:
        img = Image.open(fp)
    except UnidentifiedImageError as e:
        raise _fail(name, _sniff_reason(fp)) from e
    with img:
        # Check the header-declared size before any pixel data is decoded so memory stays bounded.
        _check_size(name, img.size, max_pixels)
        fmt = img.format or "image"
        if draft_size is not None:
            # JPEG only (a no-op elsewhere): DCT-domain downscaling by 1/2, 1/4 or 1/8, keeping
            # both sides >= draft_size, is several times faster than a full decode.
            img.draft("RGB", (draft_size, draft_size))
        try:
            # load() raises on truncated data as long as ImageFile.LOAD_TRUNCATED_IMAGES is off;
            # it is deliberately never switched on here (that yields gray-filled images).
            img.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise _fail(name, f"image too large to decode safely ({e})") from e
        except Exception as e:
            detail = str(e) or type(e).__name__
            raise _fail(name, f"corrupt or truncated {fmt} data ({detail})") from e
        orientation = _orientation(img)
        try:
            rgb = _to_rgb(img)
        except Exception as e:
            raise _fail(name, f"unsupported colour mode {img.mode!r} ({e})") from e
        if rgb is img:
            # Detach from the file (and from later frames of animated images).
            rgb = img.copy()
    if orientation in _ORIENTATION_FIX:
        rgb = rgb.transpose(_ORIENTATION_FIX[orientation])
    return rgb


def open_rgb(
    source: ImageSource,
    *,
    draft_size: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Decode an image to an upright RGB PIL image.

    EXIF orientation is applied; transparency (RGBA, LA, PA, palette or colour-key) is
    composited onto white; grayscale, palette, CMYK and 16-bit images are converted (16-bit
    values scaled, not clipped, to 8 bits); animated images give their first frame.

    Args:
        source: File path, the encoded bytes, or a seekable binary stream (read from its start,
            left open).
        draft_size: If given (>= 1), JPEGs are decoded at a reduced scale (1/2, 1/4 or 1/8) whose
            width and height both stay >= draft_size. Other formats decode at full size.
        max_pixels: Images whose declared width*height exceeds this (or Pillow's
            ``Image.MAX_IMAGE_PIXELS``, whichever is smaller) are refused before any pixel data
            is decoded.

    Returns:
        A new, fully loaded image in mode "RGB", independent of the source.

    Raises:
        ImageDecodeError: For any failure (missing, empty, truncated, corrupt, HTML or otherwise
            unsupported data, too many pixels); the message names the source and the reason.
        ValueError: If draft_size or max_pixels is not positive.
    """
    if draft_size is not None and draft_size < 1:
        raise ValueError(f"draft_size must be >= 1, got {draft_size}")
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be >= 1, got {max_pixels}")
    name = _source_name(source)
    with _open_source(source, name) as fp:
        try:
            return _decode(fp, name, draft_size, max_pixels)
        except ImageDecodeError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            # Raised by Image.open itself above 2x Pillow's limit, before our own size check.
            raise _fail(name, f"image too large to decode safely ({e})") from e
        except Exception as e:
            # Pillow's parsers raise a zoo of types (SyntaxError, struct.error, EOFError, ...)
            # on hostile input; callers only need to handle one.
            detail = str(e) or type(e).__name__
            raise _fail(name, f"invalid image data ({type(e).__name__}: {detail})") from e
