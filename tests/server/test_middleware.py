"""NoSniff: every HTTP response says ``X-Content-Type-Options: nosniff``; other scopes pass."""

from __future__ import annotations

import anyio
import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute

from lookalike.server.middleware import NoSniff

HEADER = "x-content-type-options"


async def hello(request):
    return PlainTextResponse("hello")


async def own_header(request):
    return PlainTextResponse("mine", headers={"X-Content-Type-Options": "custom"})


async def stream(request):
    async def chunks():
        yield b"a"
        yield b"b"

    return StreamingResponse(chunks(), media_type="application/octet-stream")


async def boom(request):
    return JSONResponse({"error": "bad"}, status_code=500)


async def echo(websocket):
    await websocket.accept()
    await websocket.send_text(await websocket.receive_text())
    await websocket.close()


def make_app() -> Starlette:
    app = Starlette(
        routes=[
            Route("/hello", hello),
            Route("/own", own_header),
            Route("/stream", stream),
            Route("/boom", boom),
            WebSocketRoute("/ws", echo),
        ]
    )
    app.add_middleware(NoSniff)
    return app


@pytest.fixture(scope="module")
def client():
    with TestClient(make_app(), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/hello", 200),
        ("HEAD", "/hello", 200),
        ("GET", "/stream", 200),
        ("GET", "/boom", 500),
        ("GET", "/missing", 404),
        ("POST", "/hello", 405),
    ],
)
def test_every_http_response_gets_nosniff(client, method, path, status):
    response = client.request(method, path)
    assert response.status_code == status
    assert response.headers[HEADER] == "nosniff"
    assert response.headers.get_list(HEADER) == ["nosniff"]


def test_body_and_other_headers_are_untouched(client):
    response = client.get("/stream")
    assert response.content == b"ab"
    assert response.headers["content-type"] == "application/octet-stream"


def test_a_header_the_app_set_is_kept(client):
    response = client.get("/own")
    assert response.headers.get_list(HEADER) == ["custom"]


def test_websockets_pass_through(client):
    with client.websocket_connect("/ws") as websocket:
        websocket.send_text("ping")
        assert websocket.receive_text() == "ping"


def test_non_http_scopes_reach_the_app_unchanged():
    seen = []

    async def inner(scope, receive, send):
        seen.append((scope["type"], send))

    async def send(message):
        pass

    async def receive():
        return {"type": "lifespan.startup"}

    middleware = NoSniff(inner)
    anyio.run(middleware, {"type": "lifespan"}, receive, send)
    assert seen == [("lifespan", send)]  # the original send, not a wrapper


def test_direct_asgi_call_adds_the_header_once():
    messages = []

    async def inner(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def send(message):
        messages.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    anyio.run(NoSniff(inner), {"type": "http", "headers": []}, receive, send)
    start, body = messages
    assert start["headers"] == [(b"x-content-type-options", b"nosniff")]
    assert body == {"type": "http.response.body", "body": b""}
