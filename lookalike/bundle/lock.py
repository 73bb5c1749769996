"""The bundle's writer lock (``BUNDLE/.lock``): one writer at a time."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from lookalike.bundle.layout import LOCK_FILE, LOCK_TIMEOUT, BundleBusyError, BundleError


@contextlib.contextmanager
def bundle_lock(bundle_dir: str | Path, timeout: float | None = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the bundle's exclusive writer lock (``BUNDLE/.lock``) for the ``with`` block.

    Writers (builds into an existing bundle, adds, removes; CLI, server or both) take it
    around read-modify-write, so none interleave and no update is lost. It is an
    ``fcntl.flock``: the kernel drops it when a writer dies, so a killed writer never leaves
    the bundle locked.

    Args:
        bundle_dir: the bundle folder (must exist).
        timeout: seconds to wait for another writer; None waits forever.

    Raises:
        BundleError: no such folder.
        BundleBusyError: still locked after ``timeout`` seconds.
    """
    bundle_dir = Path(bundle_dir)
    if not bundle_dir.is_dir():
        raise BundleError(f"no lookalike bundle at {bundle_dir}")
    fd = os.open(bundle_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise BundleBusyError(
                        f"bundle {bundle_dir} is being updated by another writer; try again"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock
