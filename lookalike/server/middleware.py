"""ASGI middleware of the app (pure ASGI, so upload streaming is untouched)."""

from __future__ import annotations

import json

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class NoSniff:
    """``X-Content-Type-Options: nosniff`` on every response, so browsers never
    second-guess a content type."""

    def __init__(self, app: ASGIApp):
        """Args:
        app: the ASGI app to wrap.
        """
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request through, adding the header to the response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).setdefault("X-Content-Type-Options", "nosniff")
            await send(message)

        await self.app(scope, receive, send_with_header)


#: Content-Encoding values a request body may carry (none means the same as identity).
_IDENTITY = frozenset({b"", b"identity"})


class RefuseEncodedBodies:
    """415 (the JSON error shape) for a request whose body is compressed
    (``Content-Encoding: gzip``, ``br``, ...): the API reads bodies as sent, so a gzip body
    would otherwise reach the parsers as garbage - and decompressing it would let a few KB
    on the wire become gigabytes in memory."""

    def __init__(self, app: ASGIApp):
        """Args:
        app: the ASGI app to wrap.
        """
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 415 for an encoded body; pass everything else through."""
        if scope["type"] == "http":
            encodings = [v.strip().lower() for k, v in scope["headers"] if k == b"content-encoding"]
            refused = [e for e in encodings if e not in _IDENTITY]
            if refused:
                name = refused[0].decode("latin-1")[:40]
                body = json.dumps(
                    {
                        "error": "unsupported_media_type",
                        "detail": f"request bodies with Content-Encoding {name!r} are not "
                        "accepted; send the body uncompressed",
                    }
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 415,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"x-content-type-options", b"nosniff"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
