"""Photo updates of products (need the API key): ``POST /api/items/{id}/photos`` adds a photo
to a product (creating the product with that photo and the request's metadata when it is
not there), ``DELETE /api/items/{id}/photos/{number}`` removes one photo. Each is a new
bundle version, as :mod:`lookalike.server.routes.admin`'s updates; removing a whole product
stays ``DELETE /api/items/{id}``.
"""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Depends, Path, Request

from lookalike.server.deps import State, UploadLimit, require_api_key
from lookalike.server.errors import ApiError
from lookalike.server.memory import decode_cost
from lookalike.server.routes.admin import (
    MAX_METADATA_FIELDS,
    UPDATE_LOCK_TIMEOUT,
    _thumbnail_dirs,
    checked_item_id,
    item_fields,
    update_errors,
)
from lookalike.server.schemas import (
    BINARY,
    BUSY_ERROR,
    ERROR_RESPONSES,
    KEY_ERRORS,
    UPLOAD_ERRORS,
    PhotoAdded,
    PhotoRemoved,
    error_doc,
    item_json,
    request_body,
)
from lookalike.server.uploads import read_image_upload
from lookalike.updates import add_photos, remove_photos

router = APIRouter(dependencies=[Depends(require_api_key)])


@router.post(
    "/api/items/{item_id}/photos",
    status_code=201,
    response_model=PhotoAdded,
    responses={
        **KEY_ERRORS,
        **UPLOAD_ERRORS,
        422: error_doc("unreadable image, bad id or metadata"),
        **BUSY_ERROR,
    },
    openapi_extra=request_body(
        {
            "image": BINARY,
            "metadata": {"type": "string", "description": "a new product's metadata (JSON)"},
        },
        required=["image"],
        additionalProperties={"type": "string"},
    ),
)
async def add_photo(
    item_id: str, request: Request, state: State, max_upload_bytes: UploadLimit
) -> dict[str, Any]:
    """Add a photo to product ``item_id`` (needs the API key); a product not in the catalog
    is created with this photo and the request's metadata (extra fields and/or a JSON
    ``metadata`` object, as ``POST /api/items``)."""
    upload = await read_image_upload(request, max_upload_bytes, max_fields=MAX_METADATA_FIELDS + 2)
    _, metadata = item_fields(upload.fields)
    item_id = checked_item_id(item_id)
    live = state.live
    with update_errors():
        report = await state.run_update(
            state.decode_budget.bound(decode_cost(upload.data), add_photos),
            state.bundle_dir,
            item_id,
            [upload.data],
            metadata,
            store_images=True,
            lock_timeout=UPDATE_LOCK_TIMEOUT,
            encoder_loader=live.encoder_for,
            thumbnail_dirs=_thumbnail_dirs(state),
        )
    if report.skipped:
        raise ApiError(422, report.skipped[0].code, report.skipped[0].reason)
    await anyio.to_thread.run_sync(live.refresh, True)
    cat = live.catalog
    return {
        "item": item_json(request, cat.recommender.item(cat.row(item_id))),
        "photo": int(report.photos_added[0].rsplit(" ", 1)[1]),
        "created": bool(report.added),
        "version": report.version,
        "items": report.items,
        "duplicates": [vars(d) for d in report.duplicates],
    }


@router.delete(
    "/api/items/{item_id}/photos/{number}",
    response_model=PhotoRemoved,
    responses={
        **ERROR_RESPONSES,
        **KEY_ERRORS,
        409: error_doc("the product's last photo cannot be removed (remove the item)"),
        **BUSY_ERROR,
    },
)
async def remove_photo(
    item_id: str, state: State, number: int = Path(..., ge=1, le=2**31 - 1)
) -> dict[str, Any]:
    """Remove photo ``number`` of product ``item_id`` (needs the API key); its other photos
    keep their numbers."""
    state.live.catalog.row(item_id)  # unknown_item (404) before anything is locked
    with update_errors(conflicts=True):
        report = await state.run_update(
            remove_photos,
            state.bundle_dir,
            item_id,
            [number],
            lock_timeout=UPDATE_LOCK_TIMEOUT,
            thumbnail_dirs=_thumbnail_dirs(state),
        )
    if not report.photos_removed:
        raise ApiError(404, "unknown_photo", report.problems[0])
    await anyio.to_thread.run_sync(state.live.refresh, True)
    return {"id": item_id, "photo": number, "version": report.version, "items": report.items}
