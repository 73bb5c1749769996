"""On-disk cache of decoded images, so re-runs and epochs never decode JPEGs again."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lookalike.files import PRIVATE_MODE, atomic_write_with, file_stamp
from lookalike.imaging.batches import BatchResult, load_images
from lookalike.imaging.decode import DECODE_VERSION
from lookalike.imaging.preprocess import LEGACY_RESIZE, check_resize

__all__ = ["cached_images"]

# Bump when preprocessing changes (resampling, letterboxing) so stale caches are not reused;
# decoding changes are DECODE_VERSION's.
_CACHE_VERSION = 1


def _cache_key(sources: Sequence[Path], size: int, resize: str = LEGACY_RESIZE) -> str:
    # A file missing now stamps -1: the key changes once it appears.
    entries = [file_stamp(Path(source).resolve()) for source in sources]
    key: dict = {
        "version": _CACHE_VERSION,
        "decode": DECODE_VERSION,
        "size": size,
        "files": entries,
    }
    if resize != LEGACY_RESIZE:
        # Only other filters join the key: caches written before it was recorded stay valid.
        key["resize"] = resize
    payload = json.dumps(key, separators=(",", ":"))
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
    sources: Sequence[Path],
    size: int,
    cache_dir: Path,
    *,
    progress: bool = True,
    resize: str = LEGACY_RESIZE,
) -> BatchResult:
    """:func:`load_images`, cached on disk so re-runs and epochs never decode JPEGs again.

    The cache is ``images-<size>px-<key>.npy`` (uint8, no pickle) plus a ``.json`` holding
    ``ok`` and ``errors``, where key is a sha256 over the size, the resize filter (unless
    LANCZOS), each path's resolved name, mtime_ns and byte size (and a preprocessing
    version). Changing, adding, removing or
    reordering a file therefore rebuilds the cache. Files are written atomically (temp file in
    ``cache_dir`` + ``os.replace``), so concurrent or interrupted runs never leave a torn cache.
    Old entries are not deleted.

    Args:
        sources: Image file paths.
        size: Output side in pixels, >= 1.
        cache_dir: Directory for cache files; created if missing.
        progress: Show a progress bar while decoding.
        resize: the letterbox's filter (as for :func:`load_images`).

    Returns:
        A :class:`BatchResult` with an in-memory (not memory-mapped) array.
    """
    check_resize(resize)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = _cache_key(sources, size, resize)
    stem = f"images-{size}px-{key[:32]}"
    npy, meta = cache_dir / f"{stem}.npy", cache_dir / f"{stem}.json"
    cached = _read_cache(npy, meta, key, size)
    if cached is not None:
        return cached
    result = load_images(list(sources), size, progress=progress, resize=resize)
    # The array goes first: a reader only trusts the npy once the matching json exists.
    # Cache files are private (0600), as they always were: they hold decoded catalog pixels.
    atomic_write_with(npy, lambda tmp: _save_array(tmp, result.images), mode=PRIVATE_MODE)
    info = {"key": key, "size": size, "ok": result.ok, "errors": result.errors}
    atomic_write_with(meta, lambda tmp: tmp.write_text(json.dumps(info)), mode=PRIVATE_MODE)
    return result
