"""Image decoding and preprocessing: bytes on disk -> uint8 RGB arrays of a fixed square size.

Everything that turns catalog or query images into pixels goes through :func:`open_rgb`, so
training, indexing and serving see identical pixels. Decoding is defensive: catalog scrapes
contain truncated JPEGs, HTML error pages saved as ``.png``, CMYK and 16-bit files and the
occasional decompression bomb; each becomes an :class:`ImageDecodeError` with a clear message
instead of a crash or, worse, a silently gray image.

Only Pillow, numpy and (for HEIC photos) pi-heif are used.

Modules: :mod:`~lookalike.imaging.decode` (safe decoding, :func:`open_rgb`; colour profiles to
sRGB in :mod:`~lookalike.imaging.profiles`),
:mod:`~lookalike.imaging.preprocess` (:func:`letterbox`, :func:`load_image`),
:mod:`~lookalike.imaging.batches` (threaded :func:`load_images` and
:func:`iter_image_batches`), :mod:`~lookalike.imaging.cache` (:func:`cached_images`) and
:mod:`~lookalike.imaging.hashes` (content and perceptual hashes). Everything is re-exported
here, so ``from lookalike.imaging import ...`` works as before.
"""

from __future__ import annotations

from lookalike.catalog import IMAGE_EXTENSIONS
from lookalike.imaging.batches import BatchResult, iter_image_batches, load_images
from lookalike.imaging.cache import cached_images
from lookalike.imaging.decode import (
    DECODE_VERSION,
    DEFAULT_MAX_PIXELS,
    ImageDecodeError,
    enable_heif,
    open_rgb,
)
from lookalike.imaging.decode import ImageSource as ImageSource  # importable, not in __all__
from lookalike.imaging.hashes import average_hash, hamming, image_content_hash
from lookalike.imaging.preprocess import (
    LEGACY_RESIZE,
    RESIZE_FILTERS,
    Crop,
    CropError,
    check_crop,
    check_resize,
    crop_image,
    letterbox,
    letterbox_geometry,
    load_image,
    parse_crop,
)

__all__ = [
    "DECODE_VERSION",
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "LEGACY_RESIZE",
    "RESIZE_FILTERS",
    "BatchResult",
    "Crop",
    "CropError",
    "ImageDecodeError",
    "average_hash",
    "cached_images",
    "check_crop",
    "check_resize",
    "crop_image",
    "enable_heif",
    "hamming",
    "image_content_hash",
    "iter_image_batches",
    "letterbox",
    "letterbox_geometry",
    "load_image",
    "load_images",
    "open_rgb",
    "parse_crop",
]
