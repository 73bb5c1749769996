"""Tests for lookalike.neighbours: exact search against the full distance matrix."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.neighbours import exact_search
from tests.index.conftest import DIM, NQ, N, brute, clustered


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return clustered(N, DIM, seed=0), clustered(NQ, DIM, seed=1)


def test_exact_search_matches_full_distance_matrix(data):
    x, q = data
    d, pos = exact_search(x, q, 10)
    ref_d, ref_pos = brute(x, q, 10)
    np.testing.assert_array_equal(pos, ref_pos)
    np.testing.assert_allclose(d, ref_d, rtol=1e-5)
    assert d.dtype == np.float32 and pos.dtype == np.int64


def test_exact_search_pads_when_k_exceeds_n(data):
    x, q = data
    d, pos = exact_search(x[:3], q[:2], 5)
    assert (pos[:, 3:] == -1).all() and np.isinf(d[:, 3:]).all()
    assert sorted(pos[0, :3]) == [0, 1, 2]


def test_smallest_per_row_ranks_as_exact_search_ties_to_the_lower_column():
    from lookalike.neighbours import smallest_per_row

    rng = np.random.default_rng(5)
    gallery = rng.normal(size=(40, 6)).astype(np.float32)
    gallery[7] = gallery[3]  # an exact tie: column 3 must come first
    queries = np.concatenate([gallery[[3]], rng.normal(size=(4, 6)).astype(np.float32)])
    d2 = ((queries[:, None, :] - gallery[None, :, :]) ** 2).sum(axis=2)
    found = smallest_per_row(d2, 5)
    np.testing.assert_array_equal(found, exact_search(gallery, queries, 5)[1])
    assert found[0, :2].tolist() == [3, 7]
    assert smallest_per_row(d2, 100).shape == (5, 40)
