"""The memory guard for uploads in flight: decodes share a stated budget of memory.

Every decode the server runs (an uploaded photo, a profile's liked photos, an added item,
a thumbnail) first reserves what it will need from one :class:`DecodeBudget`:
``width x height x`` :data:`DECODE_BYTES_PER_PIXEL` of the image its header declares (the
real size of icon containers' embedded images; :func:`decode_cost`). Reservations that do
not fit wait for others to finish; one that waits longer than ``wait_s`` is refused with
503 ``busy`` (the JSON error shape, with ``Retry-After``), so N simultaneous large-but-legal
photos take at most the budget, never N times their size. A single image larger than the
whole budget (possible only when the budget is set below what one image at the pixel limit
needs) runs alone.

The default budget, :data:`DECODE_BUDGET_BYTES` = 512 MB, holds about five 12-megapixel
photos decoding at once (the pixel limit, 40 MP, needs 320 MB alone); ``create_app``'s
``decode_budget_bytes`` and ``lookalike serve --decode-budget-mb`` change it. The budget
covers decode buffers; upload bodies are bounded separately (``--max-upload-mb`` each).
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections.abc import Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image

from lookalike.imaging.decode import embedded_frame_sizes
from lookalike.server.errors import ApiError

#: The default memory budget of all decodes in flight, in bytes.
DECODE_BUDGET_BYTES = 512 * 2**20
#: Peak bytes per declared pixel of one decode, letterboxing included (measured: RGBA PNG
#: with transparency composited on white is the worst common case, about 8; see
#: docs/security.md).
DECODE_BYTES_PER_PIXEL = 8
#: The least a decode reserves (headers, small buffers).
MIN_DECODE_BYTES = 2**20
#: Seconds a decode waits for room before the request gets 503.
DECODE_WAIT_S = 30.0

T = TypeVar("T")


class DecodeBusyError(ApiError):
    """No room in the decode budget within the wait: 503 ``busy`` with ``Retry-After``."""

    def __init__(self, wait_s: float):
        """Args:
        wait_s: how long the request waited.
        """
        super().__init__(
            503,
            "busy",
            f"the server is decoding as many photos as its memory budget allows and none "
            f"finished within {wait_s:g}s; try again shortly",
            headers={"Retry-After": "5"},
        )


class DecodeBudget:
    """A counting budget of bytes shared by threads (decodes run in worker threads).

    ``in_use`` and ``peak`` (the most ever reserved at once) are for tests and logs.
    """

    def __init__(self, budget_bytes: int = DECODE_BUDGET_BYTES, wait_s: float = DECODE_WAIT_S):
        """Args:
        budget_bytes: bytes that reservations in flight may add up to.
        wait_s: seconds a reservation waits for room before :class:`DecodeBusyError`.

        Raises:
            ValueError: a non-positive budget or a negative wait.
        """
        if budget_bytes < 1:
            raise ValueError(f"the decode budget must be positive, got {budget_bytes}")
        if wait_s < 0:
            raise ValueError(f"the decode wait must be >= 0, got {wait_s}")
        self.budget_bytes = int(budget_bytes)
        self.wait_s = wait_s
        self.in_use = 0
        self.peak = 0
        self.refused = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def reserve(self, nbytes: int) -> Iterator[None]:
        """Hold ``nbytes`` of the budget for the ``with`` block (blocking; call from a
        worker thread). A reservation over the whole budget waits until nothing else is
        held and then runs alone.

        Raises:
            DecodeBusyError: no room within ``wait_s`` seconds.
        """
        nbytes = max(MIN_DECODE_BYTES, int(nbytes))
        deadline = time.monotonic() + self.wait_s
        with self._cond:
            while self.in_use and self.in_use + nbytes > self.budget_bytes:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.refused += 1
                    raise DecodeBusyError(self.wait_s)
                self._cond.wait(left)
            self.in_use += nbytes
            self.peak = max(self.peak, self.in_use)
        try:
            yield
        finally:
            with self._cond:
                self.in_use -= nbytes
                self._cond.notify_all()

    def bound(self, nbytes: int, fn: Callable[..., T]) -> Callable[..., T]:
        """``fn`` run inside :meth:`reserve` of ``nbytes`` (for ``ServedCatalog.run``)."""

        @wraps(fn)
        def run(*args: Any, **kwargs: Any) -> T:
            with self.reserve(nbytes):
                return fn(*args, **kwargs)

        return run


def decode_cost(source: bytes | str | Path) -> int:
    """Bytes a decode of ``source`` (encoded bytes or a file) reserves: its declared
    pixels (for icon containers, their largest embedded image) times
    :data:`DECODE_BYTES_PER_PIXEL`. Unreadable headers cost the minimum: the decoder
    refuses them before allocating pixels."""
    try:
        with contextlib.ExitStack() as stack:
            if isinstance(source, bytes | bytearray | memoryview):
                fp = io.BytesIO(source)
            else:
                fp = stack.enter_context(open(source, "rb"))
            fmt, sizes = embedded_frame_sizes(fp)
            if fmt:
                # Pillow decodes an icon while opening it; never open one to measure it.
                pixels = max((w * h for w, h in sizes), default=0)
            else:
                with Image.open(fp) as image:
                    pixels = image.size[0] * image.size[1]
    except Exception:  # noqa: BLE001 - anything unreadable is refused by the decoder
        return MIN_DECODE_BYTES
    return max(MIN_DECODE_BYTES, pixels * DECODE_BYTES_PER_PIXEL)


__all__ = [
    "DECODE_BUDGET_BYTES",
    "DECODE_BYTES_PER_PIXEL",
    "DECODE_WAIT_S",
    "MIN_DECODE_BYTES",
    "DecodeBudget",
    "DecodeBusyError",
    "decode_cost",
]
