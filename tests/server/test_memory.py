"""The memory guard for decodes in flight (server/memory.py): reservations never add up past
the budget, excess waits or gets 503 with the JSON shape, costs come from headers (never
from opening an icon), and N simultaneous large-but-legal photos stay within it."""

from __future__ import annotations

import io
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from lookalike.server.memory import (
    BYTES_PER_PIXEL,
    DECODE_BYTES_PER_PIXEL,
    MIN_DECODE_BYTES,
    WORST_BYTES_PER_PIXEL,
    DecodeBudget,
    DecodeBusyError,
    decode_cost,
)

MB = 2**20


def encoded(width: int, height: int, mode: str = "RGB", fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height)).save(buffer, fmt)
    return buffer.getvalue()


def png(width: int, height: int) -> bytes:
    return encoded(width, height)


def test_reservations_never_exceed_the_budget():
    budget = DecodeBudget(10 * MB, wait_s=10)
    inside, worst = [0], [0]
    lock = threading.Lock()

    def decode(nbytes: int) -> None:
        with budget.reserve(nbytes):
            with lock:
                inside[0] += nbytes
                worst[0] = max(worst[0], inside[0])
            time.sleep(0.02)
            with lock:
                inside[0] -= nbytes

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(decode, [4 * MB] * 12 + [3 * MB] * 6))
    assert worst[0] <= 10 * MB and budget.peak <= 10 * MB
    assert worst[0] >= 7 * MB  # and the room is used: two decodes at once
    assert budget.in_use == 0


def test_one_reservation_over_the_budget_runs_alone():
    budget = DecodeBudget(4 * MB, wait_s=5)
    with budget.reserve(10 * MB):
        assert budget.in_use == 10 * MB
    assert budget.in_use == 0


def test_no_room_in_time_is_503_busy():
    budget = DecodeBudget(4 * MB, wait_s=0.1)
    with budget.reserve(3 * MB):
        started = time.monotonic()
        with pytest.raises(DecodeBusyError) as info:
            with budget.reserve(3 * MB):
                pass
    assert 0.1 <= time.monotonic() - started < 2
    err = info.value
    assert (err.status, err.error, err.headers) == (503, "busy", {"Retry-After": "5"})
    assert budget.refused == 1 and budget.in_use == 0


def test_bad_budgets_are_refused():
    with pytest.raises(ValueError, match="positive"):
        DecodeBudget(0)
    with pytest.raises(ValueError, match=">= 0"):
        DecodeBudget(MB, wait_s=-1)


def test_decode_cost_from_headers():
    assert decode_cost(png(1000, 500)) == 1000 * 500 * DECODE_BYTES_PER_PIXEL
    # By kind: alpha and 16-bit cost most, JPEGs least (decoded at reduced scale).
    for mode, fmt, kind in [
        ("RGBA", "PNG", "alpha"),
        ("I;16", "PNG", "sixteen_bit"),
        ("L", "PNG", "grey"),
        ("RGB", "JPEG", "jpeg"),
        ("RGB", "TIFF", "colour"),
    ]:
        assert decode_cost(encoded(2000, 1000, mode, fmt)) == 2_000_000 * BYTES_PER_PIXEL[kind]
    assert decode_cost(b"not an image") == MIN_DECODE_BYTES
    # An ICO is measured by its embedded image's own header, never opened (Pillow decodes
    # an ICO while opening it).
    payload = bytearray(png(1, 1))
    payload[16:24] = struct.pack(">II", 13000, 13000)
    entry = struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(payload), 22)
    ico = struct.pack("<HHH", 0, 1, 1) + entry + bytes(payload)
    assert decode_cost(ico) == 13000 * 13000 * WORST_BYTES_PER_PIXEL


def test_simultaneous_large_photos_stay_within_the_budget(app_factory, tmp_path):
    """Six 2.5-megapixel PNGs at once (22.5 MB each by the estimate) against a 48 MB
    budget: never more than two decode together, every request answers 200 or a JSON 503."""
    budget_bytes = 48 * MB
    # Six searches may run at once: only the budget holds them back.
    app = app_factory(
        decode_budget_bytes=budget_bytes,
        max_concurrent_queries=6,
        thumbnail_dir=tmp_path / "thumbs",
    )
    budget = app.state.lookalike.decode_budget
    photo = png(2000, 1250)
    assert decode_cost(photo) == 2_500_000 * DECODE_BYTES_PER_PIXEL
    with TestClient(app, raise_server_exceptions=False) as client:

        def send(_: int):
            return client.post("/api/recommend", files={"image": ("big.png", photo, "image/png")})

        with ThreadPoolExecutor(6) as pool:
            responses = list(pool.map(send, range(6)))
    for response in responses:
        assert response.status_code in (200, 503), response.text
        if response.status_code == 503:
            assert response.json()["error"] == "busy"
    assert sum(r.status_code == 200 for r in responses) >= 1
    assert decode_cost(photo) <= budget.peak <= budget_bytes and budget.in_use == 0
