"""glibc malloc settings for training loops that allocate and free the same large blocks
every step (PyTorch on the CPU).

By default glibc serves blocks above its mmap threshold with fresh ``mmap`` calls and returns
freed memory at the top of the heap to the system, so each training step of the hybrid's
head faulted its ~10 MB activations in again: 3.7 million minor page faults in 138 steps.
Keeping freed memory for reuse during the loop cut them to 0.14 million and made a step 20%
faster (bf16 12.7 -> 15.3 steps/s, fp32 9.2 -> 11.1, 6,031 rows x 4 views; the same peak
RSS, 2.49 GB), measured on this project's 2-core machine.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
from collections.abc import Iterator

# mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: While reusing: blocks up to this size come from the heap, and this much free memory at
#: the heap's top is kept rather than given back.
REUSE_BYTES = 512 << 20
#: Afterwards (setting them stops glibc's own adjustment, which would have raised the mmap
#: threshold up to 32 MB as large blocks were freed): what that adjustment converges to,
#: with at most 64 MB of free heap kept.
AFTER_MMAP_BYTES = 32 << 20
AFTER_TRIM_BYTES = 64 << 20


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (has ``mallopt`` and ``malloc_trim``), else None."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


@contextlib.contextmanager
def reuse_freed_memory() -> Iterator[bool]:
    """Within the block, freed memory stays in the process for the next allocation (no
    ``mmap`` per large block, no trimming); afterwards blocks above 32 MB are mapped anew
    again, at most 64 MB of free heap is kept and the rest is returned (``malloc_trim``).

    Yields:
        True where the settings applied (glibc), False elsewhere (nothing changed).
    """
    libc = _glibc()
    applied = bool(
        libc
        and libc.mallopt(_M_MMAP_THRESHOLD, REUSE_BYTES)
        and libc.mallopt(_M_TRIM_THRESHOLD, REUSE_BYTES)
    )
    try:
        yield applied
    finally:
        if applied and libc is not None:
            libc.mallopt(_M_MMAP_THRESHOLD, AFTER_MMAP_BYTES)
            libc.mallopt(_M_TRIM_THRESHOLD, AFTER_TRIM_BYTES)
            libc.malloc_trim(AFTER_TRIM_BYTES)
