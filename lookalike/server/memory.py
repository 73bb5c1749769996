"""The memory guard for uploads in flight: decodes share a stated budget of memory.

Every decode the server runs (an uploaded photo, a profile's liked photos, an added item,
a thumbnail) first reserves what it will need from one :class:`DecodeBudget`: the pixels
its header declares (for icon containers, their largest embedded image) times the measured
peak bytes per pixel of its kind (:data:`BYTES_PER_PIXEL`, :func:`decode_cost`).
Reservations that do not fit wait for others to finish; one that waits longer than
``wait_s`` is refused with 503 ``busy`` (the JSON error shape, with ``Retry-After``), so N
simultaneous large-but-legal photos take at most the budget, never N times their size. A
single image that needs more than the whole budget runs alone: at the 40 MP pixel limit a
PNG with alpha needs about 880 MB, so the true bound is the budget or the largest single
decode, whichever is larger.

The default budget, :data:`DECODE_BUDGET_BYTES` = 512 MB, holds forty 12-megapixel JPEGs
(decoded at reduced scale), four 12 MP RGB PNGs or two 12 MP PNGs with alpha decoding at
once; ``create_app``'s ``decode_budget_bytes`` and ``lookalike serve --decode-budget-mb``
change it. The budget covers decode buffers; upload bodies are bounded separately
(``--max-upload-mb`` each).
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

from lookalike.imaging.decode import embedded_frame_sizes, enable_heif
from lookalike.server.errors import ApiError

#: The default memory budget of all decodes in flight, in bytes.
DECODE_BUDGET_BYTES = 512 * 2**20
#: Peak bytes per declared pixel of one decode plus letterbox, by kind, rounded up from
#: measurements (docs/security.md): JPEGs decode at reduced scale (0.26 measured);
#: alpha is composited on white through two RGBA copies (20.1); 16-bit values are scaled
#: through int64 arrays (19.3); RGB/CMYK (8.1-8.3); grey and palette (5.1).
BYTES_PER_PIXEL = {"jpeg": 1, "alpha": 22, "sixteen_bit": 21, "colour": 9, "grey": 6}
#: Bytes per pixel of an RGB image (the common case; kept for callers of the old name).
DECODE_BYTES_PER_PIXEL = BYTES_PER_PIXEL["colour"]
#: Bytes per pixel when the kind is unknown (an icon's embedded image): the worst.
WORST_BYTES_PER_PIXEL = max(BYTES_PER_PIXEL.values())
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


def bytes_per_pixel(image: Image.Image) -> int:
    """Peak decode bytes per declared pixel of an opened (not loaded) image, by kind."""
    if image.format in ("JPEG", "MPO"):
        return BYTES_PER_PIXEL["jpeg"]
    mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        return BYTES_PER_PIXEL["alpha"]
    if mode.startswith("I") or mode == "F":
        return BYTES_PER_PIXEL["sixteen_bit"]
    if mode in ("L", "P", "1"):
        return BYTES_PER_PIXEL["grey"]
    return BYTES_PER_PIXEL["colour"]


def decode_cost(source: bytes | str | Path) -> int:
    """Bytes a decode of ``source`` (encoded bytes or a file) reserves: its declared
    pixels times :func:`bytes_per_pixel` (for icon containers, their largest embedded
    image times :data:`WORST_BYTES_PER_PIXEL`). Unreadable headers cost the minimum: the
    decoder refuses them before allocating pixels."""
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
                factor = WORST_BYTES_PER_PIXEL
            else:
                enable_heif()
                with Image.open(fp) as image:
                    pixels = image.size[0] * image.size[1]
                    factor = bytes_per_pixel(image)
    except Exception:  # noqa: BLE001 - anything unreadable is refused by the decoder
        return MIN_DECODE_BYTES
    return max(MIN_DECODE_BYTES, pixels * factor)


__all__ = [
    "BYTES_PER_PIXEL",
    "DECODE_BUDGET_BYTES",
    "DECODE_BYTES_PER_PIXEL",
    "DECODE_WAIT_S",
    "MIN_DECODE_BYTES",
    "WORST_BYTES_PER_PIXEL",
    "DecodeBudget",
    "DecodeBusyError",
    "bytes_per_pixel",
    "decode_cost",
]
