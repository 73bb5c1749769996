"""Tests for lookalike.index.flat: exact search, real deletes."""

from __future__ import annotations

import numpy as np

from tests.index.conftest import brute, build


def test_flat_equals_brute_force_euclidean(built, data):
    x, q = data
    d, ids = built["flat"].search(q, 10)
    ref_d, ref_ids = brute(x, q, 10)
    np.testing.assert_array_equal(ids, ref_ids)
    # Euclidean, not squared: compare against the norm of the actual difference.
    np.testing.assert_allclose(d, ref_d, rtol=1e-4)
    np.testing.assert_allclose(d[0, 0], np.linalg.norm(x[ids[0, 0]] - q[0]), rtol=1e-4)


def test_flat_allows_reusing_removed_ids(data):
    x, _ = data
    index = build("flat", x[:100])
    index.remove(np.array([5]))
    index.add(x[50:51], np.array([5]))
    _, ids = index.search(x[50:51], 2)
    assert set(ids[0]) == {5, 50}
