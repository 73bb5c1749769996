"""Photos decoded on demand: a stand-in for a decoded uint8 array that holds only paths.

A build fits its encoder on thousands of photos; holding them all decoded costs 307 KB each
at 320 px (1.9 GB for the reference catalog and its archives). :class:`LazyPhotos` keeps the
paths (and, for garment crops, their boxes) and decodes a chunk when asked, so an encoder that
reads its training photos a chunk at a time (the hybrid's view features) holds one chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from lookalike.files import file_stamp
from lookalike.imaging.batches import BatchResult
from lookalike.imaging.decode import ImageDecodeError
from lookalike.imaging.preprocess import LEGACY_RESIZE, check_resize, load_image

Box = tuple[float, float, float, float]


@dataclass
class LazyPhotos:
    """Photos at one letterboxed size, decoded when read.

    Attributes:
        paths: image files, one per photo.
        size: output side in pixels.
        resize: the letterbox's filter (an encoder's recorded one).
        boxes: per photo, a crop box (x0, y0, x1, y1 as fractions) or None; None for none.
        workers: decoding threads.
    """

    paths: list[str]
    size: int
    resize: str = LEGACY_RESIZE
    boxes: list[Box | None] | None = None
    workers: int = 2
    _stamps: list | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_resize(self.resize)
        self.paths = [str(p) for p in self.paths]
        if self.boxes is not None and len(self.boxes) != len(self.paths):
            raise ValueError(f"{len(self.boxes)} boxes for {len(self.paths)} photos")

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """The shape the decoded array would have."""
        return (len(self.paths), self.size, self.size, 3)

    def decode(self, rows: Sequence[int] | np.ndarray) -> BatchResult:
        """Decode ``rows`` (in that order): images of the readable ones; ``ok`` and
        ``errors`` index into ``rows``, as :func:`lookalike.imaging.load_images` does."""
        rows = [int(r) for r in rows]
        out = np.empty((len(rows), self.size, self.size, 3), np.uint8)

        def one(j: int) -> str | None:
            row = rows[j]
            box = self.boxes[row] if self.boxes is not None else None
            try:
                out[j] = load_image(self.paths[row], self.size, crop=box, resize=self.resize)
            except (ImageDecodeError, OSError) as exc:
                return str(exc)
            return None

        if self.workers > 1 and len(rows) > 1:
            with ThreadPoolExecutor(self.workers, thread_name_prefix="lookalike-lazy") as pool:
                messages = list(pool.map(one, range(len(rows))))
        else:
            messages = [one(j) for j in range(len(rows))]
        ok = [j for j, m in enumerate(messages) if m is None]
        errors = [(j, m) for j, m in enumerate(messages) if m is not None]
        images = out if len(ok) == len(rows) else out[ok]
        return BatchResult(images, ok, errors)

    def __getitem__(self, key: int | slice | Sequence[int] | np.ndarray) -> np.ndarray:
        """Decoded photos, as indexing the array would give them.

        Raises:
            ImageDecodeError: one of them cannot be read.
        """
        if isinstance(key, (int, np.integer)):
            return self[[int(key)]][0]
        rows = range(len(self))[key] if isinstance(key, slice) else key
        batch = self.decode(rows)
        if batch.errors:
            j, message = batch.errors[0]
            raise ImageDecodeError(f"{self.paths[list(rows)[j]]}: {message}")
        return batch.images

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """Every photo decoded (for encoders that need them all at once)."""
        images = self[slice(None)]
        return images if dtype is None else images.astype(dtype)

    def select(self, rows: Sequence[int] | np.ndarray) -> LazyPhotos:
        """The photos at ``rows``, still lazy."""
        rows = [int(r) for r in rows]
        return LazyPhotos(
            [self.paths[r] for r in rows],
            self.size,
            self.resize,
            None if self.boxes is None else [self.boxes[r] for r in rows],
            self.workers,
        )

    def stamps(self) -> list:
        """Per photo [path, mtime_ns, size, box]: what a cache of features computed from
        these photos is keyed by (a changed file changes the key without decoding it)."""
        if self._stamps is None:
            boxes = self.boxes or [None] * len(self.paths)
            self._stamps = [
                [*file_stamp(p), list(b) if b is not None else None]
                for p, b in zip(self.paths, boxes, strict=True)
            ]
        return self._stamps


def join_lazy(parts: Sequence[LazyPhotos]) -> LazyPhotos:
    """Several lazy photo sets of one size and filter as one, in order."""
    first = parts[0]
    if any(p.size != first.size or p.resize != first.resize for p in parts):
        raise ValueError("lazy photos of different sizes or filters cannot be joined")
    boxed = any(p.boxes is not None for p in parts)
    boxes = [b for p in parts for b in (p.boxes or [None] * len(p))] if boxed else None
    return LazyPhotos(
        [path for p in parts for path in p.paths], first.size, first.resize, boxes, first.workers
    )
