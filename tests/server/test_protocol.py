"""The HTTP protocol of `lookalike serve` (server/protocol.py): requests the HTTP parser
refuses get the JSON error shape, over a real socket to a real server."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest

from lookalike.server.protocol import bad_request_body
from tests.server.conftest import running_server


def _raw(url: str, request: bytes, piece: int = 0) -> bytes:
    """Send ``request`` (in pieces of ``piece`` bytes, pausing between them, when given: the
    parser then sees an incomplete request grow past its limit) and read the answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        if piece:
            for start in range(0, len(request), piece):
                try:
                    sock.sendall(request[start : start + piece])
                except OSError:
                    break  # the server answered and closed: read what it said
                time.sleep(0.02)
        else:
            sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_bad_request_body_is_the_json_shape():
    body = json.loads(bad_request_body("Invalid HTTP request received."))
    assert body["error"] == "bad_request" and "16 KB" in body["detail"]


@pytest.fixture(scope="module")
def server(tiny_bundle, tmp_path_factory):
    with running_server(tiny_bundle, tmp_path_factory.mktemp("protocol")) as url:
        yield url


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /api/items/" + b"x" * 100_000 + b" HTTP/1.1\r\nHost: a\r\n\r\n",  # 100 KB line
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"y" * 40_000 + b"\r\n\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
        b"POST /api/recommend HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
    ],
)
def test_unparsable_requests_get_json_400(server, request_bytes):
    answer = _raw(server, request_bytes, piece=4096)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body)["error"] == "bad_request"
    # ... and the server goes on serving.
    health = _raw(server, b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert health.startswith(b"HTTP/1.1 200")


def test_a_long_request_line_arriving_at_once_is_a_short_json_404(server):
    """When the whole request arrives in one read the parser takes it; the 404 is JSON and
    does not echo the 100 KB id."""
    huge = b"x" * 100_000
    answer = _raw(
        server, b"GET /api/items/" + huge + b" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] in (b"400", b"404"), head
    assert len(body) < 400 and json.loads(body)["error"] in ("bad_request", "unknown_item")
