"""Tests for lookalike.index.ivfpq: recall after re-ranking, training, the re-rank pool."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike import index as ix
from tests.index.conftest import DIM, brute, recall


@pytest.mark.parametrize("name", ["ivfpq", "ivfpq-flat"])
def test_ivfpq_recall_at_10(built, data, name):
    x, q = data
    d, ids = built[name].search(q, 10)
    assert recall(ids, brute(x, q, 10)[1]) >= 0.8
    # Re-ranked distances are true distances of the returned ids (up to SQ8 error).
    true = np.linalg.norm(x[ids] - q[:, None, :], axis=2)
    np.testing.assert_allclose(d, true, rtol=1e-2 if name == "ivfpq" else 1e-4)


def test_ivfpq_requires_training_and_enough_data(data):
    x, _ = data
    index = ix.create_index("ivfpq", DIM)
    assert index.ntotal == 0 and not index.is_trained
    with pytest.raises(ValueError, match="trained"):
        index.add(x[:10], np.arange(10))
    with pytest.raises(ValueError, match="training vectors"):
        index.train(x[:100])


def test_ivfpq_rerank_pool_grows_with_the_codes_scanned():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8000, 16), dtype=np.float32)
    index = ix.create_index("ivfpq", 16, nlist=8, m=4)
    index.train(x)
    index.add(x[:400], np.arange(400))
    assert index.rerank_pool(10, nprobe=2) == 10 * ix.MIN_K_FACTOR  # few codes: the floor
    index.add(x[400:], np.arange(400, 8000))
    scanned = 8 * 8000 / 8
    assert index.rerank_pool(10, nprobe=8) == int(np.ceil(ix.RERANK_SHARE * scanned)) > 320
    fixed = ix.create_index("ivfpq", 16, nlist=8, m=4, k_factor=5)
    fixed.train(x)
    assert fixed.rerank_pool(10, nprobe=2) == 50
    assert ix.default_nlist(10_000_000) == ix.MAX_NLIST
