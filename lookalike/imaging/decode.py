"""Safe decoding: bytes on disk, in memory or in a stream -> an upright RGB PIL image.

Everything that turns catalog or query images into pixels goes through :func:`open_rgb`, so
training, indexing and serving see identical pixels. Decoding is defensive: catalog scrapes
contain truncated JPEGs, HTML error pages saved as ``.png``, CMYK and 16-bit files and the
occasional decompression bomb; each becomes an :class:`ImageDecodeError` with a clear message
instead of a crash or, worse, a silently gray image.

The pixel limit is checked three times, so it holds for every format Pillow opens: the size
the header declares, before any pixel is decoded; the real size of every frame a container
holds (an ICO or ICNS icon embeds PNG/BMP images whose own headers may declare far more than
the container's directory says), also before decoding; and the size of the frame actually
decoded, afterwards, for anything else that decodes bigger than it declared. Each message
says which check refused the image, so "refused before decoding" is only said when true.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import struct
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from lookalike.imaging.profiles import to_srgb

__all__ = [
    "DECODE_VERSION",
    "DEFAULT_MAX_PIXELS",
    "ImageDecodeError",
    "ImageSource",
    "enable_heif",
    "open_rgb",
]

#: What :func:`open_rgb` makes of a file. Every cache of pixels, features or failures
#: computed from image files carries it in its key, so a change of decoding re-reads the
#: files instead of reusing stale pixels or a stale "unreadable" (2: HEIC/HEIF and AVIF
#: decoded, embedded ICC profiles converted to sRGB). Bump it when open_rgb's pixels change.
DECODE_VERSION: int = 2

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


# ISO base media "ftyp" brands of HEIF still images (HEIC is an iPhone camera's default).
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})


@functools.cache
def enable_heif() -> bool:
    """Let Pillow open HEIF/HEIC photos through ``pi-heif`` (libheif's decoder), once.

    Pillow reads AVIF itself but not HEIC, the format iPhones save by default; pi-heif adds
    it. Called before every decode rather than at import, so importing lookalike registers
    nothing. libheif applies the file's rotation and clears the EXIF orientation, so the
    photo is not turned twice.

    Returns:
        True when HEIF/HEIC can be decoded (False when pi-heif is not installed).
    """
    try:
        import pi_heif
    except ImportError:
        return False
    pi_heif.register_heif_opener()
    return True


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
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        if enable_heif():
            return "corrupt or truncated HEIC/HEIF data (libheif cannot read it)"
        return (
            "HEIC/HEIF photo and pi-heif, which decodes it, is not installed "
            "(pip install pi-heif), or export the photo as JPEG"
        )
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


def _check_size(
    name: str, size: tuple[int, int], max_pixels: int, full_size: tuple[int, int] | None = None
) -> None:
    width, height = size
    pixels = width * height
    limit = _pixel_limit(max_pixels)
    if pixels > limit:
        scaled = ""
        if full_size is not None and full_size != size:
            scaled = f" even at reduced scale (declared {full_size[0]}x{full_size[1]})"
        raise _fail(
            name,
            f"image is {width}x{height} = {pixels:,} pixels{scaled}, over the {limit:,}-pixel "
            "limit (refused before decoding as a possible decompression bomb)",
        )
    if width <= 0 or height <= 0:
        raise _fail(name, f"image has an empty size {width}x{height}")


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _payload_size(fp: BinaryIO, offset: int) -> tuple[int, int] | None:
    """The (width, height) an embedded PNG or BMP (DIB) image at ``offset`` declares, from
    its header alone (None when neither or unreadable)."""
    try:
        fp.seek(offset)
        head = fp.read(26)
    except (OSError, ValueError, OverflowError):
        return None
    if head.startswith(_PNG_SIGNATURE) and len(head) >= 24:
        return struct.unpack(">II", head[16:24])
    if len(head) >= 12 and struct.unpack("<I", head[:4])[0] in (12, 40, 52, 56, 108, 124):
        if struct.unpack("<I", head[:4])[0] == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
            width, height = struct.unpack("<HH", head[4:8])
        else:
            width, height = struct.unpack("<ii", head[4:12])
        # An icon's DIB height counts the image and its mask: the image is half of it.
        return abs(width), abs(height) // 2
    return None


#: Most icon entries read from a container's directory (real icons hold a handful).
MAX_CONTAINER_ENTRIES = 256


def embedded_frame_sizes(fp: BinaryIO) -> tuple[str, list[tuple[int, int]]]:
    """The format and the sizes of the images embedded in an icon container, read from
    the raw bytes (before Pillow opens it: Pillow decodes an ICO's largest image while
    *opening* it, at that image's own size, whatever the directory says). ICO/CUR entries
    and ICNS blocks that hold a PNG or a BMP (DIB) image are measured from that image's
    own header; ``("", [])`` for other formats."""
    try:
        fp.seek(0)
        head = fp.read(8)
        offsets: list[int] = []
        if head[:4] in (b"\0\0\1\0", b"\0\0\2\0") and len(head) >= 6:
            fmt = "ICO" if head[2] == 1 else "CUR"
            count = min(struct.unpack("<H", head[4:6])[0], MAX_CONTAINER_ENTRIES)
            fp.seek(6)
            directory = fp.read(16 * count)
            for n in range(len(directory) // 16):
                offsets.append(struct.unpack("<I", directory[16 * n + 12 : 16 * n + 16])[0])
        elif head[:4] == b"icns" and len(head) == 8:
            fmt = "ICNS"
            total = struct.unpack(">I", head[4:8])[0]
            position = 8
            while position + 8 <= total and len(offsets) < MAX_CONTAINER_ENTRIES:
                fp.seek(position)
                block = fp.read(8)
                if len(block) < 8:
                    break
                length = struct.unpack(">I", block[4:8])[0]
                if length <= 8:
                    break
                offsets.append(position + 8)
                position += length
        else:
            return "", []
        sizes = [size for offset in offsets if (size := _payload_size(fp, offset)) is not None]
        return fmt, sizes
    except (OSError, ValueError, OverflowError, struct.error):
        return "", []
    finally:
        with contextlib.suppress(OSError, ValueError):
            fp.seek(0)


def _pixel_limit(max_pixels: int) -> int:
    # Pillow warns (and may print) above its own MAX_IMAGE_PIXELS; refusing everything above
    # the smaller of the two limits turns that warning into an error without touching the
    # global, non-thread-safe warning filters.
    if Image.MAX_IMAGE_PIXELS is not None:
        return min(max_pixels, Image.MAX_IMAGE_PIXELS)
    return max_pixels


def _check_embedded(name: str, fp: BinaryIO, max_pixels: int) -> None:
    limit = _pixel_limit(max_pixels)
    fmt, sizes = embedded_frame_sizes(fp)
    for width, height in sizes:
        if width * height > limit:
            raise _fail(
                name,
                f"the {fmt} container holds a {width}x{height} = {width * height:,}-pixel "
                f"image, over the {limit:,}-pixel limit (refused before decoding as a "
                "possible decompression bomb)",
            )


def _check_decoded(name: str, img: Image.Image, declared: tuple[int, int], max_pixels: int):
    """The frame actually decoded must be within the limit too (a format whose header
    understates the size slipped past the checks before decoding)."""
    limit = _pixel_limit(max_pixels)
    width, height = img.size
    if width * height > limit:
        raise _fail(
            name,
            f"image decoded to {width}x{height} = {width * height:,} pixels although its "
            f"header declared {declared[0]}x{declared[1]}; over the {limit:,}-pixel limit, "
            "refused",
        )


def _decode(fp: BinaryIO, name: str, draft_size: int | None, max_pixels: int) -> Image.Image:
    _check_embedded(name, fp, max_pixels)
    enable_heif()
    try:
        img = Image.open(fp)
    except UnidentifiedImageError as e:
        raise _fail(name, _sniff_reason(fp)) from e
    with img:
        full_size = img.size
        fmt = img.format or "image"
        if draft_size is not None:
            # JPEG only (a no-op elsewhere): DCT-domain downscaling by 1/2, 1/4 or 1/8, keeping
            # both sides >= draft_size, is several times faster than a full decode.
            img.draft("RGB", (draft_size, draft_size))
        # Check the size that will be decoded before any pixel data is, so memory stays
        # bounded: the header's, or a drafted JPEG's reduced one (a 50 or 108 MP phone photo
        # drafts to 1/8 of each side, under the limit; Pillow itself refuses over 2x its own).
        _check_size(name, img.size, max_pixels, full_size)
        declared = img.size
        try:
            # load() raises on truncated data as long as ImageFile.LOAD_TRUNCATED_IMAGES is off;
            # it is deliberately never switched on here (that yields gray-filled images).
            img.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise _fail(name, f"image too large to decode safely ({e})") from e
        except Exception as e:
            detail = str(e) or type(e).__name__
            raise _fail(name, f"corrupt or truncated {fmt} data ({detail})") from e
        _check_decoded(name, img, declared, max_pixels)
        orientation = _orientation(img)
        try:
            rgb = _to_rgb(to_srgb(img))
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

    EXIF orientation is applied; an embedded colour profile other than sRGB (a phone's
    Display P3, a CMYK press profile) is converted to sRGB (:mod:`.profiles`); transparency
    (RGBA, LA, PA, palette or colour-key) is composited onto white; grayscale, palette, CMYK
    and 16-bit images are converted (16-bit values scaled, not clipped, to 8 bits); animated
    images give their first frame.

    Args:
        source: File path, the encoded bytes, or a seekable binary stream (read from its start,
            left open).
        draft_size: If given (>= 1), JPEGs are decoded at a reduced scale (1/2, 1/4 or 1/8) whose
            width and height both stay >= draft_size. Other formats decode at full size.
        max_pixels: Images whose declared width*height exceeds this (or Pillow's
            ``Image.MAX_IMAGE_PIXELS``, whichever is smaller) are refused before any pixel data
            is decoded; a drafted JPEG is measured at its reduced scale (it never decodes at
            full size), up to twice Pillow's limit, which Pillow refuses itself.

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
