"""Fixtures for the server tests: the tiny bundle loaded once, apps over it, a live server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import lookalike

UPLOAD_LIMIT = 64 * 1024  # small, so 413 is cheap to provoke


@pytest.fixture(scope="session")
def recommender(tiny_bundle):
    """The tiny bundle's Recommender, loaded once for all server tests."""
    return lookalike.load(tiny_bundle)


@pytest.fixture(scope="session")
def app_factory(recommender, tiny_bundle) -> Iterator[Callable[..., object]]:
    """``make(**create_app_kwargs)``: an app over the tiny bundle without reloading it."""
    from lookalike.server.app import create_app

    def make(bundle_dir: Path | str = tiny_bundle, **kwargs):
        with pytest.MonkeyPatch.context() as patch:
            # create_app loads through lookalike.load; reuse the loaded bundle (seconds each).
            patch.setattr(lookalike, "load", lambda path: recommender)
            return create_app(bundle_dir, **kwargs)

    yield make


@pytest.fixture(scope="module")
def client(app_factory, tmp_path_factory):
    """TestClient over the tiny bundle with a 64 KB upload limit; 500s come back as responses."""
    from fastapi.testclient import TestClient

    app = app_factory(
        max_upload_bytes=UPLOAD_LIMIT, thumbnail_dir=tmp_path_factory.mktemp("thumbs")
    )
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    """Poll ``url`` until it answers 200; fail early if ``process`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"server at {url} did not come up in {timeout:.0f}s")


def start_server(
    bundle: Path, thumbnails: Path, log_path: Path, *extra_args: str
) -> tuple[subprocess.Popen, str]:
    """Run ``lookalike serve`` (the real CLI) on a free loopback port; returns (process, url)."""
    port = free_port()
    # Not `python -m lookalike.cli`: as __main__ the module's EXTENSIONS list would be a
    # second copy that lookalike.server.cli does not register into.
    code = "import sys; from lookalike.cli import main; sys.exit(main())"
    command = [
        sys.executable,
        "-c",
        code,
        "serve",
        "--bundle",
        str(bundle),
        "--port",
        str(port),
        "--thumbnail-dir",
        str(thumbnails),
        "--log-level",
        "warning",
        *extra_args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the test machine is shared; stay small
    log = open(log_path, "wb")  # closed by stop_server
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    process.log_file = log  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/healthz", process)
    except Exception:
        stop_server(process)
        raise
    return process, url


def stop_server(process: subprocess.Popen) -> None:
    """Stop a server started by :func:`start_server`."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.log_file.close()  # type: ignore[attr-defined]
