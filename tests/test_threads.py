"""Query-time thread pools: one BLAS thread after configure_for_queries."""

from __future__ import annotations

import numpy as np
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
