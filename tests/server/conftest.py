"""Fixtures for the server tests: the tiny bundle loaded once, apps over it, a live server,
headless Chromium for the browser tests, and helpers shared by the API tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

import lookalike

UPLOAD_LIMIT = 64 * 1024  # small, so 413 is cheap to provoke
RESULT_FIELDS = {"id", "distance", "rank", "metadata", "image_url", "thumbnail_url"}

# Browser tests: Debian's Chromium (never Playwright's own download); screenshots go here.
CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000


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


@contextmanager
def running_server(bundle: Path, work: Path, *extra_args: str) -> Iterator[str]:
    """:func:`start_server` with thumbnails and log in ``work``; yields the base URL."""
    process, url = start_server(bundle, work / "thumbnails", work / "server.log", *extra_args)
    try:
        yield url
    finally:
        stop_server(process)


# --- API tests --------------------------------------------------------------------------------
def meta(client, item_id: str) -> dict[str, str]:
    return client.get(f"/api/items/{item_id}").json()["metadata"]


def assert_error(response, status: int, error: str, *words: str) -> dict:
    """A typed JSON error with ``status``/``error`` whose detail mentions ``words``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    for word in words:
        assert word.lower() in str(body["detail"]).lower(), body
    assert "Traceback" not in response.text
    return body


# --- browser tests ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium driven by Playwright (skips when either is missing)."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is absent; install it with "
            "`apt-get update && apt-get install -y chromium chromium-driver`"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@contextmanager
def open_page(browser, url: str, *ready_selectors: str) -> Iterator:
    """A page in a fresh 1280x900 context at ``url``, once each of ``ready_selectors`` is
    there; afterwards the context is closed and no JavaScript error may have happened."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    for selector in ready_selectors:
        page.wait_for_selector(selector)
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def phone_context(browser):
    """A 375x740 touch-screen phone context (close it when done)."""
    context = browser.new_context(
        viewport={"width": 375, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
