"""A real ``lookalike serve`` in a subprocess on a free loopback port, for tests and benches.

    process, url = start_server(bundle, workdir)      # url: http://127.0.0.1:PORT
    try:
        ...
    finally:
        stop_server(process)

The server's output goes to ``workdir/server.log`` (or ``log_path``); a server that dies or
never answers ``/healthz`` raises :class:`ServerStartError` with the log's tail.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

# Through lookalike.cli.main, the console script's own entry point.
_SERVE = "import sys; from lookalike.cli import main; sys.exit(main())"


class ServerStartError(RuntimeError):
    """The server exited or did not answer ``/healthz`` in time (the message has its log)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Loopback only: never through a proxy named in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _answers(url: str) -> bool:
    try:
        with _OPENER.open(url, timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _log_tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def start_server(
    bundle: str | Path,
    workdir: str | Path,
    *extra_args: str,
    thumbnails: str | Path | None = None,
    log_path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> tuple[subprocess.Popen, str]:
    """Run ``lookalike serve --bundle BUNDLE`` (plus ``extra_args``) on a free port; returns
    (process, base URL) once ``/healthz`` answers.

    Args:
        bundle: the bundle folder.
        workdir: where the thumbnail cache and the log go by default.
        extra_args: more ``lookalike serve`` options.
        thumbnails: thumbnail cache folder (default ``workdir/thumbnails``).
        log_path: the server's output (default ``workdir/server.log``).
        env: the server's whole environment (default: this process's).
        timeout: seconds to wait for ``/healthz``.

    Raises:
        ServerStartError: the server exited first or did not answer within ``timeout``.
    """
    workdir = Path(workdir)
    log_path = Path(log_path) if log_path is not None else workdir / "server.log"
    thumbnails = Path(thumbnails) if thumbnails is not None else workdir / "thumbnails"
    port = free_port()
    command = [
        sys.executable, "-c", _SERVE, "serve", "--bundle", str(bundle), "--port", str(port),
        "--thumbnail-dir", str(thumbnails), "--log-level", "warning", *extra_args,
    ]  # fmt: skip
    log = open(log_path, "wb")  # closed by stop_server
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ if env is None else env)
    )
    process.log_file = log  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stop_server(process)
            raise ServerStartError(
                f"server exited with status {process.returncode}:\n{_log_tail(log_path)}"
            )
        if _answers(f"{url}/healthz"):
            return process, url
        time.sleep(0.2)
    stop_server(process)
    raise ServerStartError(
        f"server at {url} did not answer /healthz within {timeout:.0f}s:\n{_log_tail(log_path)}"
    )


def stop_server(process: subprocess.Popen | None, timeout: float = 10.0) -> None:
    """Stop a server from :func:`start_server` (killed after ``timeout`` seconds; nothing
    when ``process`` is None) and close its log."""
    if process is None:
        return
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log = getattr(process, "log_file", None)
    if log is not None:
        log.close()
