"""lookalike.csr: the minimal CSR matrix and its helpers, against the dense math."""

from __future__ import annotations

import numpy as np

from lookalike.csr import co_occurrence, csr_from_coo, gather_rows, gather_rows_sparse, transpose
from tests.tolerances import approx


def test_csr_helpers_match_dense_math():
    rng = np.random.default_rng(0)
    dense = (rng.random((5, 4)) < 0.4) * rng.integers(1, 4, (5, 4))
    rows, cols = np.nonzero(dense)
    matrix = csr_from_coo(rows, cols, dense[rows, cols].astype(float), (5, 4))
    weights = np.array([0.5, 2.0])
    assert gather_rows(matrix, np.array([1, 3]), weights).tolist() == approx(
        (weights @ dense[[1, 3]]).tolist()
    )
    assert gather_rows(matrix, np.array([], np.int64)).tolist() == approx([0.0] * 4)
    columns, sums = gather_rows_sparse(matrix, np.array([1, 3, 1]), np.array([0.5, 2.0, 1.0]))
    expected = np.array([0.0, 1.5, 0.0, 2.0, 0.0]) @ dense  # row 1 twice
    assert columns.tolist() == np.flatnonzero(expected).tolist()
    assert sums.tolist() == approx(expected[columns].tolist())
    nothing, empty = gather_rows_sparse(matrix, np.array([], np.int64))
    assert len(nothing) == 0 and len(empty) == 0
    binary = (dense > 0).astype(float)  # X X^T X's row 2, without row 2's own overlap
    overlap = binary @ binary[2]
    overlap[2] = 0
    rows, cols = np.nonzero(binary)
    pattern = csr_from_coo(rows, cols, np.ones(len(rows)), (5, 4))
    assert co_occurrence(pattern, transpose(pattern), 2).tolist() == approx(
        (overlap @ binary).tolist()
    )


def test_gathered_sums_are_float64_even_when_nothing_is_gathered():
    matrix = csr_from_coo(np.array([0]), np.array([2]), np.array([3.0]), (2, 4))
    assert gather_rows(matrix, np.array([], np.int64)).dtype == np.float64
    assert gather_rows(matrix, np.array([0])).dtype == np.float64
    assert transpose(matrix).shape == (4, 2)
