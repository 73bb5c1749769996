"""FastAPI dependencies: what a route needs, read from the app's :class:`ServerState`
(``request.app.state.lookalike``), plus the API-key check that guards catalog updates.

Use them as annotated parameters (``cat: CurrentCatalog``) or route dependencies
(``dependencies=[Depends(require_api_key)]``). They take only the request, so they add
nothing to the OpenAPI document; all are ``async`` so none costs a worker thread.
"""

from __future__ import annotations

import hmac
import os
from typing import Annotated

from fastapi import Depends, Request

from lookalike.server.errors import ApiError
from lookalike.server.interactions import InteractionSource
from lookalike.server.memory import DecodeBudget
from lookalike.server.state import ServedCatalog, ServerState, state_of
from lookalike.server.thumbnails import ThumbnailCache

API_KEY_ENV = "LOOKALIKE_API_KEY"


async def server_state(request: Request) -> ServerState:
    """The app's shared state."""
    return state_of(request.app)


async def current_catalog(request: Request) -> ServedCatalog:
    """The catalog to answer this request with (reloaded first if the bundle moved on)."""
    return await state_of(request.app).live.acurrent()


async def upload_limit(request: Request) -> int:
    """The largest accepted photo upload, in bytes."""
    return state_of(request.app).max_upload_bytes


async def thumbnail_cache(request: Request) -> ThumbnailCache:
    """The app's thumbnail cache."""
    return state_of(request.app).thumbnails


async def interaction_source(request: Request) -> InteractionSource | None:
    """The interaction log blended into profile recommendations (None when not enabled)."""
    return state_of(request.app).interactions


async def decode_budget(request: Request) -> DecodeBudget:
    """The memory budget every decode reserves from (server/memory.py)."""
    return state_of(request.app).decode_budget


def configured_api_key(api_key: str | None, env: str | None = API_KEY_ENV) -> str | None:
    """The API key: ``api_key`` if given, else the environment variable ``env`` (blank
    values count as unset)."""
    key = api_key if api_key is not None else (os.environ.get(env) if env else None)
    return key if key and key.strip() else None


def check_api_key(request: Request, api_key: str | None) -> None:
    """Refuse a catalog update without the right key (before any of its body is read).

    Raises:
        ApiError: 403 when no key is configured (updates disabled), 401 when the request's
            ``X-API-Key`` / ``Authorization: Bearer`` key is missing or wrong.
    """
    if api_key is None:
        raise ApiError(
            403,
            "updates_disabled",
            "catalog updates are disabled on this server; start it with an API key "
            f"(environment variable {API_KEY_ENV} or `lookalike serve --api-key-env NAME`)",
        )
    supplied = request.headers.get("x-api-key")
    if supplied is None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        supplied = token.strip() if scheme.lower() == "bearer" else None
    # Constant-time comparison of bytes (header text may be any Latin-1, not just ASCII).
    if not supplied or not hmac.compare_digest(supplied.encode(), api_key.encode()):
        raise ApiError(
            401,
            "unauthorized",
            "a valid API key is required: send it as an X-API-Key header or "
            "Authorization: Bearer KEY",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def require_api_key(request: Request) -> None:
    """:func:`check_api_key` against the app's configured key."""
    check_api_key(request, state_of(request.app).api_key)


State = Annotated[ServerState, Depends(server_state)]
CurrentCatalog = Annotated[ServedCatalog, Depends(current_catalog)]
UploadLimit = Annotated[int, Depends(upload_limit)]
Thumbnails = Annotated[ThumbnailCache, Depends(thumbnail_cache)]
Interactions = Annotated[InteractionSource | None, Depends(interaction_source)]
Budget = Annotated[DecodeBudget, Depends(decode_budget)]
