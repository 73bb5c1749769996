"""A minimal compressed sparse row matrix over numpy arrays, and the few operations the
personal candidate sources need: building one from (row, col, value) triples, transposing,
adding up weighted rows (densely or sparsely) and the co-occurrence row of X X^T X.

scipy is not a dependency of the project, and these operations are a few lines of numpy,
so :class:`Csr` is the project's own, not ``scipy.sparse``. The event log
(:mod:`lookalike.events`) builds its per-event matrices as :class:`Csr` values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Csr:
    """A compressed sparse row matrix: row ``r``'s entries are
    ``indices[indptr[r]:indptr[r + 1]]`` with values ``data[...]`` (columns sorted, unique)."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    shape: tuple[int, int]

    def row(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        """(columns, values) of row ``r``."""
        start, stop = self.indptr[r], self.indptr[r + 1]
        return self.indices[start:stop], self.data[start:stop]


def csr_from_coo(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int]
) -> Csr:
    """A :class:`Csr` summing the values of repeated (row, col) pairs."""
    if len(rows) == 0:
        return Csr(np.zeros(shape[0] + 1, np.int64), np.zeros(0, np.int32), np.zeros(0), shape)
    keys = rows.astype(np.int64) * shape[1] + cols.astype(np.int64)
    unique, inverse = np.unique(keys, return_inverse=True)
    data = np.bincount(inverse, weights=values.astype(np.float64))
    out_rows = unique // shape[1]
    indptr = np.zeros(shape[0] + 1, np.int64)
    np.cumsum(np.bincount(out_rows, minlength=shape[0]), out=indptr[1:])
    return Csr(indptr, (unique % shape[1]).astype(np.int32), data, shape)


def transpose(matrix: Csr) -> Csr:
    """The transpose (items x shoppers from shoppers x items)."""
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int32), np.diff(matrix.indptr))
    return csr_from_coo(matrix.indices, rows, matrix.data, (matrix.shape[1], matrix.shape[0]))


def _gathered_entries(
    matrix: Csr, rows: np.ndarray, weights: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """(column, weight x value) of every entry of the given rows (no Python loop over rows)."""
    rows = np.asarray(rows, np.int64)
    weights = np.ones(len(rows)) if weights is None else np.asarray(weights, np.float64)
    starts, stops = matrix.indptr[rows], matrix.indptr[rows + 1]
    lengths = stops - starts
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    positions = offsets + np.arange(lengths.sum())
    entry_weights = np.repeat(weights, lengths) * matrix.data[positions]
    return matrix.indices[positions], entry_weights


def gather_rows(matrix: Csr, rows: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """sum_r weights[r] * matrix[rows[r]] as a dense vector (a sparse vector-matrix product
    touching only the given rows).

    Args:
        matrix: (n, m).
        rows: rows to add up.
        weights: one per row (default 1).

    Returns:
        float64 (m,).
    """
    columns, values = _gathered_entries(matrix, rows, weights)
    # bincount gives int64 when nothing was gathered; float64 sums are kept without a copy.
    sums = np.bincount(columns, weights=values, minlength=matrix.shape[1])
    return sums.astype(np.float64, copy=False)


def gather_rows_sparse(
    matrix: Csr, rows: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`gather_rows` as (sorted int64 columns, float64 sums) where a gathered entry
    falls: the cost grows with the rows' entries, not with the matrix's width."""
    columns, values = _gathered_entries(matrix, rows, weights)
    found, inverse = np.unique(columns, return_inverse=True)
    sums = np.bincount(inverse.ravel(), weights=values, minlength=len(found))
    return found.astype(np.int64, copy=False), sums.astype(np.float64, copy=False)


def co_occurrence(matrix: Csr, transposed: Csr, row: int) -> np.ndarray:
    """Row ``row`` of X X^T X over X's other rows (X = ``matrix``, binary; X^T = ``transposed``),
    float64 (m,): gathered sparsely, so a million rows cost by their overlaps only."""
    others, overlap = gather_rows_sparse(transposed, matrix.row(row)[0])
    keep = (others != row) & (overlap != 0)
    return gather_rows(matrix, others[keep], overlap[keep])
