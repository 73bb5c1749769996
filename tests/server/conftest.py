"""Fixtures for the server tests: the tiny bundle loaded once, apps over it, a live server,
headless Chromium for the browser tests, and helpers shared by the API tests."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import pytest
from fastapi.testclient import TestClient

import lookalike
from lookalike.recommend import Recommender
from lookalike.server.app import create_app
from lookalike.server.testing import start_server, stop_server

UPLOAD_LIMIT = 64 * 1024  # small, so 413 is cheap to provoke
RESULT_FIELDS = {
    "id",
    "distance",
    "rank",
    "metadata",
    "image_url",
    "thumbnail_url",
    "match",
    "duplicates",
    "photo",
    "photos",
}
ITEM_FIELDS = {"id", "metadata", "image_url", "thumbnail_url", "photos"}
API_KEY = "hostile-test-key-0123456789"
SECRET = "TOP-SECRET-CONTENT"

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

    def make(bundle_dir: Path | str = tiny_bundle, **kwargs):
        with pytest.MonkeyPatch.context() as patch:
            # create_app loads through Recommender.from_bundle; reuse the loaded bundle
            # (seconds each).
            patch.setattr(Recommender, "from_bundle", staticmethod(lambda path: recommender))
            return create_app(bundle_dir, **kwargs)

    yield make


@pytest.fixture(scope="module")
def client(app_factory, tmp_path_factory):
    """TestClient over the tiny bundle with a 64 KB upload limit; 500s come back as responses."""
    app = app_factory(
        max_upload_bytes=UPLOAD_LIMIT, thumbnail_dir=tmp_path_factory.mktemp("thumbs")
    )
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def keyed(app_factory, bundle_copy, tmp_path):
    """TestClient over a private bundle copy with updates enabled."""
    app = app_factory(
        bundle_copy,
        api_key=API_KEY,
        api_key_env=None,
        max_upload_bytes=UPLOAD_LIMIT,
        thumbnail_dir=tmp_path / "thumbs",
    )
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def secret(tmp_path) -> Path:
    """A file next to the bundle that no request may ever read."""
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    return path


@pytest.fixture(scope="module")
def red_circle(tiny_catalog) -> bytes:
    """A catalog photo: item 101, a red circle."""
    return (tiny_catalog / "Apparel" / "101.jpg").read_bytes()


def server_env() -> dict[str, str]:
    """This process's environment for a server subprocess, with one OpenMP thread (the test
    machine is shared: servers started by the tests stay small)."""
    return {**os.environ, "OMP_NUM_THREADS": "1"}


@contextmanager
def running_server(bundle: Path, work: Path, *extra_args: str) -> Iterator[str]:
    """:func:`start_server` with thumbnails and log in ``work``; yields the base URL."""
    process, url = start_server(bundle, work, *extra_args, env=server_env())
    try:
        yield url
    finally:
        stop_server(process)


# --- API tests --------------------------------------------------------------------------------
def meta(client, item_id: str) -> dict[str, str]:
    return client.get(f"/api/items/{item_id}").json()["metadata"]


def upload(client, data: bytes, name="photo.jpg", ctype="image/jpeg", query=""):
    """``POST /api/recommend`` with ``data`` as the photo."""
    return client.post(f"/api/recommend{query}", files={"image": (name, data, ctype)})


def asgi_request(
    app,
    method: str,
    path: str,
    query: bytes = b"",
    headers: dict[str, str] | None = None,
    body: Iterable[bytes] = (),
) -> tuple[int, bytes]:
    """A request straight through ASGI: the path arrives exactly as given (HTTP clients
    normalise ``..`` segments away) and the body is pulled chunk by chunk as the app asks
    for it (the test client would read it all first), like a chunked upload."""
    messages: list[dict] = []
    chunks = iter(body)

    async def receive() -> dict:
        chunk = next(chunks, None)
        return {"type": "http.request", "body": chunk or b"", "more_body": chunk is not None}

    async def send(message: dict) -> None:
        messages.append(message)

    sent = {"x-api-key": API_KEY} if headers is None else headers
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"testserver")]
        + [(k.lower().encode(), v.encode()) for k, v in sent.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    anyio.run(app, scope, receive, send)
    body_out = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return messages[0]["status"], body_out


def chunked_body(boundary: str, chunks: int, counter: list[int]):
    """A multipart upload of ``chunks`` 16 KB pieces, counting in ``counter[0]`` how many
    the app pulled."""
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    yield head
    for _ in range(chunks):
        counter[0] += 1
        yield bytes(16 * 1024)
    yield f"\r\n--{boundary}--\r\n".encode()


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


#: A phone's viewport (CSS pixels), as the browser tests use it.
PHONE = {"width": 390, "height": 844}


def phone_context(browser, **options):
    """A 390x844 touch-screen phone context (close it when done); ``options`` go to
    ``new_context``."""
    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        **options,
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
