"""Query-time thread pools: one BLAS thread after configure_for_queries."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from lookalike.threads import configure_for_queries


def _blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_configure_for_queries_leaves_one_blas_thread():
    np.ones((64, 64)) @ np.ones((64, 64))  # make sure numpy's BLAS is loaded
    before = threadpool_info()
    try:
        settings = configure_for_queries()
        assert _blas_threads() and set(_blas_threads()) == {1}
        assert settings["blas_threads"] == "1"
    finally:
        for pool in before:  # give the rest of the test session its threads back
            if pool["user_api"] == "blas":
                threadpool_limits(limits=pool["num_threads"], user_api="blas")


def test_read_ahead_yields_in_order_computes_ahead_and_raises_at_its_turn():
    import threading

    from lookalike.threads import read_ahead

    made, seen = [], []

    def producer():
        rng = np.random.default_rng(0)
        for k in range(5):
            made.append((k, threading.current_thread().name))
            yield k, float(rng.random())

    expected = list(zip(range(5), np.random.default_rng(0).random(5).tolist(), strict=True))
    for value in read_ahead(producer(), depth=2):
        seen.append(value)
        # While the caller holds item k, items up to k + 2 are being or have been made.
        assert len(made) <= value[0] + 3
    assert [k for k, _ in seen] == list(range(5))
    # The generator drew its numbers in order on that thread: the same draws, bit for bit.
    np.testing.assert_array_equal([v for _, v in seen], [v for _, v in expected])
    assert all(name.startswith("lookalike-ahead") for _, name in made)

    def failing():
        yield 1
        raise ValueError("bad chunk")

    out = read_ahead(failing())
    assert next(out) == 1
    with pytest.raises(ValueError, match="bad chunk"):
        next(out)
    with pytest.raises(ValueError, match="depth"):
        list(read_ahead([1], depth=0))
