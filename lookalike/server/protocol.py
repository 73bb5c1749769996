"""The HTTP/1.1 protocol ``lookalike serve`` runs uvicorn with: uvicorn's h11 protocol, whose
own 400 for a request it cannot parse (a request line or header block over h11's 16 KB
limit, a malformed line, an unknown transfer coding) is plain text; here it is the API's JSON
error shape, ``{"error": "bad_request", "detail": ...}``. Named explicitly so the server
never switches parser because an optional package (httptools) happens to be installed.
"""

from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

#: h11's limit on a request line plus headers, in bytes (its default, which uvicorn keeps).
MAX_REQUEST_HEAD_BYTES = 16 * 1024


def bad_request_body(message: str) -> bytes:
    """The JSON error body of a request the HTTP parser refused."""
    detail = (
        f"the request could not be parsed as HTTP/1.1 ({message.rstrip('.').lower()}); "
        f"the request line and headers may be at most {MAX_REQUEST_HEAD_BYTES // 1024} KB"
    )
    return json.dumps({"error": "bad_request", "detail": detail}).encode()


class JsonErrorH11Protocol(H11Protocol):
    """uvicorn's h11 protocol answering unparsable requests with a JSON 400."""

    def send_400_response(self, msg: str) -> None:
        """Send the 400 as JSON and close the connection (as uvicorn does)."""
        body = bad_request_body(msg)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"connection", b"close"),
        ]
        event = h11.Response(status_code=400, headers=headers, reason=b"Bad Request")
        self.transport.write(self.conn.send(event))
        self.transport.write(self.conn.send(h11.Data(data=body)))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        self.transport.close()


__all__ = ["MAX_REQUEST_HEAD_BYTES", "JsonErrorH11Protocol", "bad_request_body"]
