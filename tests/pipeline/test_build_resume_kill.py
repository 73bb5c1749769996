"""A build killed with SIGKILL resumes (issue 27 item 3, "tested by killing it"):
``lookalike build`` runs in a child process and is killed

- during its encode, once the encoded-chunk cache (``BUNDLE/work/encoded``) holds a finished
  chunk: the same command run again finishes with every item, reuses the trained encoder and
  the finished chunks (same files, never rewritten, their rows not decoded again);
- while it writes the bundle (the new version staged, or renamed into ``versions/`` but not
  yet named by ``CURRENT``): the rerun decodes nothing and publishes one whole version.

Either way no bundle is readable before the rerun finishes (it appears atomically).

The child runs the real command line (``lookalike.cli.main``, what ``python -m lookalike``
runs) with changes made in the child only: chunks of 8 photos instead of 256 (so a tiny
catalog has many chunks), a pause after each chunk's encode (so the kill lands while the
encode runs, however fast the machine is), a log of the rows it decodes, and, for the write,
a stop at one step of the bundle writer (its ``_step`` hook) after touching a marker file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.bundle import BundleError, check_bundle, read_bundle
from lookalike.bundle.layout import CURRENT, VERSIONS

PHOTOS = 96
CHUNK = 8
#: Seconds the child sleeps after each chunk's encode: 12 chunks keep the encode running for
#: 3 s or more after the first chunk is written, far longer than the parent's 20 ms poll.
PAUSE = 0.25
#: Seconds to wait for the kill point (the child imports PyTorch and fits first).
KILL_POINT_TIMEOUT = 120
RUN_TIMEOUT = 300

CHILD = f"""
import os, sys, time
import lookalike.pipeline.encoding as encoding
from lookalike.bundle.writer import BundleWriter

encoding.stream_encode_catalog.__kwdefaults__["chunk"] = {CHUNK}
real_decode, real_encode, real_step = encoding.decode_rows, encoding.encode_rows, BundleWriter._step

def decode_rows(batch, *args):
    with open(os.environ["ROWS_LOG"], "a") as log:
        log.write(" ".join(str(int(r)) for r in batch["row"]) + "\\n")
    return real_decode(batch, *args)

def encode_rows(encoder, batch):
    encoded = real_encode(encoder, batch)
    time.sleep(float(os.environ.get("CHUNK_PAUSE", "0")))
    return encoded

def step(self, name):
    if name == os.environ.get("STOP_AT_STEP"):
        open(os.environ["STEP_MARKER"], "w").close()
        time.sleep(600)
    return real_step(self, name)

encoding.decode_rows, encoding.encode_rows, BundleWriter._step = decode_rows, encode_rows, step
from lookalike.cli import main
sys.exit(main(sys.argv[1:]))
"""

FAST_CAE = [
    "--encoder", "cae", "--input-size", "64", "--epochs", "1", "--fit-limit", "16",
    "--set", "channels=[8,16,16,16,16]", "--set", "bottleneck_channels=8",
    "--set", "batch_size=8", "--index", "flat",
]  # fmt: skip


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    """96 distinct 48 px noise photos (no CSV: ids are the file names)."""
    root = tmp_path_factory.mktemp("kill-catalog")
    rng = np.random.default_rng(27)
    for i in range(PHOTOS):
        pixels = rng.integers(0, 256, size=(48, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"p{i:03d}.png")
    return root


def _start(catalog: Path, out: Path, logs: Path, **env: str) -> subprocess.Popen:
    """``lookalike build CATALOG --out OUT`` (fast CAE options) in a child process; ``env``:
    ``CHUNK_PAUSE`` (seconds after each chunk's encode), ``STOP_AT_STEP`` (a writer step)."""
    env = {
        **os.environ, "ROWS_LOG": str(logs / "rows.log"),
        "STEP_MARKER": str(logs / "step.marker"), **env,
    }  # fmt: skip
    argv = [sys.executable, "-c", CHILD, "build", str(catalog), "--out", str(out), *FAST_CAE]
    return subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _kill_when(child: subprocess.Popen, ready: Callable[[], bool], what: str) -> None:
    """Poll until ``ready()``, then SIGKILL ``child``; skip the test when the build finished
    first (the kill point was never reached), fail when it failed or took too long."""
    deadline = time.monotonic() + KILL_POINT_TIMEOUT
    try:
        while not ready() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if child.poll() is not None:
            output = child.stdout.read()
            if child.returncode == 0:
                pytest.skip(f"the build finished before it could be killed {what}")
            pytest.fail(f"the build failed before {what} (exit {child.returncode}):\n{output}")
        assert ready(), f"not {what} within {KILL_POINT_TIMEOUT} s"
        child.send_signal(signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=RUN_TIMEOUT)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL


def _rerun(catalog: Path, out: Path, logs: Path) -> str:
    """The same command again, unhindered: its output (it must succeed)."""
    (logs / "rows.log").unlink(missing_ok=True)
    rerun = _start(catalog, out, logs)
    output, _ = rerun.communicate(timeout=RUN_TIMEOUT)
    assert rerun.returncode == 0, output
    return output


def _chunks(out: Path) -> list[Path]:
    return sorted((out / "work" / "encoded").glob("chunk-*.npz"))


def _rows_decoded(logs: Path) -> list[int]:
    log = logs / "rows.log"
    if not log.exists():
        return []
    return [int(r) for line in log.read_text().splitlines() for r in line.split()]


def _no_version(out: Path) -> bool:
    """True when nothing of a bundle version exists in ``out`` (no CURRENT, no version or
    staging folder)."""
    versions = out / VERSIONS
    return not (out / CURRENT).exists() and (not versions.exists() or not any(versions.iterdir()))


def _assert_whole_bundle(out: Path) -> None:
    """A valid live version with every photo, consistent on disk."""
    data = read_bundle(out)
    assert sorted(data.items.ids) == [f"p{i:03d}" for i in range(PHOTOS)]
    assert data.embeddings.shape[0] == PHOTOS and np.isfinite(data.embeddings).all()
    assert check_bundle(out) == []


def test_a_build_killed_during_its_encode_resumes_from_its_finished_chunks(catalog, tmp_path):
    out = tmp_path / "bundle"
    child = _start(catalog, out, tmp_path, CHUNK_PAUSE=str(PAUSE))

    def ready() -> bool:
        if not _chunks(out):
            return False
        assert _no_version(out), "a bundle version was written before the encode finished"
        return True

    _kill_when(child, ready, "during its encode")

    # Killed: some chunks finished, not all; no bundle (it appears atomically, at the end).
    finished = {path: os.stat(path) for path in _chunks(out)}
    assert 1 <= len(finished) < PHOTOS // CHUNK
    assert _no_version(out)
    with pytest.raises(BundleError):
        read_bundle(out)
    finished_rows = set()
    for path in finished:
        with np.load(path) as data:
            finished_rows |= {int(r) for r in data["row"]}
    assert len(finished_rows) == CHUNK * len(finished)
    # A chunk's write cut by the kill leaves its temporary file: the rerun removes it.
    leftover = out / "work" / "encoded" / ".chunk-cut.npz.0000.tmp"
    leftover.write_bytes(b"half a chunk")

    output = _rerun(catalog, out, tmp_path)

    # The trained encoder and the finished chunks were reused, not made again.
    assert "reusing the trained encoder" in output
    assert sorted(_rows_decoded(tmp_path)) == sorted(set(range(PHOTOS)) - finished_rows)
    for path, before in finished.items():
        after = os.stat(path)
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), path
    assert len(_chunks(out)) == PHOTOS // CHUNK
    assert not leftover.exists()
    _assert_whole_bundle(out)
    versions = [p.name for p in (out / VERSIONS).iterdir()]
    assert len(versions) == 1 and not versions[0].startswith("."), versions


@pytest.mark.parametrize("step", ["staged", "renamed"])
def test_a_build_killed_while_writing_its_bundle_publishes_nothing_and_resumes(
    catalog, tmp_path, step
):
    out = tmp_path / "bundle"
    marker = tmp_path / "step.marker"
    child = _start(catalog, out, tmp_path, STOP_AT_STEP=step)
    _kill_when(child, marker.exists, f"at the writer's {step!r} step")

    # Staged: a hidden staging folder; renamed: a version folder that CURRENT does not name.
    # Either way no bundle can be read.
    assert not (out / CURRENT).exists()
    left = sorted(p.name for p in (out / VERSIONS).iterdir())
    assert len(left) == 1 and left[0].startswith(".staging-" if step == "staged" else "v"), left
    with pytest.raises(BundleError):
        read_bundle(out)
    chunks = {path: os.stat(path).st_mtime_ns for path in _chunks(out)}
    assert len(chunks) == PHOTOS // CHUNK

    output = _rerun(catalog, out, tmp_path)

    assert "reusing the trained encoder" in output
    assert _rows_decoded(tmp_path) == []  # every chunk was finished: nothing decoded again
    assert {path: os.stat(path).st_mtime_ns for path in _chunks(out)} == chunks
    _assert_whole_bundle(out)
    live = (out / CURRENT).read_text().strip()
    assert live not in left  # a new version, not the one the kill left unpublished
