"""Thread-pool settings for processes that answer one query at a time (``lookalike serve``),
and :func:`read_ahead`, which overlaps a producer's work with its consumer's.

A single query runs its ONNX pass on the query session's threads, whose workers sleep
between runs (``lookalike.encoders.pretrained.BackboneRunner``); pools that keep spinning
after their own short calls steal the cores that pass needs. Measured before issue 19
with the default bundle (``bench/latency.py``, 2 threads, 200 photos): OpenBLAS' threads
spinning after the head's matrix product and faiss' OpenMP threads after a search put the
query p95 at 24 ms for a p50 of 15-16 ms; with one BLAS thread and sleeping OpenMP threads
p95 is 15.2 ms and p50 14.7-14.8 ms. Batch work (building a bundle) keeps the defaults:
there every pool has a full batch to chew on.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

# numpy loads the BLAS library that threadpool_limits must find already loaded.
import numpy  # noqa: F401
from threadpoolctl import threadpool_limits

WAIT_POLICY_ENV = "OMP_WAIT_POLICY"
T = TypeVar("T")
_DONE = object()


def configure_for_queries() -> dict[str, str]:
    """One BLAS thread for this process (OpenBLAS/MKL under numpy, set at run time), and
    OpenMP threads that sleep when idle (only if no OpenMP library is loaded yet: the policy
    is read once at load; a policy the user exported is kept).

    Returns:
        What was set, for logs: ``{"blas_threads": "1", "omp_wait_policy": ...}``.
    """
    if "faiss" not in sys.modules and "torch" not in sys.modules:
        os.environ.setdefault(WAIT_POLICY_ENV, "PASSIVE")
    threadpool_limits(limits=1, user_api="blas")
    return {"blas_threads": "1", "omp_wait_policy": os.environ.get(WAIT_POLICY_ENV, "default")}


def read_ahead(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """``items`` in order, the next ``depth`` of them computed on one background thread
    while the caller works on the current one (e.g. decoding and augmenting chunk k+1 while
    the backbone runs on chunk k).

    Args:
        items: any iterable; it is advanced on that one thread only, in order, so a seeded
            random generator it uses draws the same numbers as without read-ahead.
        depth: items computed ahead, >= 1 (each is held in memory until consumed).

    Yields:
        The items, in order; an exception raised by ``items`` is raised here, at its turn.
        Stopping early waits for the items already started.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    source = iter(items)
    with ThreadPoolExecutor(1, thread_name_prefix="lookalike-ahead") as pool:
        pending = deque(pool.submit(next, source, _DONE) for _ in range(depth))
        while True:
            value = pending.popleft().result()
            if value is _DONE:
                return
            pending.append(pool.submit(next, source, _DONE))
            yield value
