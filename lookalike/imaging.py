"""Image decoding and preprocessing: bytes on disk -> uint8 RGB arrays of a fixed square size.

Everything that turns catalog or query images into pixels goes through :func:`open_rgb`, so
training, indexing and serving see identical pixels. Decoding is defensive: catalog scrapes
contain truncated JPEGs, HTML error pages saved as ``.png``, CMYK and 16-bit files and the
occasional decompression bomb; each becomes an :class:`ImageDecodeError` with a clear message
instead of a crash or, worse, a silently gray image.

Only Pillow and numpy are used.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from lookalike.catalog import IMAGE_EXTENSIONS
from lookalike.files import PRIVATE_MODE, atomic_write_with, sha256_file

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "BatchResult",
    "ImageDecodeError",
    "average_hash",
    "cached_images",
    "hamming",
    "image_content_hash",
    "iter_image_batches",
    "letterbox",
    "load_image",
    "load_images",
    "open_rgb",
]

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

# Bump when preprocessing changes (resampling, colour handling) so stale caches are not reused.
_CACHE_VERSION = 1


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


def letterbox(image: Image.Image, size: int, fill: tuple[int, int, int] = _WHITE) -> np.ndarray:
    """Fit an image into a square without distortion.

    The image is resized so its long side equals ``size`` (up or down) and pasted centred on a
    square of ``fill``. Resampling is LANCZOS with ``reducing_gap=3``: LANCZOS gives the
    sharpest alias-free result, which matters for fine apparel texture, and the gap first
    box-reduces by an integer factor, so huge non-JPEG inputs cost little more than BILINEAR
    with no visible difference (after JPEG draft decoding the input is at most ~8x too big).

    Args:
        image: Any PIL image; non-RGB modes are converted as in :func:`open_rgb`.
        size: Output side in pixels, >= 1.
        fill: RGB colour of the padding.

    Returns:
        uint8 array of shape (size, size, 3). The short side of the content is at least 1 px,
        so 1x1 images and extreme aspect ratios (e.g. 10000x1) work.
    """
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    rgb = _to_rgb(image)
    width, height = rgb.size
    if width < 1 or height < 1:
        raise ValueError(f"cannot letterbox an empty {width}x{height} image")
    scale = size / max(width, height)
    new_w = min(size, max(1, round(width * scale)))
    new_h = min(size, max(1, round(height * scale)))
    if (new_w, new_h) != (width, height):
        rgb = rgb.resize((new_w, new_h), Image.Resampling.LANCZOS, reducing_gap=3.0)
    out = np.empty((size, size, 3), dtype=np.uint8)
    out[...] = np.asarray(fill, dtype=np.uint8)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out[top : top + new_h, left : left + new_w] = np.asarray(rgb, dtype=np.uint8)
    return out


def load_image(
    source: ImageSource, size: int, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Decode and letterbox one image: :func:`open_rgb` (drafting to ``size``) + :func:`letterbox`.

    Args:
        source: As for :func:`open_rgb`.
        size: Output side in pixels, >= 1.
        max_pixels: As for :func:`open_rgb`.

    Returns:
        uint8 array of shape (size, size, 3).

    Raises:
        ImageDecodeError: If the image cannot be decoded.
    """
    return letterbox(open_rgb(source, draft_size=size, max_pixels=max_pixels), size)


@dataclass
class BatchResult:
    """Decoded images plus which inputs failed.

    Attributes:
        images: uint8 array (n_ok, size, size, 3); row j is input ``ok[j]``.
        ok: Indices into the input list that decoded, ascending (input order).
        errors: (index, message) for each input that failed, ascending by index.
    """

    images: np.ndarray
    ok: list[int] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


def _decode_into(
    out: np.ndarray, row: int, source: ImageSource, size: int, max_pixels: int
) -> str | None:
    """Decode ``source`` into ``out[row]``; return an error message instead of raising."""
    try:
        out[row] = load_image(source, size, max_pixels=max_pixels)
        return None
    except ImageDecodeError as e:
        return str(e)
    except Exception as e:  # a bug or MemoryError must not lose the rest of a long batch
        return f"cannot decode image {_source_name(source)}: {type(e).__name__}: {e}"


def _compact(out: np.ndarray, errors: dict[int, str], start: int) -> BatchResult:
    """Drop failed rows in place (no second full-size array) and build the result."""
    n = len(out)
    ok = [start + i for i in range(n) if start + i not in errors]
    if errors:
        # Rows only ever move towards the front, so copying in ascending order is safe.
        for dst, index in enumerate(ok):
            src = index - start
            if src != dst:
                out[dst] = out[src]
        out = out[: len(ok)]
    return BatchResult(images=out, ok=ok, errors=sorted(errors.items()))


def _progress_bar(total: int, desc: str, enabled: bool):
    from tqdm import tqdm  # imported lazily: only needed when a bar may be shown

    return tqdm(total=total, desc=desc, unit="img", disable=not enabled)


def _check_common(size: int, workers: int) -> None:
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")


def load_images(
    sources: Sequence[ImageSource],
    size: int,
    *,
    workers: int = 2,
    progress: bool = False,
    desc: str = "decoding images",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> BatchResult:
    """Decode many images into one preallocated array, in input order.

    Decoding runs in a thread pool (Pillow releases the GIL while decoding). Failures are
    collected in ``errors``, never raised.

    Args:
        sources: Paths, bytes or streams, as for :func:`open_rgb`.
        size: Output side in pixels, >= 1.
        workers: Decoding threads, >= 1 (1 decodes in the calling thread).
        progress: Show a tqdm progress bar.
        desc: Progress bar label.
        max_pixels: As for :func:`open_rgb`.

    Returns:
        A :class:`BatchResult`. Memory is len(sources) * size * size * 3 bytes for the whole
        run (2,906 images at 256 px = 571 MB); use :func:`iter_image_batches` for more.
    """
    _check_common(size, workers)
    n = len(sources)
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    errors: dict[int, str] = {}
    with _progress_bar(n, desc, progress) as bar:
        if workers == 1 or n <= 1:
            for i, source in enumerate(sources):
                if (msg := _decode_into(out, i, source, size, max_pixels)) is not None:
                    errors[i] = msg
                bar.update(1)
        else:
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lookalike-decode")
            try:
                futures = {
                    pool.submit(_decode_into, out, i, s, size, max_pixels): i
                    for i, s in enumerate(sources)
                }
                for future in as_completed(futures):
                    if (msg := future.result()) is not None:
                        errors[futures[future]] = msg
                    bar.update(1)
            finally:
                # On Ctrl-C, drop queued work instead of decoding the rest before exiting.
                pool.shutdown(wait=True, cancel_futures=True)
    return _compact(out, errors, 0)


def iter_image_batches(
    sources: Sequence[ImageSource],
    size: int,
    batch_size: int,
    *,
    workers: int = 2,
    progress: bool = False,
    desc: str = "encoding",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Iterator[BatchResult]:
    """Decode images batch by batch, prefetching the next batch while the caller works.

    While the caller processes batch k (e.g. runs the encoder), batch k+1 is decoded in the
    background, so decoding overlaps encoding and memory stays at about two batches (each
    batch gets a fresh array, so keeping a yielded batch is safe). Stopping iteration early
    cancels pending work.

    Args:
        sources: Paths, bytes or streams, as for :func:`open_rgb`.
        size: Output side in pixels, >= 1.
        batch_size: Inputs per batch, >= 1 (the last batch may be smaller; a batch holds fewer
            images than inputs when some fail).
        workers: Decoding threads, >= 1.
        progress: Show a tqdm progress bar counting images.
        desc: Progress bar label.
        max_pixels: As for :func:`open_rgb`.

    Yields:
        One :class:`BatchResult` per batch of inputs, in order; ``ok`` and ``errors`` hold
        global indices into ``sources``. Every input appears in exactly one batch.
    """
    # Validate now, not at the first next(), so mistakes surface where the call is made.
    _check_common(size, workers)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return _batches(sources, size, batch_size, workers, progress, desc, max_pixels)


def _batches(
    sources: Sequence[ImageSource],
    size: int,
    batch_size: int,
    workers: int,
    progress: bool,
    desc: str,
    max_pixels: int,
) -> Iterator[BatchResult]:
    n = len(sources)
    starts = range(0, n, batch_size)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lookalike-decode")

    def submit(start: int) -> tuple[int, np.ndarray, list[Future]]:
        stop = min(start + batch_size, n)
        out = np.empty((stop - start, size, size, 3), dtype=np.uint8)
        futures = [
            pool.submit(_decode_into, out, i - start, sources[i], size, max_pixels)
            for i in range(start, stop)
        ]
        return start, out, futures

    bar = _progress_bar(n, desc, progress)
    try:
        pending = submit(starts[0]) if n else None
        for k in range(len(starts)):
            start, out, futures = pending
            # Queue the next batch before waiting, so workers move on to it as soon as they
            # finish this one (the pool's FIFO queue keeps this batch first).
            pending = submit(starts[k + 1]) if k + 1 < len(starts) else None
            errors: dict[int, str] = {}
            for offset, future in enumerate(futures):
                if (msg := future.result()) is not None:
                    errors[start + offset] = msg
                bar.update(1)
            yield _compact(out, errors, start)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()


def _cache_key(sources: Sequence[Path], size: int) -> str:
    entries = []
    for source in sources:
        path = Path(source).resolve()
        try:
            st = path.stat()
            entries.append([str(path), st.st_mtime_ns, st.st_size])
        except OSError:
            # Missing now; the key changes once the file appears.
            entries.append([str(path), -1, -1])
    payload = json.dumps(
        {"version": _CACHE_VERSION, "size": size, "files": entries}, separators=(",", ":")
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _save_array(path: Path, array: np.ndarray) -> None:
    # Through a handle: np.save given a path would append ".npy" to the temp file's name.
    with open(path, "wb") as handle:
        np.save(handle, array, allow_pickle=False)


def _read_cache(npy: Path, meta: Path, key: str, size: int) -> BatchResult | None:
    try:
        info = json.loads(meta.read_text())
        if info.get("key") != key:
            return None
        images = np.load(npy, allow_pickle=False)
    except (OSError, ValueError):
        return None  # missing or corrupt: rebuild
    ok = [int(i) for i in info["ok"]]
    if images.dtype != np.uint8 or images.shape != (len(ok), size, size, 3):
        return None
    errors = [(int(i), str(msg)) for i, msg in info["errors"]]
    return BatchResult(images=images, ok=ok, errors=errors)


def cached_images(
    sources: Sequence[Path], size: int, cache_dir: Path, *, progress: bool = True
) -> BatchResult:
    """:func:`load_images`, cached on disk so re-runs and epochs never decode JPEGs again.

    The cache is ``images-<size>px-<key>.npy`` (uint8, no pickle) plus a ``.json`` holding
    ``ok`` and ``errors``, where key is a sha256 over the size, each path's resolved name,
    mtime_ns and byte size (and a preprocessing version). Changing, adding, removing or
    reordering a file therefore rebuilds the cache. Files are written atomically (temp file in
    ``cache_dir`` + ``os.replace``), so concurrent or interrupted runs never leave a torn cache.
    Old entries are not deleted.

    Args:
        sources: Image file paths.
        size: Output side in pixels, >= 1.
        cache_dir: Directory for cache files; created if missing.
        progress: Show a progress bar while decoding.

    Returns:
        A :class:`BatchResult` with an in-memory (not memory-mapped) array.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = _cache_key(sources, size)
    stem = f"images-{size}px-{key[:32]}"
    npy, meta = cache_dir / f"{stem}.npy", cache_dir / f"{stem}.json"
    cached = _read_cache(npy, meta, key, size)
    if cached is not None:
        return cached
    result = load_images(list(sources), size, progress=progress)
    # The array goes first: a reader only trusts the npy once the matching json exists.
    # Cache files are private (0600), as they always were: they hold decoded catalog pixels.
    atomic_write_with(npy, lambda tmp: _save_array(tmp, result.images), mode=PRIVATE_MODE)
    info = {"key": key, "size": size, "ok": result.ok, "errors": result.errors}
    atomic_write_with(meta, lambda tmp: tmp.write_text(json.dumps(info)), mode=PRIVATE_MODE)
    return result


def image_content_hash(path: str | os.PathLike) -> str:
    """sha256 hex digest of a file's bytes, for exact-duplicate detection.

    Args:
        path: File to hash; read in chunks, so any size works.

    Returns:
        64-character lower-case hex string.
    """
    return sha256_file(path)


def average_hash(image: np.ndarray, hash_size: int = 8) -> int:
    """Perceptual average hash (aHash) for near-duplicate detection.

    The image is converted to gray, box-averaged down to hash_size x hash_size and each cell
    becomes one bit: 1 if brighter than the mean. Re-encoding, resizing and mild colour changes
    flip few bits; different images differ in about half. Compare with :func:`hamming`.

    Args:
        image: uint8 array, HxWx3 (RGB) or HxW (gray), H and W >= 1.
        hash_size: Cells per side, >= 1 (8 gives a 64-bit hash).

    Returns:
        Non-negative int of hash_size**2 bits, row-major, first cell in the most significant bit.
    """
    if hash_size < 1:
        raise ValueError(f"hash_size must be >= 1, got {hash_size}")
    arr = np.asarray(image)
    if (
        arr.dtype != np.uint8
        or not ((arr.ndim == 3 and arr.shape[2] == 3) or arr.ndim == 2)
        or arr.shape[0] < 1
        or arr.shape[1] < 1
    ):
        raise ValueError(f"expected a uint8 HxWx3 or HxW image, got {arr.dtype} {arr.shape}")
    gray = Image.fromarray(np.ascontiguousarray(arr)).convert("L")
    # BOX makes each cell the plain mean of its pixels, which is what aHash defines.
    small = np.asarray(gray.resize((hash_size, hash_size), Image.Resampling.BOX), dtype=np.float64)
    bits = (small > small.mean()).ravel()
    pad = (-bits.size) % 8  # packbits pads the last byte with zero bits on the right
    return int.from_bytes(np.packbits(bits).tobytes(), "big") >> pad


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two non-negative hashes (e.g. from average_hash)."""
    if a < 0 or b < 0:
        raise ValueError("hashes must be non-negative")
    return (a ^ b).bit_count()
