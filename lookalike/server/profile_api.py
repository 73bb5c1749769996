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

With an interaction log (:func:`use_interactions`), the ``user`` field and the likes pick
similar shoppers whose interactions are blended into the ranking (collaborative filtering).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.datastructures import UploadFile

from lookalike.personal import InteractionLog, Profile, read_interactions, recommend_profile
from lookalike.recommend import FilterError, Recommender, UnknownItemError
from lookalike.server.app import (
    API_MAX_K,
    BINARY,
    DEFAULT_K,
    ERROR_RESPONSES,
    Catalog,
    LiveCatalog,
    Result,
    error_doc,
    request_body,
    results_json,
)
from lookalike.server.errors import ApiError, error_response
from lookalike.server.uploads import (
    MULTIPART_OVERHEAD,
    check_image_part,
    media_type,
    parse_multipart,
)

log = logging.getLogger("lookalike.server")

PROFILE_PATH = "/api/recommend/profile"
MAX_PROFILE_ITEMS = 500  # liked, and again disliked, ids per request
MAX_PHOTOS = 8
MAX_JSON_BYTES = 256 * 1024
MAX_FILTER_VALUES = 100
MAX_USER_LENGTH = 200


# --- request and response models ---------------------------------------------------------------
class ProfileRequest(BaseModel):
    """The JSON body of ``POST /api/recommend/profile`` (multipart fields map onto it)."""

    model_config = ConfigDict(extra="forbid")

    liked: list[str] = Field(default_factory=list, max_length=MAX_PROFILE_ITEMS)
    disliked: list[str] = Field(default_factory=list, max_length=MAX_PROFILE_ITEMS)
    k: int = Field(DEFAULT_K, ge=1, le=API_MAX_K)
    method: Literal["fusion", "mean"] = "fusion"
    diversity: float = Field(0.0, ge=0.0, le=1.0, allow_inf_nan=False)
    filters: dict[str, list[str]] = Field(default_factory=dict)
    user: str | None = Field(None, max_length=MAX_USER_LENGTH)
    ignore_unknown: bool = False

    @field_validator("liked", "disliked", mode="before")
    @classmethod
    def _ids_as_strings(cls, value: Any) -> Any:
        """Numeric ids (``[101]``) mean the same as ``["101"]``; None means none."""
        if value is None:
            return []
        if isinstance(value, list):
            return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        return value

    @field_validator("filters", mode="before")
    @classmethod
    def _filter_values_as_lists(cls, value: Any) -> Any:
        """``{"Colour": "Red"}`` means ``{"Colour": ["Red"]}``; None means no filters."""
        if value is None:
            return {}
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value


class ProfileQueryInfo(BaseModel):
    """What was asked: the profile as understood (unknown ids dropped when ignored)."""

    type: Literal["profile"] = "profile"
    liked: list[str]
    disliked: list[str]
    photos: list[str]
    user: str | None
    k: int
    method: str
    diversity: float
    filters: dict[str, list[str]]
    collaborative: bool


class ProfileRecommendations(BaseModel):
    """Items for a profile, best first; never a liked or disliked item."""

    query: ProfileQueryInfo
    results: list[Result]
    took_ms: float
    ignored_ids: list[str]


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


# --- interaction log --------------------------------------------------------------------------
class InteractionSource:
    """An interactions CSV read against the catalog being served.

    The log's columns are catalog rows, so it is re-read when the served catalog changes
    (a reload after an update) or the file does; otherwise the parsed log is reused.
    """

    def __init__(self, path: str | Path):
        """Args:
        path: a ``user_id,item_id,event[,timestamp]`` CSV (see ``lookalike.personal``).
        """
        self.path = Path(path)
        if not self.path.is_file():
            raise ValueError(f"interactions file {self.path} does not exist")
        self._lock = threading.Lock()
        self._key: tuple[int, int, int] | None = None
        self._recommender: Recommender | None = None
        self._log: InteractionLog | None = None

    def log_for(self, recommender: Recommender) -> InteractionLog | None:
        """The log over ``recommender``'s rows (None when the file cannot be read).
        Blocking: call from a worker thread."""
        try:
            st = os.stat(self.path)
        except OSError:
            log.warning("interactions file %s is gone; recommending without it", self.path)
            return None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            if self._recommender is recommender and self._key == key:
                return self._log
            item_rows = {item_id: row for row, item_id in enumerate(recommender.items.ids)}
            try:
                parsed = read_interactions(self.path, item_rows)
            except Exception:  # noqa: BLE001 - a bad log must not take recommendations down
                log.exception("could not read interactions file %s", self.path)
                parsed = None
            if parsed is not None:
                log.info(
                    "interactions %s: %d shoppers, %d rows skipped",
                    self.path,
                    len(parsed.users),
                    len(parsed.problems),
                )
            self._recommender, self._key, self._log = recommender, key, parsed
            return parsed


def use_interactions(app: FastAPI, path: str | Path | None) -> None:
    """Blend the interaction log at ``path`` into profile recommendations (None: stop).

    Raises:
        ValueError: ``path`` is not a file.
    """
    app.state.profile_interactions = InteractionSource(path) if path is not None else None


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
        data = json.loads(body or b"{}")
    except ValueError as exc:
        raise ApiError(422, "invalid_json", f"the body is not valid JSON: {exc}") from None
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
    try:
        return json.loads(value) if value.strip() else {}
    except ValueError:
        raise ApiError(
            422, "invalid_parameter", f'{name} must be a JSON object like {{"Colour": ["Red"]}}'
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
def clean_filters(cat: Catalog, filters: dict[str, list[str]]) -> dict[str, list[str]]:
    """Filters with blank and repeated values dropped.

    Raises:
        FilterError: a column the catalog does not have (422 ``invalid_filter``).
        ApiError: too many values (422).
    """
    out: dict[str, list[str]] = {}
    for column, values in filters.items():
        if column not in cat.columns:
            raise FilterError(
                f"unknown filter column {column!r}; columns: {', '.join(sorted(cat.columns))}"
            )
        if len(values) > MAX_FILTER_VALUES:
            raise ApiError(
                422, "invalid_filter", f"at most {MAX_FILTER_VALUES} values per filter column"
            )
        kept = list(dict.fromkeys(v.strip() for v in values if v.strip()))
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
    where = [f"{i!r} (liked)" for i in liked] + [f"{i!r} (disliked)" for i in disliked]
    shown = ", ".join(where[:10]) + (f" and {len(where) - 10} more" if len(where) > 10 else "")
    noun = "id" if len(where) == 1 else "ids"
    return error_response(
        404,
        "unknown_item",
        f"unknown item {noun} {shown}: not in the catalog (404); remove them, or send "
        '"ignore_unknown": true to skip them',
        unknown_ids=list(dict.fromkeys(liked + disliked)),
    )


# --- the route --------------------------------------------------------------------------------
async def encode_photos(cat: Catalog, photos: list[Photo]) -> np.ndarray | None:
    """Embeddings of the liked photos (None without photos).

    Raises:
        ApiError: 422 ``invalid_image`` naming the first photo that cannot be decoded.
    """
    if not photos:
        return None
    vectors, _, errors = await cat.run(cat.recommender.encode_images, [p.data for p in photos])
    if errors:
        index, message = errors[0]
        name = photos[index].filename
        raise ApiError(422, "invalid_image", message.replace("<bytes>", repr(name), 1))
    return vectors


async def interactions_for(request: Request, cat: Catalog) -> InteractionLog | None:
    """The app's interaction log over ``cat`` (None when none is configured)."""
    source: InteractionSource | None = getattr(request.app.state, "profile_interactions", None)
    if source is None:
        return None
    return await cat.run(source.log_for, cat.recommender)


def add_profile_routes(app: FastAPI, live: LiveCatalog, *, max_upload_bytes: int) -> None:
    """Register ``POST /api/recommend/profile`` on ``app``.

    Args:
        app: the lookalike app.
        live: the app's live catalog (each request uses the version current at its start).
        max_upload_bytes: the per-photo limit, as for ``POST /api/recommend``.
    """
    if not hasattr(app.state, "profile_interactions"):
        app.state.profile_interactions = None

    @app.post(
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
    async def recommend_for_profile(request: Request) -> Any:
        """Items for a shopper's likes (ids and/or photos) and dislikes, never one of them.

        ``method``: ``fusion`` (one neighbour list per like, merged) or ``mean`` (one query at
        the mean of the likes); ``diversity`` 0..1 trades relevance for variety.
        """
        cat = await live.acurrent()
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
        if not liked and not parsed.photos:
            raise ApiError(
                422,
                "empty_profile",
                "a profile needs at least one liked item or photo: send "
                '{"liked": ["ITEM_ID", ...]} (dislikes alone cannot rank items)',
            )
        started = time.perf_counter()
        vectors = await encode_photos(cat, parsed.photos)
        interactions = await interactions_for(request, cat)
        profile = Profile(rows_of(rec, liked), rows_of(rec, disliked), vectors, params.user)
        try:
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
        except FilterError:
            raise
        except ValueError as exc:  # the library's own range checks (already checked here)
            raise ApiError(422, "invalid_parameter", str(exc)) from None
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
            },
            **results_json(request, results, started),
            "ignored_ids": ignored,
        }


__all__ = [
    "PROFILE_PATH",
    "ProfileRequest",
    "ProfileRecommendations",
    "add_profile_routes",
    "use_interactions",
]
