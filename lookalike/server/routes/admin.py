"""Catalog updates (need the API key): ``POST /api/items`` adds an item (one photo, or a
product with several: up to :data:`MAX_ITEM_PHOTOS` ``image`` parts) and
``DELETE /api/items/{id}`` removes an item, each as a new bundle version that the app then
serves. The work is :mod:`lookalike.updates`'; this module checks the request and shapes JSON.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request

from lookalike.bundle import THUMBNAILS_DIR
from lookalike.recommend import UnknownItemError
from lookalike.server.deps import State, UploadLimit, require_api_key
from lookalike.server.errors import ApiError, shown_id
from lookalike.server.jsonbody import JsonBodyError, parse_json
from lookalike.server.memory import decode_cost
from lookalike.server.schemas import (
    BINARY,
    BUSY_ERROR,
    ERROR_RESPONSES,
    KEY_ERRORS,
    UPLOAD_ERRORS,
    Added,
    Removed,
    error_doc,
    item_json,
    item_urls,
    request_body,
)
from lookalike.server.state import ServerState
from lookalike.server.uploads import read_image_uploads
from lookalike.updates import (
    BundleBusyError,
    NewItem,
    UpdateError,
    add_new_items,
    add_photos,
    check_item_id,
    normalize_item_id,
    remove_items,
)

MAX_METADATA_FIELDS = 64
MAX_COLUMN_LENGTH = 100
MAX_VALUE_LENGTH = 2000
#: The JSON ``metadata`` field: every column at its longest, with room for escapes.
MAX_METADATA_JSON_BYTES = 2 * MAX_METADATA_FIELDS * (MAX_COLUMN_LENGTH + MAX_VALUE_LENGTH)
# Query parameters of the endpoints: a metadata column with one of these names could never
# be filtered on, so uploads may not create one.
RESERVED_COLUMNS = frozenset({"k", "offset", "limit", "random"})
# An update waits this long for another writer's lock before answering 503.
UPDATE_LOCK_TIMEOUT = 30.0
#: The most photos one ``POST /api/items`` may carry (each at most the upload limit, so the
#: body at most this many times it).
MAX_ITEM_PHOTOS = 10

router = APIRouter(dependencies=[Depends(require_api_key)])


@router.post(
    "/api/items",
    status_code=201,
    response_model=Added,
    responses={
        **KEY_ERRORS,
        409: error_doc("the id is already in the catalog"),
        **UPLOAD_ERRORS,
        422: error_doc("unreadable image, bad id or metadata"),
        **BUSY_ERROR,
    },
    openapi_extra=request_body(
        {
            "image": {
                "type": "array",
                "items": BINARY,
                "maxItems": MAX_ITEM_PHOTOS,
                "description": "the photo; several image parts make one product with those "
                f"photos, in order (at most {MAX_ITEM_PHOTOS}, all added or none)",
            },
            "id": {"type": "string"},
            "metadata": {"type": "string", "description": "JSON object of column: value"},
        },
        required=["image"],
        additionalProperties={"type": "string"},
    ),
)
async def add_item(request: Request, state: State, max_upload_bytes: UploadLimit) -> dict[str, Any]:
    """Add an item to the catalog as a new bundle version (needs the API key).

    Multipart: ``image`` (the file; repeated, a product with several photos, numbered in
    order, added in one update or not at all), optional ``id`` (default: derived from the
    first image's sha256), metadata as extra text fields and/or a JSON object in
    ``metadata``.
    """
    photos, form_fields = await read_image_uploads(
        request, max_upload_bytes, MAX_ITEM_PHOTOS, max_fields=MAX_METADATA_FIELDS + 2
    )
    item_id, metadata = item_fields(form_fields)
    # Only a missing or empty id means "derive one"; whitespace or invisible characters
    # alone are an id, which check_item_id refuses.
    if item_id is None or item_id == "":
        item_id = "u" + hashlib.sha256(photos[0].data).hexdigest()[:15]
    item_id = checked_item_id(item_id)
    live = state.live
    # The decodes wait for room in the server's memory budget (server/memory.py).
    cost = sum(decode_cost(photo.data) for photo in photos)
    common = {
        "store_images": True,
        "lock_timeout": UPDATE_LOCK_TIMEOUT,
        # The served encoder when the version's encoder is the same files (updates link
        # them): saves loading a model per upload.
        "encoder_loader": live.encoder_for,
        # Orphaned thumbnails go too, wherever this server keeps them.
        "thumbnail_dirs": _thumbnail_dirs(state),
    }
    with update_errors():
        if len(photos) == 1:
            new = NewItem(item_id, photos[0].data, metadata, name=photos[0].filename)
            report = await state.run_update(
                state.decode_budget.bound(cost, add_new_items), state.bundle_dir, [new], **common
            )
        else:
            report = await state.run_update(
                state.decode_budget.bound(cost, add_photos),
                state.bundle_dir,
                item_id,
                [photo.data for photo in photos],
                metadata,
                new_product=True,
                all_or_nothing=True,
                **common,
            )
    if report.skipped:
        skip = report.skipped[0]
        if skip.code == "id_exists":
            # The library's reason names the CLI's --replace; say the API's way instead.
            raise ApiError(
                409,
                "id_exists",
                f"id {shown_id(item_id)} is already in the catalog: remove it first with "
                f"DELETE {item_urls(request, item_id)['image_url'].rsplit('/', 1)[0]} "
                "or send another id",
            )
        if len(photos) > 1:
            # add_photos names byte sources "photo N": name the file the client sent.
            number = int(skip.name.rsplit(" ", 1)[1]) if skip.name.startswith("photo ") else 0
            if 1 <= number <= len(photos):
                shown = photos[number - 1].filename
                reason = skip.reason.replace(f" {skip.name!r}", "")
                raise ApiError(
                    422, skip.code, f"image {number} ({shown[:80]!r}): {reason}; nothing was added"
                )
        raise ApiError(422, skip.code, skip.reason)
    cat = live.catalog
    if report.version is not None:
        await anyio.to_thread.run_sync(live.refresh, True)
        cat = live.catalog
    # The item from the catalog now served (a later update may already have replaced it).
    try:
        item = item_json(request, cat.recommender.item(cat.row(item_id)))
    except UnknownItemError:
        item = {"id": item_id, "metadata": metadata, **item_urls(request, item_id)}
    return {
        "item": item,
        "version": report.version,
        "items": report.items,
        "duplicates": [vars(d) for d in report.duplicates],
    }


@router.delete(
    "/api/items/{item_id}",
    response_model=Removed,
    responses={
        **ERROR_RESPONSES,
        **KEY_ERRORS,
        409: error_doc("the last item cannot be removed"),
        **BUSY_ERROR,
    },
)
async def remove_item(item_id: str, state: State) -> dict[str, Any]:
    """Remove an item from the catalog as a new bundle version (needs the API key)."""
    with update_errors(conflicts=True):
        report = await state.run_update(
            remove_items,
            state.bundle_dir,
            [item_id],
            lock_timeout=UPDATE_LOCK_TIMEOUT,
            thumbnail_dirs=_thumbnail_dirs(state),
        )
    if report.unknown_ids:
        raise UnknownItemError(item_id)
    await anyio.to_thread.run_sync(state.live.refresh, True)
    return {"id": item_id, "version": report.version, "items": report.items}


def checked_item_id(item_id: str) -> str:
    """``item_id`` normalised as the library stores ids.

    Raises:
        ApiError: 422 ``invalid_id`` naming why the library would refuse it.
    """
    item_id = normalize_item_id(item_id)
    if (reason := check_item_id(item_id)) is not None:
        raise ApiError(422, "invalid_id", f"invalid id {shown_id(item_id)}: {reason}")
    return item_id


@contextmanager
def update_errors(conflicts: bool = False) -> Iterator[None]:
    """Map the library's update errors to API errors: another writer holding the bundle is
    503 ``busy`` (retry in 5 s); with ``conflicts``, any other refused update is 409
    ``conflict`` (without, it propagates as before)."""
    try:
        yield
    except BundleBusyError as exc:
        raise ApiError(503, "busy", str(exc), headers={"Retry-After": "5"}) from None
    except UpdateError as exc:
        if not conflicts:
            raise
        raise ApiError(409, "conflict", str(exc)) from None


def _thumbnail_dirs(state: ServerState) -> list[Path]:
    """The bundle's own thumbnail folder and this server's cache (when elsewhere)."""
    return list(dict.fromkeys([state.bundle_dir / THUMBNAILS_DIR, state.thumbnails.directory]))


def item_fields(fields: dict[str, str]) -> tuple[str | None, dict[str, str]]:
    """The optional ``id`` and the metadata of an upload's form fields.

    Metadata comes from a JSON object in the ``metadata`` field and/or from every other
    text field (form fields win). Values become strings.

    Raises:
        ApiError: 422 for malformed JSON, nested values, or too many / too long columns.
    """
    fields = dict(fields)
    item_id = fields.pop("id", None)
    metadata: dict[str, str] = {}
    raw = fields.pop("metadata", None)
    if raw is not None and raw.strip():
        try:
            parsed = parse_json(raw, "the metadata field", max_bytes=MAX_METADATA_JSON_BYTES)
        except JsonBodyError as exc:
            raise ApiError(
                422,
                "invalid_metadata",
                f'{exc}; metadata must be a JSON object like {{"Colour": "Red"}}',
            ) from None
        if not isinstance(parsed, dict):
            raise ApiError(
                422, "invalid_metadata", 'metadata must be a JSON object like {"Colour": "Red"}'
            )
        for key, value in parsed.items():
            if isinstance(value, dict | list) or value is None:
                raise ApiError(
                    422,
                    "invalid_metadata",
                    f"metadata {shown_id(key)} must be a string or a number",
                )
            metadata[str(key)] = value if isinstance(value, str) else json.dumps(value)
    metadata.update(fields)
    if len(metadata) > MAX_METADATA_FIELDS:
        raise ApiError(
            422, "invalid_metadata", f"at most {MAX_METADATA_FIELDS} metadata columns per item"
        )
    for key, value in metadata.items():
        if not key.strip() or len(key) > MAX_COLUMN_LENGTH or not key.isprintable():
            raise ApiError(
                422,
                "invalid_metadata",
                f"metadata column names must be 1..{MAX_COLUMN_LENGTH} printable characters",
            )
        if key in RESERVED_COLUMNS:
            raise ApiError(
                422,
                "invalid_metadata",
                f"metadata column {shown_id(key)} clashes with a query parameter",
            )
        if len(value) > MAX_VALUE_LENGTH or "\x00" in value:
            raise ApiError(
                422,
                "invalid_metadata",
                f"metadata {shown_id(key)} must be at most {MAX_VALUE_LENGTH} characters, "
                "without NUL",
            )
    return item_id, {k.strip(): v.strip() for k, v in metadata.items()}
