"""Many images at once: thread-pool decoding into preallocated arrays, whole or batch by batch."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from lookalike.imaging.decode import (
    DEFAULT_MAX_PIXELS,
    ImageDecodeError,
    ImageSource,
    _source_name,
)
from lookalike.imaging.preprocess import LEGACY_RESIZE, check_resize, load_image

__all__ = ["BatchResult", "iter_image_batches", "load_images"]


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
    out: np.ndarray, row: int, source: ImageSource, size: int, max_pixels: int, resize: str
) -> str | None:
    """Decode ``source`` into ``out[row]``; return an error message instead of raising."""
    try:
        out[row] = load_image(source, size, max_pixels=max_pixels, resize=resize)
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
    return tqdm(total=total, desc=desc, unit="img", disable=not enabled)


def _check_common(size: int, workers: int, resize: str) -> None:
    check_resize(resize)
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
    resize: str = LEGACY_RESIZE,
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
        resize: the letterbox's filter (:data:`~lookalike.imaging.preprocess.RESIZE_FILTERS`;
            an encoder's recorded one).

    Returns:
        A :class:`BatchResult`. Memory is len(sources) * size * size * 3 bytes for the whole
        run (2,906 images at 256 px = 571 MB); use :func:`iter_image_batches` for more.
    """
    _check_common(size, workers, resize)
    n = len(sources)
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    errors: dict[int, str] = {}
    with _progress_bar(n, desc, progress) as bar:
        if workers == 1 or n <= 1:
            for i, source in enumerate(sources):
                if (msg := _decode_into(out, i, source, size, max_pixels, resize)) is not None:
                    errors[i] = msg
                bar.update(1)
        else:
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lookalike-decode")
            try:
                futures = {
                    pool.submit(_decode_into, out, i, s, size, max_pixels, resize): i
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
    resize: str = LEGACY_RESIZE,
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
        resize: as for :func:`load_images`.

    Yields:
        One :class:`BatchResult` per batch of inputs, in order; ``ok`` and ``errors`` hold
        global indices into ``sources``. Every input appears in exactly one batch.
    """
    # Validate now, not at the first next(), so mistakes surface where the call is made.
    _check_common(size, workers, resize)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return _batches(sources, size, batch_size, workers, progress, desc, max_pixels, resize)


def _batches(
    sources: Sequence[ImageSource],
    size: int,
    batch_size: int,
    workers: int,
    progress: bool,
    desc: str,
    max_pixels: int,
    resize: str,
) -> Iterator[BatchResult]:
    n = len(sources)
    starts = range(0, n, batch_size)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lookalike-decode")

    def submit(start: int) -> tuple[int, np.ndarray, list[Future]]:
        stop = min(start + batch_size, n)
        out = np.empty((stop - start, size, size, 3), dtype=np.uint8)
        futures = [
            pool.submit(_decode_into, out, i - start, sources[i], size, max_pixels, resize)
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
