"""The catalog's encode step in-process: every photo decoded and encoded a chunk at a time
after the encoder's fit, so the build's memory beyond the fit sample does not grow with the
catalog (``lookalike build``'s local engine; ``--engine ray`` runs the same steps on Ray).

Each encoded chunk is kept in a cache folder (embeddings, content hashes, errors: about
1 KB per photo at 256 dims, no pixels), keyed by the encoder's digest and the chunk's files
(path, size, modification time): a build stopped during the encode resumes from the chunks
it finished, and a rebuild of an unchanged catalog with the same encoder decodes nothing.
Chunks of other catalogs or encoders, and the temporary files of chunk writes cut short, are
removed after an encode completes."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from lookalike.distributed import EncodedCatalog, decode_rows, encode_rows, read_and_hash
from lookalike.files import atomic_write_with, file_stamp
from lookalike.imaging import DECODE_VERSION, LEGACY_RESIZE

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
    cache_dir: Path | None = None,
    encoder_key: str = "",
    known: Mapping[int, np.ndarray] | None = None,
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
        cache_dir: where finished chunks are kept (None: nowhere).
        encoder_key: a digest of the encoder (:func:`folder_digest` of its saved files);
            chunks encoded by another encoder are never reused.
        known: row -> its embedding, already computed (the fit's photos,
            ``fit_embeddings``): those rows are only read and hashed, not decoded or encoded.

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
    kept: set[Path] = set()
    with tqdm(
        total=len(locations), desc="embedding catalog", unit="img", disable=not progress
    ) as bar:
        for start in range(0, len(locations), chunk):
            stop = min(len(locations), start + chunk)
            path = None
            if cache_dir is not None:
                key = chunk_key(locations[start:stop], start, size, resize, encoder_key)
                path = Path(cache_dir) / f"chunk-{key}.npz"
                kept.add(path)
            encoded = read_chunk(path)
            if encoded is None:
                encoded = encode_chunk(
                    encoder, locations, start, stop, size, resize, threads, known or {}
                )
                if path is not None:
                    write_chunk(path, encoded)
            ok = np.array([not e for e in encoded["error"]], dtype=bool)
            rows += encoded["row"][ok].tolist()
            vectors.append(encoded["embedding"][ok])
            hashes += [str(h) for h in encoded["sha256"][ok]]
            errors += [
                (int(r), str(e)) for r, e in zip(encoded["row"], encoded["error"], strict=True) if e
            ]
            bar.update(stop - start)
    if cache_dir is not None:
        # Only this catalog's chunks stay: the cache holds one catalog's embeddings, bounded.
        for stale in Path(cache_dir).glob("chunk-*.npz"):
            if stale not in kept:
                stale.unlink(missing_ok=True)
        # A chunk's write cut short (the build killed) leaves its temporary file behind.
        for partial in Path(cache_dir).glob(".chunk-*.tmp"):
            partial.unlink(missing_ok=True)
    dim = int(encoder.dim)
    embeddings = np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32)
    seconds = time.perf_counter() - started
    return EncodedCatalog(
        rows, embeddings.astype(np.float32, copy=False), hashes, errors, seconds,
        {"pipeline": seconds},
    )  # fmt: skip


def encode_chunk(
    encoder,
    locations: Sequence[str],
    start: int,
    stop: int,
    size: int,
    resize: str,
    threads: int,
    known: Mapping[int, np.ndarray],
) -> dict:
    """Rows ``start:stop`` encoded (``row``, ``embedding``, ``sha256``, ``error``): the rows
    in ``known`` only read and hashed (their embedding as given), the others decoded and
    encoded (:func:`~lookalike.distributed.decode_rows`, ``encode_rows``)."""
    rows = np.arange(start, stop)
    reuse = np.array([int(r) in known for r in rows], dtype=bool)
    parts = []
    if (~reuse).any():
        todo = rows[~reuse]
        decoded = decode_rows(
            {"row": todo, "location": [locations[r] for r in todo]}, size, resize, threads
        )
        parts.append(encode_rows(encoder, decoded))
    if reuse.any():
        parts.append(hash_known_rows(rows[reuse], locations, known, int(encoder.dim)))
    merged = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    order = np.argsort(merged["row"], kind="stable")
    return {key: value[order] for key, value in merged.items()}


def hash_known_rows(
    rows: np.ndarray, locations: Sequence[str], known: Mapping[int, np.ndarray], dim: int
) -> dict:
    """The rows whose embedding is known, as ``encode_rows`` returns them: each file read
    for its sha256 (an unreadable one gets its error and a zero embedding)."""
    vectors = np.zeros((len(rows), dim), np.float32)
    hashes, errors = [], []
    for i, row in enumerate(rows):
        data, digest, error = read_and_hash(locations[int(row)])
        hashes.append(digest)
        errors.append(error)
        if data is not None:
            vectors[i] = known[int(row)]
    return {
        "row": np.asarray(rows, np.int64),
        "embedding": vectors,
        "sha256": np.array(hashes),
        "error": np.array(errors),
    }


def folder_digest(folder: Path) -> str:
    """sha256 over a folder's files (relative names and bytes): what an encoder is."""
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(folder)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def chunk_key(
    locations: Sequence[str], start: int, size: int, resize: str, encoder_key: str
) -> str:
    """The cache key of one chunk: its first row, its files (path, size, modification time;
    a changed or missing file changes it), how they decode, the input size, filter and
    encoder."""
    # A URI or a missing file stamps its name only (a URI's bytes are hashed as it is read).
    files = [file_stamp(location) for location in locations]
    key = [start, size, resize, encoder_key, files, DECODE_VERSION]
    payload = json.dumps(key, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def write_chunk(path: Path, encoded: dict) -> None:
    """Keep an encoded chunk (rows, embeddings, sha256, errors; numbers and text only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        "row": np.asarray(encoded["row"], np.int64),
        "embedding": np.asarray(encoded["embedding"], np.float32),
        "sha256": np.asarray(encoded["sha256"]).astype(str),
        "error": np.asarray(encoded["error"]).astype(str),
    }

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    atomic_write_with(path, save)


def read_chunk(path: Path | None) -> dict | None:
    """A kept chunk, or None when it is absent or unreadable (then it is encoded again)."""
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in ("row", "embedding", "sha256", "error")}
    except (OSError, ValueError, KeyError):
        return None
