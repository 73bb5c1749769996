"""Browsing the catalog: pages of items, one item, its image and thumbnail, and facets.

A product with several photos lists them (``photos``); ``?photo=N`` picks one of them for
the image and the thumbnail (default: the main photo, number 1).

Every file a response sends is found through the item's id in the served bundle, never from
a path in the request. Images and thumbnails carry an ETag and are cached for a day.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response

from lookalike.imaging import ImageDecodeError
from lookalike.server.deps import CurrentCatalog, Thumbnails
from lookalike.server.errors import ApiError
from lookalike.server.schemas import (
    DEFAULT_LIMIT,
    ERROR_RESPONSES,
    MAX_LIMIT,
    MAX_OFFSET,
    Facets,
    Item,
    ItemsPage,
    item_json,
)
from lookalike.server.thumbnails import shown_as_is

log = logging.getLogger("lookalike.server")

CACHE_CONTROL = "public, max-age=86400"

router = APIRouter()


@router.get("/api/items", response_model=ItemsPage, responses=ERROR_RESPONSES)
def list_items(
    request: Request,
    cat: CurrentCatalog,
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    random: int | None = Query(
        None, ge=0, le=2**32 - 1, description="seed: a deterministic random sample"
    ),
) -> dict[str, Any]:
    """Browse the catalog, optionally filtered; ``random`` shuffles with that seed."""
    rec = cat.recommender
    filters = cat.filters(request, reserved={"offset", "limit", "random"})
    rows = rec.allowed_rows(filters)
    if rows is None:
        rows = np.arange(len(rec))
    if random is not None:
        rows = np.random.default_rng(random).permutation(rows)
    page = rows[offset : offset + limit]
    return {
        "total": int(len(rows)),
        "offset": offset,
        "limit": limit,
        "random": random,
        "items": [item_json(request, rec.item(int(r))) for r in page],
    }


@router.get("/api/items/{item_id}", response_model=Item, responses=ERROR_RESPONSES)
def get_item(item_id: str, request: Request, cat: CurrentCatalog) -> dict[str, Any]:
    """One catalog item."""
    return item_json(request, cat.recommender.item(cat.row(item_id)))


PHOTO_QUERY = Query(None, ge=1, le=2**31 - 1, description="photo number (default: the main)")


def photo_path(cat: Any, item_id: str, photo: int | None) -> Path:
    """The file of photo ``photo`` of ``item_id`` (None: the main photo), from the bundle.

    Raises:
        ApiError: 404 ``unknown_photo`` when the item has no such photo.
    """
    if photo is None:
        return cat.source_path(item_id)
    rec = cat.recommender
    cat.row(item_id)  # an unknown id is unknown_item, before any photo question
    try:
        return Path(rec.photos.paths[rec.photo_row(item_id, photo)])
    except KeyError as exc:
        raise ApiError(404, "unknown_photo", str(exc.args[0])) from None


@router.get("/api/items/{item_id}/image", responses=ERROR_RESPONSES, response_class=FileResponse)
def get_image(
    item_id: str,
    request: Request,
    cat: CurrentCatalog,
    thumbs: Thumbnails,
    photo: int | None = PHOTO_QUERY,
    original: bool = Query(
        False, description="the file as it is, even in a format browsers do not show (HEIC)"
    ),
) -> Response:
    """The catalog image file of an item (``photo``: which of its photos). An image in a
    format browsers do not show (HEIC, HEIF) comes as a JPEG copy, made once and cached,
    unless ``original`` asks for the file itself."""
    path = photo_path(cat, item_id, photo)
    if not original and not shown_as_is(path):
        return _cached_jpeg(
            item_id, path, request, thumbs.display_key, thumbs.display_copy, "image copy"
        )
    try:
        stat = os.stat(path)
    except OSError:
        log.warning("image of item %r missing: %s", item_id, path)
        raise image_unavailable(item_id) from None
    etag = file_etag(path, stat)
    if etag_matches(request.headers.get("if-none-match"), etag):
        return not_modified(etag)
    return FileResponse(
        path, stat_result=stat, headers={"ETag": etag, "Cache-Control": CACHE_CONTROL}
    )


def _cached_jpeg(
    item_id: str,
    path: Path,
    request: Request,
    key_of: Callable[[Path], str],
    make: Callable[[Path, str], Path | bytes],
    what: str,
) -> Response:
    """A JPEG made from an item's image once and cached (its thumbnail, or the copy of an
    image browsers cannot show): 304 when the client holds it, 404 when it cannot be made.

    Args:
        key_of: the cache key of a source file (raises OSError when it is missing).
        make: (source, key) -> the cached file, or its bytes.
        what: named in the log line of a failure.
    """
    try:
        key = key_of(path)
        etag = f'"{key}"'
        if etag_matches(request.headers.get("if-none-match"), etag):
            return not_modified(etag)
        data = make(path, key)
    except (OSError, ImageDecodeError) as exc:
        log.warning("no %s for item %r (%s): %s", what, item_id, path, exc)
        raise image_unavailable(item_id) from None
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if isinstance(data, bytes):  # the cache folder is not writable
        return Response(data, media_type="image/jpeg", headers=headers)
    return FileResponse(data, media_type="image/jpeg", headers=headers)


@router.get(
    "/api/items/{item_id}/thumbnail", responses=ERROR_RESPONSES, response_class=FileResponse
)
def get_thumbnail(
    item_id: str,
    request: Request,
    cat: CurrentCatalog,
    thumbs: Thumbnails,
    photo: int | None = PHOTO_QUERY,
) -> Response:
    """A small letterboxed JPEG of the item's image (``photo``: which of its photos), made
    once and cached."""
    path = photo_path(cat, item_id, photo)
    return _cached_jpeg(item_id, path, request, thumbs.key, thumbs.get, "thumbnail")


# HEAD on the file URLs (link checkers, caches revalidating): the same answer without the
# body (Starlette's responses send only the headers to a HEAD request). Left out of the
# OpenAPI document, which would otherwise list each operation twice under one id.
for _path, _endpoint in (
    ("/api/items/{item_id}/image", get_image),
    ("/api/items/{item_id}/thumbnail", get_thumbnail),
):
    router.add_api_route(_path, _endpoint, methods=["HEAD"], include_in_schema=False)


@router.get("/api/facets", response_model=Facets, responses=ERROR_RESPONSES)
def facets(request: Request, cat: CurrentCatalog) -> dict[str, Any]:
    """Filterable columns and their values, for filter chips. With filters, ``total``
    counts the matching items and each column's counts apply the other columns' filters."""
    filters = cat.filters(request, reserved=())
    rows = cat.recommender.allowed_rows(filters)
    total = len(cat.recommender) if rows is None else len(rows)
    return {"total": total, "facets": cat.facet_counts(filters)}


# --- caching headers --------------------------------------------------------------------------
def etag_matches(header: str | None, etag: str) -> bool:
    """Whether an If-None-Match header (a list, weak tags or ``*``) names ``etag``."""
    if not header:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


def not_modified(etag: str) -> Response:
    """The 304 answer to a request whose If-None-Match names ``etag``."""
    return Response(status_code=304, headers={"ETag": etag, "Cache-Control": CACHE_CONTROL})


def file_etag(path: Path, stat: os.stat_result) -> str:
    """An ETag of a file from its path, size and modification time."""
    text = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    return '"' + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32] + '"'


def image_unavailable(item_id: str) -> ApiError:
    """The 404 for an item whose image file is missing or unreadable."""
    return ApiError(404, "image_unavailable", f"the image of item {item_id!r} cannot be read")
