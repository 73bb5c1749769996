"""Tests for lookalike.files: content hashes and atomic writes."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from lookalike import files
from lookalike.files import (
    atomic_write_bytes,
    atomic_write_text,
    atomic_write_with,
    file_stamp,
    sha256_file,
    stage_file,
)


def leftovers(folder: Path) -> list[str]:
    """Temporary files an atomic write may have left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def umasked(mode: int) -> int:
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def test_sha256_file(tmp_path):
    path = tmp_path / "blob.bin"
    data = os.urandom(200_000)
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_atomic_write_text_and_bytes_create_and_replace(tmp_path):
    text_path, bytes_path = tmp_path / "a.txt", tmp_path / "b.bin"
    atomic_write_text(text_path, "first")
    atomic_write_text(text_path, "second\n")
    atomic_write_bytes(bytes_path, b"\x00\x01")
    assert text_path.read_text() == "second\n"
    assert bytes_path.read_bytes() == b"\x00\x01"
    assert leftovers(tmp_path) == []
    # As tempfile.mkstemp made them: private to the owner.
    assert file_mode(text_path) == umasked(0o600) == file_mode(bytes_path)


def test_atomic_write_with_writes_through_a_path_callback(tmp_path):
    target = tmp_path / "out.dat"
    target.write_bytes(b"old")
    seen: list[Path] = []

    def write(tmp: Path) -> None:
        seen.append(tmp)
        assert tmp.parent == tmp_path and tmp != target and tmp.exists()
        assert target.read_bytes() == b"old", "the target is untouched while writing"
        tmp.write_bytes(b"new content")

    atomic_write_with(target, write)
    assert target.read_bytes() == b"new content"
    assert not seen[0].exists() and leftovers(tmp_path) == []
    # Made as open() makes files (what faiss.write_index or np.save would give).
    assert file_mode(target) == umasked(0o666)


def test_atomic_write_with_fsyncs_before_the_rename(tmp_path, monkeypatch):
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(files.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd)))
    monkeypatch.setattr(
        files.os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))
    )
    atomic_write_with(tmp_path / "x", lambda tmp: tmp.write_text("x"))
    assert events == ["fsync", "replace"]


def test_atomic_write_with_failure_keeps_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")

    def half_write(tmp: Path) -> None:
        tmp.write_text("torn")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write_with(target, half_write)
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == []


def test_atomic_write_with_failed_rename_removes_the_temp(tmp_path):
    target = tmp_path / "folder"
    target.mkdir()
    (target / "inside").write_text("a non-empty folder cannot be replaced by a file")
    with pytest.raises(OSError):
        atomic_write_with(target, lambda tmp: tmp.write_text("x"))
    assert leftovers(tmp_path) == []


def test_stage_file_leaves_the_swap_to_the_caller(tmp_path):
    target = tmp_path / "t.bin"
    tmp = stage_file(target, lambda p: p.write_bytes(b"staged"), mode=0o640)
    assert not target.exists() and tmp.read_bytes() == b"staged"
    assert tmp.name.startswith(".t.bin.") and tmp.name.endswith(".tmp")
    assert file_mode(tmp) == umasked(0o640)
    os.replace(tmp, target)
    assert target.read_bytes() == b"staged"

    def fail(tmp: Path) -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        stage_file(target, fail)
    assert leftovers(tmp_path) == []


def test_file_stamp_changes_with_the_file_and_marks_a_missing_one(tmp_path):
    path = tmp_path / "a.txt"
    assert file_stamp(path) == [str(path), -1, -1]
    path.write_text("abc")
    first = file_stamp(path)
    assert first[0] == str(path) and first[2] == 3
    os.utime(path, ns=(first[1] + 10**9, first[1] + 10**9))
    assert file_stamp(path)[1] == first[1] + 10**9
    assert file_stamp("s3://bucket/key.jpg") == ["s3://bucket/key.jpg", -1, -1]
