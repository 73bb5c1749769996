"""Typed JSON errors: every failure leaves the server as ``{"error": CODE, "detail": TEXT}``.

``error`` is a short, stable machine code for clients to branch on; ``detail`` is a sentence a
person can act on. Validation failures add ``errors`` (one entry per bad parameter). Nothing
from a traceback ever reaches a response: unexpected exceptions are logged here and answered
with a generic 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lookalike.imaging import ImageDecodeError
from lookalike.recommend import FilterError, UnknownItemError
from lookalike.server.jsonbody import JsonBodyError

log = logging.getLogger("lookalike.server")

# Codes for errors Starlette raises itself (unknown route, wrong method, ...).
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_parameter",
}


#: Longest piece of client input (an id, a key) echoed back in an error message.
MAX_ECHO_CHARS = 80


def shown_id(value: object, limit: int = MAX_ECHO_CHARS) -> str:
    """``repr`` of client input for an error message, cut to ``limit`` characters (with the
    full length said) so a 100 KB id is never echoed back in full."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


class ApiError(Exception):
    """An error the client can fix, answered with ``status`` and a typed JSON body."""

    def __init__(self, status: int, error: str, detail: str, headers: dict[str, str] | None = None):
        """Args:
        status: HTTP status code.
        error: short machine-readable code, e.g. ``"unknown_item"``.
        detail: human-readable explanation of what was wrong.
        headers: extra response headers.
        """
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers


def invalid_image(message: str, filename: str) -> ApiError:
    """422 ``invalid_image`` for an uploaded file the decoder refused: the decoder names
    in-memory sources ``<bytes>``, the answer names the user's file instead."""
    return ApiError(422, "invalid_image", message.replace("<bytes>", repr(filename), 1))


def error_response(
    status: int, error: str, detail: Any, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """The JSON response for an error."""
    return JSONResponse({"error": error, "detail": detail, **extra}, status, headers=headers)


def _location(loc: tuple | list) -> str:
    # ("query", "k") -> "query parameter k"; ("path", "item_id") -> "path parameter item_id".
    parts = [str(p)[:MAX_ECHO_CHARS] for p in loc]
    if len(parts) >= 2 and parts[0] in ("query", "path", "header"):
        return f"{parts[0]} parameter {'.'.join(parts[1:])}"
    return ".".join(parts) or "request"


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, exc.error, exc.detail, exc.headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # exc.errors() may hold exception objects in "ctx"; keep only JSON-safe fields.
    errors = [
        {
            "loc": [str(p)[:MAX_ECHO_CHARS] for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]
    detail = "; ".join(f"{_location(e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
    return error_response(422, "invalid_parameter", detail, errors=errors)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404:
        detail = "not found"
    return error_response(exc.status_code, code, detail, getattr(exc, "headers", None))


async def _filter_error(request: Request, exc: FilterError) -> JSONResponse:
    return error_response(422, "invalid_filter", str(exc))


async def _unknown_item(request: Request, exc: UnknownItemError) -> JSONResponse:
    item_id = exc.args[0] if exc.args else ""
    return error_response(404, "unknown_item", f"unknown item id {shown_id(item_id)}")


async def _json_error(request: Request, exc: JsonBodyError) -> JSONResponse:
    if exc.too_large:
        return error_response(413, "payload_too_large", str(exc))
    return error_response(422, "invalid_json", str(exc))


async def _image_error(request: Request, exc: ImageDecodeError) -> JSONResponse:
    return error_response(422, "invalid_image", str(exc))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The traceback goes to the server log only; the client learns nothing about internals.
    log.exception("unhandled error in %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "internal server error; see the server log")


def install_error_handlers(app: FastAPI) -> None:
    """Register the JSON error handlers on ``app``."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(FilterError, _filter_error)
    app.add_exception_handler(UnknownItemError, _unknown_item)
    app.add_exception_handler(ImageDecodeError, _image_error)
    app.add_exception_handler(JsonBodyError, _json_error)
    app.add_exception_handler(Exception, _unexpected)
