"""lookalike.pipeline.encoding: the streamed catalog encode reuses the fit's embeddings."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

import lookalike.pipeline.encoding as encoding
from lookalike.pipeline.encoding import stream_encode_catalog


class MeanColourEncoder:
    """Each photo's mean colour: a tiny stand-in with ``encode`` and ``dim``."""

    dim = 3

    def encode(self, images: np.ndarray) -> np.ndarray:
        return images.reshape(len(images), -1, 3).mean(axis=1).astype(np.float32)


def _photos(folder, n: int) -> list[str]:
    rng = np.random.default_rng(0)
    folder.mkdir()
    paths = []
    for i in range(n):
        path = folder / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


@pytest.fixture
def decoded(monkeypatch) -> list[int]:
    """The rows the streamed encode decodes, in order (decode_rows spied on)."""
    rows: list[int] = []
    real_decode = encoding.decode_rows

    def decode_rows(batch, *args):
        rows.extend(int(r) for r in batch["row"])
        return real_decode(batch, *args)

    monkeypatch.setattr(encoding, "decode_rows", decode_rows)
    return rows


def test_known_rows_are_hashed_not_decoded_and_keep_their_embedding(tmp_path, decoded):
    paths = _photos(tmp_path / "photos", 7)
    missing = str(tmp_path / "photos" / "gone.png")
    locations = [*paths[:5], missing, *paths[5:]]  # row 5 cannot be read
    known = {1: np.full(3, 7.0, np.float32), 4: np.full(3, 9.0, np.float32)}
    known[5] = np.ones(3, np.float32)  # known, but the file is gone since
    plain = stream_encode_catalog(MeanColourEncoder(), locations, 16, chunk=3)
    decoded.clear()

    reused = stream_encode_catalog(MeanColourEncoder(), locations, 16, chunk=3, known=known)

    assert decoded == [0, 2, 3, 6, 7]  # rows 1, 4 and 5 never decoded
    assert reused.rows == plain.rows == [0, 1, 2, 3, 4, 6, 7]
    assert reused.content_hashes == plain.content_hashes
    assert reused.content_hashes[1] == hashlib.sha256(open(paths[1], "rb").read()).hexdigest()
    np.testing.assert_array_equal(reused.embeddings[[1, 4]], [[7.0] * 3, [9.0] * 3])
    others = [0, 2, 3, 5, 6]
    np.testing.assert_allclose(reused.embeddings[others], plain.embeddings[others], atol=1e-6)
    [(row, message)] = reused.errors
    assert row == 5 and "gone.png" in message


def test_kept_chunks_are_reused_until_decoding_changes(tmp_path, decoded, monkeypatch):
    """A chunk kept by an earlier run is reused (nothing decoded), but not once
    DECODE_VERSION says files decode differently (a stale "unreadable" would stay)."""
    paths = _photos(tmp_path / "photos", 4)
    cache = tmp_path / "chunks"
    first = stream_encode_catalog(MeanColourEncoder(), paths, 16, chunk=2, cache_dir=cache)
    assert decoded == [0, 1, 2, 3]
    decoded.clear()
    kept = stream_encode_catalog(MeanColourEncoder(), paths, 16, chunk=2, cache_dir=cache)
    assert decoded == []
    np.testing.assert_allclose(kept.embeddings, first.embeddings, atol=1e-6)
    monkeypatch.setattr(encoding, "DECODE_VERSION", encoding.DECODE_VERSION + 1)
    stream_encode_catalog(MeanColourEncoder(), paths, 16, chunk=2, cache_dir=cache)
    assert decoded == [0, 1, 2, 3]
