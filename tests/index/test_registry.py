"""Tests for lookalike.index.registry: choosing, creating and building by kind."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike import index as ix
from tests.index.conftest import DIM


def test_build_auto_picks_flat_for_small_n(data):
    x, q = data
    index = ix.build_index(x[:1000])
    assert index.kind == "flat" and index.ntotal == 1000
    assert isinstance(index, ix.VectorIndex)
    np.testing.assert_array_equal(index.search(x[:5], 1)[1][:, 0], np.arange(5))


def test_choose_index_kind_thresholds():
    assert ix.choose_index_kind(0) == "flat"
    assert ix.choose_index_kind(ix.FLAT_MAX_ITEMS - 1) == "flat"
    assert ix.choose_index_kind(ix.FLAT_MAX_ITEMS) == "hnsw"
    assert ix.choose_index_kind(ix.HNSW_MAX_ITEMS) == "hnsw"
    assert ix.choose_index_kind(10_000_000) == "ivfpq"
    with pytest.raises(ValueError):
        ix.choose_index_kind(-1)


def test_registry_and_unknown_kind():
    assert set(ix.INDEX_KINDS) == {"flat", "hnsw", "ivfpq", "milvus"}
    with pytest.raises(ValueError, match="flat, hnsw, ivfpq"):
        ix.create_index("nope", DIM)
    with pytest.raises(ValueError, match="unknown hnsw params"):
        ix.create_index("hnsw", DIM, ef=5)
    with pytest.raises(ValueError, match="must divide"):
        ix.create_index("ivfpq", DIM, m=7)
    with pytest.raises(ValueError, match="refine"):
        ix.create_index("ivfpq", DIM, refine="pq")
