"""lookalike.allocator: freed memory kept for reuse inside a training loop.

The speed-up itself (fewer page faults per step) depends on the kernel (transparent huge
pages change the count), so these tests pin the settings made and undone, not a timing.
"""

from __future__ import annotations

import sys

import pytest

from lookalike import allocator
from lookalike.allocator import reuse_freed_memory


class FakeLibc:
    """Records mallopt / malloc_trim calls."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append(("mallopt", param, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad))
        return 1


def test_settings_hold_inside_the_block_and_are_undone_after_even_on_error(monkeypatch):
    libc = FakeLibc()
    monkeypatch.setattr(allocator, "_glibc", lambda: libc)
    with pytest.raises(RuntimeError):
        with reuse_freed_memory() as applied:
            assert applied is True
            assert libc.calls == [
                ("mallopt", -3, allocator.REUSE_BYTES),
                ("mallopt", -1, allocator.REUSE_BYTES),
            ]
            raise RuntimeError("training failed")
    assert libc.calls[2:] == [
        ("mallopt", -3, allocator.AFTER_MMAP_BYTES),
        ("mallopt", -1, allocator.AFTER_TRIM_BYTES),
        ("malloc_trim", allocator.AFTER_TRIM_BYTES),
    ]


def test_reuse_is_a_no_op_where_the_library_is_not_glibc(monkeypatch):
    monkeypatch.setattr(allocator, "_glibc", lambda: None)
    with reuse_freed_memory() as applied:
        assert applied is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc on Linux")
def test_the_real_glibc_takes_the_settings():
    with reuse_freed_memory() as applied:
        assert applied is True
