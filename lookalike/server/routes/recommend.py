"""Lookalikes: ``POST /api/recommend`` (an uploaded photo) and
``GET /api/items/{id}/similar`` (a catalog item). Filters are query parameters named after
metadata columns (see :meth:`ServedCatalog.filters`)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from lookalike.imaging import CropError, parse_crop
from lookalike.server.deps import Budget, CurrentCatalog, UploadLimit
from lookalike.server.errors import ApiError, invalid_image
from lookalike.server.memory import decode_cost
from lookalike.server.schemas import (
    API_MAX_K,
    BINARY,
    DEFAULT_K,
    ERROR_RESPONSES,
    UPLOAD_ERRORS,
    Recommendations,
    item_json,
    request_body,
    results_json,
)
from lookalike.server.uploads import read_image_upload

#: The ``k`` query parameter: how many lookalikes.
TopK = Annotated[int, Query(ge=1, le=API_MAX_K)]
#: The ``allow_duplicates`` query parameter: keep byte- and near-identical photos.
AllowDuplicates = Annotated[
    bool, Query(description="keep identical and near-identical photos as separate results")
]
#: The ``crop`` query parameter: the region of the photo to match.
CropParam = Annotated[
    str | None,
    Query(
        description="x,y,w,h: the region of the photo to match, as fractions of its width "
        "and height (e.g. 0,0.4,1,0.6 = the lower 60%); default the whole photo",
        examples=["0.1,0.3,0.8,0.5"],
    ),
]
#: The ``look`` query parameter: shop the look.
LookParam = Annotated[
    bool,
    Query(
        description="shop the look: find every garment in the photo and answer each; "
        "results are the main garment's (not with crop)"
    ),
]
#: Query parameters that are not metadata filters.
RESERVED = {"k", "allow_duplicates", "crop", "look"}

router = APIRouter()


@router.post(
    "/api/recommend",
    response_model=Recommendations,
    responses={**ERROR_RESPONSES, **UPLOAD_ERRORS},
    openapi_extra=request_body({"image": BINARY}, required=["image"]),
)
async def recommend(
    request: Request,
    cat: CurrentCatalog,
    max_upload_bytes: UploadLimit,
    budget: Budget,
    k: TopK = DEFAULT_K,
    allow_duplicates: AllowDuplicates = False,
    crop: CropParam = None,
    look: LookParam = False,
) -> dict[str, Any]:
    """Lookalikes of an uploaded photo (multipart field ``image``), or of the ``crop`` of it;
    with ``look=true``, of every garment found in it."""
    try:
        box = parse_crop(crop) if crop is not None else None
    except CropError as exc:
        raise ApiError(422, "invalid_crop", str(exc)) from None
    if look and box is not None:
        raise ApiError(422, "invalid_crop", "look=true finds the garments itself; drop crop")
    filters = cat.filters(request, reserved=RESERVED)
    upload = await read_image_upload(request, max_upload_bytes)
    started = time.perf_counter()
    if look:
        return await _look(request, cat, budget, upload, k, filters, allow_duplicates, started)
    [result] = await cat.run(
        # The decode waits for room in the server's memory budget (server/memory.py).
        budget.bound(decode_cost(upload.data), cat.recommender.recommend_images),
        [upload.data],
        k,
        filters=filters,
        names=[upload.filename],
        collapse_duplicates=not allow_duplicates,
        crop=box,
    )
    if result.error:
        raise invalid_image(result.error, upload.filename)
    return {
        "query": {
            "type": "image",
            "filename": upload.filename,
            "k": k,
            "filters": filters,
            "crop": list(result.crop) if result.crop else None,
        },
        **results_json(request, result.results, started),
    }


@router.get(
    "/api/items/{item_id}/similar", response_model=Recommendations, responses=ERROR_RESPONSES
)
async def similar(
    item_id: str,
    request: Request,
    cat: CurrentCatalog,
    k: TopK = DEFAULT_K,
    allow_duplicates: AllowDuplicates = False,
) -> dict[str, Any]:
    """Lookalikes of a catalog item (never the item itself or identical copies of it)."""
    rec = cat.recommender
    filters = cat.filters(request, reserved=RESERVED)
    query_item = rec.item(cat.row(item_id))
    started = time.perf_counter()
    [result] = await cat.run(
        rec.recommend_items,
        [item_id],
        k,
        filters=filters,
        collapse_duplicates=not allow_duplicates,
    )
    return {
        "query": {
            "type": "item",
            "item": item_json(request, query_item),
            "k": k,
            "filters": filters,
        },
        **results_json(request, result.results, started),
    }


async def _look(request, cat, budget, upload, k, filters, allow_duplicates, started):
    """The shop-the-look answer of ``POST /api/recommend?look=true``."""
    [look] = await cat.run(
        budget.bound(decode_cost(upload.data), cat.recommender.recommend_look),
        [upload.data],
        k,
        filters=filters,
        names=[upload.filename],
        collapse_duplicates=not allow_duplicates,
    )
    if look.error:
        raise invalid_image(look.error, upload.filename)
    main = look.garments[look.main]
    garments = [
        {
            **{key: value for key, value in garment.to_dict().items() if key != "results"},
            "results": results_json(request, garment.results, started)["results"],
        }
        for garment in look.garments
    ]
    whole = main.kind == "photo"
    return {
        "query": {
            "type": "image",
            "filename": upload.filename,
            "k": k,
            "filters": filters,
            "crop": None if whole else [round(v, 4) for v in main.box],
        },
        **results_json(request, main.results, started),
        "garments": garments,
        "main": look.main,
    }
