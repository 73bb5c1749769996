"""Personalised recommendations over HTTP: ``POST /api/recommend/profile``.

A shopper's profile - liked and disliked catalog items, optionally liked photos - goes in;
the items that suit it come out, in the same shape as ``POST /api/recommend``. All ranking
lives in :mod:`lookalike.personal`; this module parses and checks the request, turns ids into
rows and photos into vectors, and shapes the JSON.

Two request bodies are accepted::

    application/json      {"liked": [ids], "disliked": [ids], "k": 10, "method": "fusion",
                           "diversity": 0.0, "filters": {"Colour": ["Red"]}, "user": "u1",
                           "ignore_unknown": false}
    multipart/form-data   text fields liked / disliked (repeat them), k, method, diversity,
                          user, ignore_unknown, filters (a JSON object); files in "photos"
                          (repeat it, each within the upload limit) count as liked photos

Errors (typed JSON, see ``errors.py``): no likes 422 ``empty_profile``; an unknown item id
404 ``unknown_item`` (the body's ``unknown_ids`` lists them; ``ignore_unknown`` skips them
instead, e.g. items removed since a browser saved its profile); an id both liked and
disliked 422 ``conflicting_feedback``; bad k / method / diversity 422 ``invalid_parameter``;
an unknown filter column 422 ``invalid_filter``; photos as for ``/api/recommend`` (413, 415,
422 ``invalid_image``).

With an interaction log (:func:`lookalike.server.state.use_interactions`), the ``user`` field
and the likes pick similar shoppers whose interactions are blended into the ranking
(collaborative filtering). When the log has timestamps and knows the ``user``, the picks are
the event log's candidate sources ranked by the learned blend (lookalike.personal_ranker),
fused with the picks of the likes (which may then be empty). Every result has a ``reason``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from lookalike.personal import Profile, recommend_profile
from lookalike.personal_sources import Candidates
from lookalike.recommend import FilterError, Recommender, UnknownItemError
from lookalike.server.deps import Budget, CurrentCatalog, Interactions, UploadLimit
from lookalike.server.errors import ApiError, error_response, invalid_image, shown_id
from lookalike.server.jsonbody import JsonBodyError, parse_json
from lookalike.server.memory import DecodeBudget, decode_cost
from lookalike.server.personal_log import PersonalModel, like_reasons, profile_answer
from lookalike.server.schemas import (
    BINARY,
    ERROR_RESPONSES,
    MAX_PHOTOS,
    MAX_PROFILE_ITEMS,
    ProfileRecommendations,
    ProfileRequest,
    error_doc,
    request_body,
    results_json,
)
from lookalike.server.state import ServedCatalog
from lookalike.server.uploads import (
    MULTIPART_OVERHEAD,
    check_image_part,
    media_type,
    parse_multipart,
)

PROFILE_PATH = "/api/recommend/profile"
MAX_JSON_BYTES = 256 * 1024
MAX_FILTER_VALUES = 100

router = APIRouter()


@dataclass
class Photo:
    """A liked photo from a multipart request."""

    filename: str
    data: bytes


@dataclass
class ParsedRequest:
    """A checked request: the parameters plus any liked photos."""

    params: ProfileRequest
    photos: list[Photo] = field(default_factory=list)


# --- the route --------------------------------------------------------------------------------
@router.post(
    PROFILE_PATH,
    response_model=ProfileRecommendations,
    responses={
        **ERROR_RESPONSES,
        404: error_doc("unknown item id (see unknown_ids)"),
        413: error_doc("body or photo too large"),
        415: error_doc("not JSON / multipart, or not an image"),
        422: error_doc("no likes, bad parameter, filter or photo"),
    },
    openapi_extra=request_body(
        {
            "liked": {"type": "array", "items": {"type": "string"}},
            "disliked": {"type": "array", "items": {"type": "string"}},
            "photos": {"type": "array", "items": BINARY},
            "k": {"type": "integer"},
            "method": {"type": "string", "enum": ["fusion", "mean"]},
            "diversity": {"type": "number"},
            "filters": {"type": "string", "description": "JSON object"},
            "user": {"type": "string"},
            "ignore_unknown": {"type": "boolean"},
        },
        json_schema=ProfileRequest.model_json_schema(),
    ),
)
async def recommend_for_profile(
    request: Request,
    cat: CurrentCatalog,
    max_upload_bytes: UploadLimit,
    source: Interactions,
    budget: Budget,
) -> Any:
    """Items for a shopper's likes (ids and/or photos) and dislikes, never one of them.

    ``method``: ``fusion`` (one neighbour list per like, merged) or ``mean`` (one query at
    the mean of the likes); ``diversity`` 0..1 trades relevance for variety.
    """
    rec = cat.recommender
    parsed = await read_profile_request(request, max_upload_bytes)
    params = parsed.params
    filters = clean_filters(cat, params.filters)
    bad_liked, bad_disliked = unknown_ids(rec, params.liked), unknown_ids(rec, params.disliked)
    if (bad_liked or bad_disliked) and not params.ignore_unknown:
        return unknown_items_error(bad_liked, bad_disliked)
    ignored = list(dict.fromkeys(bad_liked + bad_disliked))
    liked = [i for i in dict.fromkeys(params.liked) if i not in bad_liked]
    disliked = [i for i in dict.fromkeys(params.disliked) if i not in bad_disliked]
    if both := sorted(set(liked) & set(disliked)):
        raise ApiError(
            422,
            "conflicting_feedback",
            f"item {both[0]!r} is both liked and disliked; keep it in one list",
        )
    personal = None if source is None else await cat.run(source.personal_for, rec)
    user_row = None if personal is None else personal.knows(params.user)
    if not liked and not parsed.photos and user_row is None:
        raise ApiError(
            422,
            "empty_profile",
            "a profile needs at least one liked item or photo: send "
            '{"liked": ["ITEM_ID", ...]} (dislikes alone cannot rank items)',
        )
    started = time.perf_counter()
    vectors = await encode_photos(cat, parsed.photos, budget)
    use_dense = source is not None and user_row is None
    interactions = await cat.run(source.log_for, rec) if use_dense else None
    profile = Profile(rows_of(rec, liked), rows_of(rec, disliked), vectors, params.user)
    try:
        if user_row is not None:
            results, reasons = await cat.run(
                _history_answer, rec, personal, user_row, profile, params, filters
            )
        else:
            results = await cat.run(
                recommend_profile,
                rec,
                profile,
                params.k,
                method=params.method,
                diversity=params.diversity,
                filters=filters,
                interactions=interactions,
            )
            reasons = like_reasons(
                rec, [rec.row(r.id) for r in results], profile.liked_rows, vectors
            )
    except FilterError:
        raise
    except ValueError as exc:  # the library's own range checks (already checked here)
        raise ApiError(422, "invalid_parameter", str(exc)) from None
    body = results_json(request, results, started)
    for result, reason in zip(body["results"], reasons, strict=True):
        result["reason"] = reason
    return {
        "query": {
            "type": "profile",
            "liked": liked,
            "disliked": disliked,
            "photos": [p.filename for p in parsed.photos],
            "user": params.user,
            "k": params.k,
            "method": params.method,
            "diversity": params.diversity,
            "filters": filters,
            "collaborative": interactions is not None,
            "history": user_row is not None,
        },
        **body,
        "ignored_ids": ignored,
    }


def _history_answer(
    rec: Recommender,
    model: PersonalModel,
    user_row: int,
    profile: Profile,
    params: ProfileRequest,
    filters: dict[str, list[str]],
) -> tuple[list, list[str]]:
    """A known shopper's picks: the event log's sources (learned blend) fused with the
    picks of their likes (blocking: run in a worker thread)."""
    liked = None
    if profile.liked_rows or profile.liked_vectors is not None:
        found = recommend_profile(rec, profile, 4 * params.k, method=params.method, filters=filters)
        rows = [rec.row(r.id) for r in found]
        reasons = like_reasons(rec, rows, profile.liked_rows, profile.liked_vectors)
        liked = Candidates(np.asarray(rows, np.int64), np.ones(len(rows)), reasons)
    return profile_answer(
        rec,
        model,
        user_row,
        params.k,
        liked_rows=profile.liked_rows,
        disliked_rows=profile.disliked_rows,
        liked=liked,
        photos=profile.liked_vectors,
        filters=filters,
    )


# --- request parsing --------------------------------------------------------------------------
def _validate(data: dict[str, Any]) -> ProfileRequest:
    """The request parameters, or the app's usual 422 listing each bad field."""
    try:
        return ProfileRequest.model_validate(data)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors()]
        raise RequestValidationError(errors) from None


async def read_json_request(request: Request, max_bytes: int = MAX_JSON_BYTES) -> ParsedRequest:
    """A JSON profile request of at most ``max_bytes``.

    Raises:
        ApiError: 413 when too large, 422 when not a JSON object.
        RequestValidationError: a parameter out of range or of the wrong type.
    """
    too_big = ApiError(
        413, "payload_too_large", f"the JSON body is larger than the {max_bytes // 1024} KB limit"
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_big
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise too_big
    try:
        data = parse_json(bytes(body or b"{}"), "the body", max_bytes=max_bytes)
    except JsonBodyError as exc:
        if exc.too_large:
            raise too_big from None
        raise ApiError(422, "invalid_json", str(exc)) from None
    if not isinstance(data, dict):
        raise ApiError(
            422, "invalid_json", 'the body must be a JSON object like {"liked": ["ID", ...]}'
        )
    return ParsedRequest(_validate(data))


async def read_multipart_request(request: Request, max_photo_bytes: int) -> ParsedRequest:
    """A multipart profile request: text fields plus up to :data:`MAX_PHOTOS` liked photos
    (field ``photos``), each at most ``max_photo_bytes``; the body is bounded while streaming.

    Raises:
        ApiError: 413 too large, 415 a non-image file, 422 a malformed body or stray file.
        RequestValidationError: a parameter out of range or of the wrong type.
    """
    form = await parse_multipart(
        request,
        max_photo_bytes * MAX_PHOTOS + MULTIPART_OVERHEAD,
        max_photo_bytes,
        max_files=MAX_PHOTOS,
        max_fields=2 * MAX_PROFILE_ITEMS + 16,
    )
    try:
        data: dict[str, Any] = {}
        photos: list[Photo] = []
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key != "photos":
                    raise ApiError(
                        422, "invalid_multipart", f"unexpected file field {key!r}; use 'photos'"
                    )
                name, _ = check_image_part(value, max_photo_bytes, "photo")
                photos.append(Photo(name, await value.read()))
            elif key in ("liked", "disliked"):
                ids = data.setdefault(key, [])
                if value.strip():
                    ids.append(value.strip())
            elif key == "filters":
                data[key] = _json_field(key, value)
            else:
                data[key] = value
        return ParsedRequest(_validate(data), photos)
    finally:
        await form.close()


def _json_field(name: str, value: str) -> Any:
    if not value.strip():
        return {}
    try:
        return parse_json(value, f"the {name} field", max_bytes=MAX_JSON_BYTES)
    except JsonBodyError as exc:
        raise ApiError(
            422,
            "invalid_parameter",
            f'{exc}; {name} must be a JSON object like {{"Colour": ["Red"]}}',
        ) from None


async def read_profile_request(request: Request, max_photo_bytes: int) -> ParsedRequest:
    """Parse a JSON or multipart profile request (415 for anything else)."""
    content_type = media_type(request.headers.get("content-type"))
    if content_type == "application/json":
        return await read_json_request(request)
    if content_type == "multipart/form-data":
        return await read_multipart_request(request, max_photo_bytes)
    raise ApiError(
        415,
        "unsupported_media_type",
        "send the profile as application/json, or as multipart/form-data to attach photos",
    )


# --- checks against the catalog --------------------------------------------------------------
def clean_filters(cat: ServedCatalog, filters: dict[str, list[str]]) -> dict[str, list[str]]:
    """Filters keyed by the column each name means (:meth:`ServedCatalog.column_named`), with
    blank and repeated values dropped.

    Raises:
        FilterError: a name that means no column, or several (422 ``invalid_filter``).
        ApiError: too many values (422).
    """
    out: dict[str, list[str]] = {}
    for name, values in filters.items():
        column = cat.column_named(name)
        if len(values) > MAX_FILTER_VALUES:
            raise ApiError(
                422, "invalid_filter", f"at most {MAX_FILTER_VALUES} values per filter column"
            )
        kept = list(dict.fromkeys([*out.get(column, []), *(v.strip() for v in values)]))
        kept = [v for v in kept if v]
        if kept:
            out[column] = kept
    return out


def unknown_ids(rec: Recommender, ids: list[str]) -> list[str]:
    """The ids in ``ids`` that are not in the catalog, in order, without repeats."""
    missing = []
    for item_id in dict.fromkeys(ids):
        try:
            rec.row(item_id)
        except UnknownItemError:
            missing.append(item_id)
    return missing


def rows_of(rec: Recommender, ids: list[str]) -> list[int]:
    """Catalog rows of known ``ids``, in order, without repeats."""
    return [rec.row(i) for i in dict.fromkeys(ids)]


def unknown_items_error(liked: list[str], disliked: list[str]) -> JSONResponse:
    """404 naming the unknown ids and the list each came from."""
    where = [f"{shown_id(i)} (liked)" for i in liked]
    where += [f"{shown_id(i)} (disliked)" for i in disliked]
    shown = ", ".join(where[:10]) + (f" and {len(where) - 10} more" if len(where) > 10 else "")
    noun = "id" if len(where) == 1 else "ids"
    return error_response(
        404,
        "unknown_item",
        f"unknown item {noun} {shown}: not in the catalog (404); remove them, or send "
        '"ignore_unknown": true to skip them',
        unknown_ids=list(dict.fromkeys(liked + disliked)),
    )


async def encode_photos(
    cat: ServedCatalog, photos: list[Photo], budget: DecodeBudget | None = None
) -> np.ndarray | None:
    """Embeddings of the liked photos (None without photos), decoded within ``budget``
    (all of them reserved at once) when given.

    Raises:
        ApiError: 422 ``invalid_image`` naming the first photo that cannot be decoded.
    """
    if not photos:
        return None
    encode = cat.recommender.encode_images
    if budget is not None:
        encode = budget.bound(sum(decode_cost(p.data) for p in photos), encode)
    vectors, _, errors = await cat.run(encode, [p.data for p in photos])
    if errors:
        index, message = errors[0]
        name = photos[index].filename
        raise invalid_image(message, name)
    return vectors
