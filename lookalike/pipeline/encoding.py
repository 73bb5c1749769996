"""The catalog's encode step in-process: every photo decoded and encoded a chunk at a time
after the encoder's fit, so the build's memory beyond the fit sample does not grow with the
catalog (``lookalike build``'s local engine; ``--engine ray`` runs the same steps on Ray)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from tqdm.auto import tqdm

from lookalike.distributed import EncodedCatalog, decode_rows, encode_rows
from lookalike.imaging import LEGACY_RESIZE

#: Photos decoded and encoded at a time by :func:`stream_encode_catalog` (78 MB at 320 px).
STREAM_CHUNK = 256


def stream_encode_catalog(
    encoder,
    locations: Sequence[str],
    size: int,
    resize: str = LEGACY_RESIZE,
    *,
    chunk: int = STREAM_CHUNK,
    threads: int = 2,
    progress: bool = False,
) -> EncodedCatalog:
    """Decode + encode every location in-process, ``chunk`` photos at a time: the steps of
    the Ray pipeline (:func:`~lookalike.distributed.decode_rows`,
    :func:`~lookalike.distributed.encode_rows`) without Ray, so memory holds one chunk's
    pixels and the embeddings, whatever the catalog's size.

    Args:
        encoder: a fitted encoder (``encode``, ``dim``).
        locations: image paths or URIs, one per catalog row.
        size: the encoder's input side; resize: its letterbox filter.
        chunk: photos per decode + encode step (>= 1).
        threads: files decoded at once.
        progress: a progress bar.

    Returns:
        As :func:`~lookalike.distributed.ray_encode_catalog`: the rows that decoded
        (ascending), their embeddings and content hashes, the errors.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    started = time.perf_counter()
    rows: list[int] = []
    vectors: list[np.ndarray] = []
    hashes: list[str] = []
    errors: list[tuple[int, str]] = []
    with tqdm(
        total=len(locations), desc="embedding catalog", unit="img", disable=not progress
    ) as bar:
        for start in range(0, len(locations), chunk):
            stop = min(len(locations), start + chunk)
            decoded = decode_rows(
                {"row": np.arange(start, stop), "location": locations[start:stop]},
                size,
                resize,
                threads,
            )
            encoded = encode_rows(encoder, decoded)
            ok = np.array([not e for e in encoded["error"]], dtype=bool)
            rows += encoded["row"][ok].tolist()
            vectors.append(encoded["embedding"][ok])
            hashes += [str(h) for h in encoded["sha256"][ok]]
            errors += [
                (int(r), str(e)) for r, e in zip(encoded["row"], encoded["error"], strict=True) if e
            ]
            bar.update(stop - start)
    dim = int(encoder.dim)
    embeddings = np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32)
    seconds = time.perf_counter() - started
    return EncodedCatalog(
        rows, embeddings.astype(np.float32, copy=False), hashes, errors, seconds,
        {"pipeline": seconds},
    )  # fmt: skip
