"""Tests for lookalike.index.hnsw: graph recall and tombstones."""

from __future__ import annotations

import numpy as np
import pytest

from tests.index.conftest import N, brute, build, recall


def test_hnsw_recall_at_10(built, data):
    x, q = data
    _, ids = built["hnsw"].search(q, 10)
    assert recall(ids, brute(x, q, 10)[1]) >= 0.95


def test_hnsw_heavy_tombstones_still_fills_k(data):
    x, q = data
    index = build("hnsw", x)
    alive = np.arange(0, N, 40)
    index.remove(np.setdiff1d(np.arange(N), alive))
    d, ids = index.search(q, 10)
    ref_d, ref_ids = brute(x, q, 10, subset=alive)
    assert (ids >= 0).all() and np.isin(ids, alive).all()
    assert recall(ids, ref_ids) >= 0.95


def test_hnsw_rejects_reusing_removed_ids(data):
    x, _ = data
    index = build("hnsw", x[:100])
    index.remove(np.array([5]))
    with pytest.raises(ValueError, match="already used"):
        index.add(x[:1], np.array([5]))
