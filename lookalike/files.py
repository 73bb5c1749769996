"""Small file helpers shared by every layer: content hashes and atomic writes.

Every atomic write goes through :func:`stage_file`: the new content is written to a fresh
temporary file in the target's folder and fsynced, then renamed over the target with
``os.replace``, so a reader sees the old file or the new one, never a torn one.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "DEFAULT_MODE",
    "PRIVATE_MODE",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_with",
    "file_stamp",
    "sha256_file",
    "stage_file",
]

# Permission bits (before the umask) of files made by atomic_write_text/bytes: owner only,
# as tempfile.mkstemp makes them.
PRIVATE_MODE = 0o600
# Permission bits (before the umask) of a file made the usual way (open, fopen).
DEFAULT_MODE = 0o666


def file_stamp(path: str | os.PathLike) -> list:
    """``[path, mtime_ns, size]`` of a file, ``[path, -1, -1]`` when it cannot be read (a
    URI, a missing file): what cache keys hold so that a changed file changes the key."""
    try:
        stat = os.stat(path)
    except OSError:
        return [str(path), -1, -1]
    return [str(path), stat.st_mtime_ns, stat.st_size]


def sha256_file(path: str | os.PathLike) -> str:
    """sha256 hex digest of a file's bytes, read in chunks (any size)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    """Write text to ``path`` via a temp file in the same folder, fsync and ``os.replace``,
    so a reader sees the old file or the new one, never a torn one."""
    atomic_write_with(path, lambda tmp: _write(tmp, text, "w"), mode=PRIVATE_MODE)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write bytes to ``path`` atomically, as :func:`atomic_write_text` writes text."""
    atomic_write_with(path, lambda tmp: _write(tmp, data, "wb"), mode=PRIVATE_MODE)


def atomic_write_with(
    path: Path, write: Callable[[Path], None], *, mode: int = DEFAULT_MODE
) -> None:
    """Replace ``path`` atomically with what ``write(tmp)`` writes to a temporary path.

    For writers that want a path rather than bytes (``faiss.write_index``, ``np.save``,
    ``PIL.Image.save``). The temp file lies in the same folder (so the rename is atomic),
    is fsynced before ``os.replace`` and is removed if anything fails.

    Args:
        path: the file to create or replace; its folder must exist.
        write: fills the temp path it is given (the file exists and is empty).
        mode: permission bits of the new file before the umask; the default is what
            ``open`` gives, :data:`PRIVATE_MODE` keeps it to its owner.
    """
    tmp = stage_file(path, write, mode=mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def stage_file(path: Path, write: Callable[[Path], None], *, mode: int = DEFAULT_MODE) -> Path:
    """First half of an atomic write: ``write`` a fresh temp file beside ``path``, fsync it.

    Returns the temp path; the caller renames it over ``path`` with ``os.replace`` (or
    unlinks it), which lets several files be staged and then swapped in together. If ``write`` fails
    the temp file is removed. Arguments as in :func:`atomic_write_with`.
    """
    path = Path(path)
    tmp = _create_temp(path, mode)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _create_temp(path: Path, mode: int) -> Path:
    """Create ``.<name>.<random>.tmp`` beside ``path`` exclusively, as mkstemp does."""
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
        except FileExistsError:
            continue
        return tmp


def _write(path: Path, content: str | bytes, mode: str) -> None:
    with open(path, mode) as handle:
        handle.write(content)
