"""``POST /api/preview``: the shopper's photo as a JPEG the page can show, for photos the
browser cannot decode (an iPhone's HEIC in Chrome or Firefox): the page then previews,
crops and sends that JPEG like any other photo."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from lookalike.imaging import ImageDecodeError
from lookalike.server.deps import Budget, CurrentCatalog, UploadLimit
from lookalike.server.errors import invalid_image
from lookalike.server.memory import decode_cost
from lookalike.server.schemas import (
    BINARY,
    ERROR_RESPONSES,
    UPLOAD_ERRORS,
    error_doc,
    request_body,
)
from lookalike.server.thumbnails import photo_preview_jpeg
from lookalike.server.uploads import read_image_upload

router = APIRouter()


@router.post(
    "/api/preview",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "the photo as a JPEG"},
        **ERROR_RESPONSES,
        **UPLOAD_ERRORS,
        422: error_doc("unreadable image"),
    },
    openapi_extra=request_body({"image": BINARY}, required=["image"]),
)
async def preview(
    request: Request, cat: CurrentCatalog, max_upload_bytes: UploadLimit, budget: Budget
) -> Response:
    """An uploaded photo (multipart field ``image``) as a JPEG of at most 1,600 px a side
    (``PREVIEW_SIDE``), upright and in sRGB; nothing is kept."""
    upload = await read_image_upload(request, max_upload_bytes)
    try:
        jpeg = await cat.run(
            budget.bound(decode_cost(upload.data), photo_preview_jpeg), upload.data
        )
    except ImageDecodeError as exc:
        raise invalid_image(str(exc), upload.filename) from None
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
