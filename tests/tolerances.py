"""Tolerances for comparing computed floats in tests, and why each is what it is.

Distances come from faiss, BLAS and ONNX Runtime kernels that differ between CPUs (SIMD width,
summation order, fused multiply-add): the same vectors give distances that agree to ~1e-6
relative, and a photo's distance to itself reads 0 give or take ~1e-5 (a machine read 2e-6
where this one reads 0.0). No test compares such a value with ``==``: the suite must not
depend on which CPU runs it (``tests/test_float_comparisons.py`` keeps it so).
"""

from __future__ import annotations

from typing import Any

import pytest

#: Relative tolerance of a computed distance or score: float32 kernels agree to ~1e-6.
RTOL = 1e-5
#: Absolute tolerance near zero: a photo's distance to itself, a score that should be 0.
ATOL = 1e-5


def approx(value: float, rel: float = RTOL, abs: float = ATOL):  # noqa: A002 (pytest's name)
    """``pytest.approx`` with this suite's tolerances for computed distances and scores."""
    return pytest.approx(value, rel=rel, abs=abs)


def approx_tree(value: Any) -> Any:
    """``value`` with every float inside nested lists, tuples and dicts replaced by
    :func:`approx`, for comparing result lists (ids exactly, distances within tolerance) with
    ``==``; pytest's own ``approx`` does not take nested structures."""
    if isinstance(value, float):
        return approx(value)
    if isinstance(value, list | tuple):
        return type(value)(approx_tree(v) for v in value)
    if isinstance(value, dict):
        return {k: approx_tree(v) for k, v in value.items()}
    return value
