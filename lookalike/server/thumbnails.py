"""Small square JPEG thumbnails of catalog images, and JPEG copies of the catalog images
no browser shows (HEIC, HEIF), made once and cached on disk.

A thumbnail's cache key (and HTTP ETag) is ``SOURCE-SETTINGS``: a hash of the source
file's path, size and modification time (:func:`lookalike.bundle.thumbnail_source_key`)
and one of the thumbnail settings, so a changed source image gets a new thumbnail while an
unchanged one is never decoded twice, and the bundle's garbage collection can tell the
thumbnails of images no kept version uses. Files are written atomically
(:func:`lookalike.files.atomic_write_with`), so a concurrent reader never sees half a JPEG.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from PIL import Image

from lookalike.bundle import thumbnail_source_key
from lookalike.files import atomic_write_with
from lookalike.imaging import DECODE_VERSION, ImageSource, letterbox, open_rgb
from lookalike.server.memory import DecodeBudget, decode_cost

log = logging.getLogger("lookalike.server")

#: Bump when the thumbnail rendering changes, so old cached files are not reused.
THUMBNAIL_VERSION = 2
_LOCK_STRIPES = 64


class ThumbnailCache:
    """Letterboxed JPEG thumbnails of image files, cached under ``directory``."""

    def __init__(
        self,
        directory: str | Path,
        size: int = 192,
        quality: int = 85,
        budget: DecodeBudget | None = None,
    ):
        """Args:
        directory: cache folder (created on first write).
        size: thumbnail side in pixels.
        quality: JPEG quality.
        budget: the memory budget renders reserve from (None: unbounded).
        """
        self.budget = budget
        self.directory = Path(directory)
        self.size = size
        self.quality = quality
        self.generated = 0  # thumbnails rendered by this process (for tests and stats)
        # Striped locks: two requests for the same new thumbnail render it once, while
        # different thumbnails render in parallel; memory stays bounded.
        self._locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]
        self._warned_readonly = False

    def key(self, source: str | Path) -> str:
        """Cache key of ``source``'s thumbnail; raises OSError if the file is missing."""
        # a decoding change (colours converted to sRGB) makes new thumbnails and ETags
        return _settings_key(
            source, f"{THUMBNAIL_VERSION}|{DECODE_VERSION}|{self.size}|{self.quality}"
        )

    def display_key(self, source: str | Path) -> str:
        """Cache key of ``source``'s full-size JPEG copy (:meth:`display_copy`); raises
        OSError if the file is missing."""
        return _settings_key(source, f"display|{DECODE_VERSION}|{PREVIEW_SIDE}|{PREVIEW_QUALITY}")

    def path_for(self, key: str) -> Path:
        """Where the thumbnail with ``key`` is cached (sharded by its first two hex digits)."""
        return self.directory / key[:2] / f"{key}.jpg"

    def get(self, source: str | Path, key: str | None = None) -> Path | bytes:
        """The thumbnail of ``source``: the cached file, or the JPEG bytes when the cache
        folder is not writable.

        Raises:
            OSError: the source is missing.
            ImageDecodeError: the source is not a readable image.
        """
        return self._cached(key or self.key(source), lambda: self.render(source))

    def display_copy(self, source: str | Path, key: str | None = None) -> Path | bytes:
        """A JPEG of ``source`` that any browser shows (upright, sRGB, at most
        :data:`PREVIEW_SIDE` px a side), for a catalog image in a format browsers do not
        show (:func:`shown_as_is`): the cached file, or the bytes when the folder is not
        writable.

        Raises:
            OSError: the source is missing.
            ImageDecodeError: the source is not a readable image.
        """

        def render() -> bytes:
            with self._decoding(source):
                return photo_preview_jpeg(source)

        return self._cached(key or self.display_key(source), render)

    def _decoding(self, source: str | Path) -> AbstractContextManager:
        """Room in the memory budget for decoding ``source`` (nothing without a budget).

        Raises:
            DecodeBusyError: no room in the budget in time.
        """
        return self.budget.reserve(decode_cost(source)) if self.budget else nullcontext()

    def _cached(self, key: str, render: Callable[[], bytes]) -> Path | bytes:
        """The file cached under ``key``, made by ``render`` once (one thread per key)."""
        target = self.path_for(key)
        if target.is_file():
            return target
        with self._locks[int(key[:8], 16) % _LOCK_STRIPES]:
            if target.is_file():  # another thread made it while we waited
                return target
            data = render()
            self.generated += 1
            try:
                _write(target, data)
            except OSError as exc:
                if not self._warned_readonly:
                    log.warning("cannot cache thumbnails in %s (%s)", self.directory, exc)
                    self._warned_readonly = True
                return data
            return target

    def render(self, source: str | Path) -> bytes:
        """JPEG bytes of the letterboxed thumbnail of ``source`` (decoded within the
        memory budget, when there is one).

        Raises:
            DecodeBusyError: no room in the budget in time.
        """
        with self._decoding(source):
            pixels = letterbox(open_rgb(source, draft_size=self.size), self.size)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=self.quality, optimize=True)
        return buffer.getvalue()


#: Longest side of :func:`photo_preview_jpeg` (as the page's own shrink, ``UPLOAD_SIDE``).
PREVIEW_SIDE = 1600
PREVIEW_QUALITY = 88


#: Catalog image formats every current browser shows: served as they are.
BROWSER_FORMATS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".avif"})


def shown_as_is(path: str | Path) -> bool:
    """Whether browsers show the image file ``path`` itself (by its suffix); HEIC, HEIF and
    anything else need a JPEG copy (:meth:`ThumbnailCache.display_copy`)."""
    return Path(path).suffix.lower() in BROWSER_FORMATS


def photo_preview_jpeg(
    data: ImageSource, side: int = PREVIEW_SIDE, quality: int = PREVIEW_QUALITY
) -> bytes:
    """A JPEG of a photo, upright, in sRGB, at most ``side`` px a side, for a page whose
    browser cannot show the photo itself (an iPhone's HEIC in Chrome).

    Args:
        data: the photo's bytes or file (any format :func:`lookalike.imaging.open_rgb`
            decodes).
        side: longest side of the JPEG, >= 1 (smaller photos keep their size).
        quality: JPEG quality, 1-95.

    Raises:
        ImageDecodeError: the photo cannot be decoded.
    """
    image = open_rgb(data, draft_size=side)
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _settings_key(source: str | Path, settings: str) -> str:
    """``SOURCE-SETTINGS``: the source file's key and a short hash of what is made of it."""
    return f"{thumbnail_source_key(source)}-{hashlib.sha256(settings.encode()).hexdigest()[:8]}"


def _write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)

    def fill(tmp: Path) -> None:
        tmp.write_bytes(data)
        os.chmod(tmp, 0o644)  # readable by other users (a proxy), whatever the umask

    atomic_write_with(target, fill)
