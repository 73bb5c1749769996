"""The HTTP API's shapes: parameter limits, pydantic models (they document the API at
``/docs``), OpenAPI error and request-body entries, and the functions that turn library
results into the JSON the models describe."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable, Sequence
from typing import Any, Literal
from urllib.parse import quote

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from lookalike.recommend import Recommendation

# --- limits of the query parameters ----------------------------------------------------------
API_MAX_K = 100
DEFAULT_K = 10
DEFAULT_LIMIT = 24
MAX_LIMIT = 200
# Past any real catalog (10M items is the largest index sized), and inside int32.
MAX_OFFSET = 2**31 - 1
MAX_FACET_VALUES = 50
# Profile requests: liked, and again disliked, ids per request; photos; user id length.
MAX_PROFILE_ITEMS = 500
MAX_PHOTOS = 8
MAX_USER_LENGTH = 200


# --- response models -------------------------------------------------------------------------
class Photo(BaseModel):
    """One photo of a product (number 1 is its main photo)."""

    number: int
    image_url: str
    thumbnail_url: str


class Item(BaseModel):
    """A catalog item (a product): its main photo's URLs and all its photos."""

    id: str
    metadata: dict[str, str]
    image_url: str
    thumbnail_url: str
    photos: list[Photo] = Field(default_factory=list, description="every photo, main first")


class Result(BaseModel):
    """One recommended item; rank 1 is the nearest."""

    id: str
    distance: float
    rank: int
    metadata: dict[str, str]
    image_url: str
    thumbnail_url: str
    match: str = Field("", description="how close, in words: same, close, similar, distant")
    duplicates: list[str] = Field(
        default_factory=list, description="ids of near-identical items collapsed into this one"
    )
    photo: Photo | None = Field(None, description="the product's photo that matched")
    photos: list[Photo] = Field(default_factory=list, description="every photo, main first")


class QueryInfo(BaseModel):
    """What was asked: an uploaded image (``filename``) or a catalog item (``item``)."""

    type: str
    filename: str | None = None
    item: Item | None = None
    k: int
    filters: dict[str, list[str]]
    crop: list[float] | None = Field(
        None,
        description="for a photo: the region (x, y, w, h fractions) the results answer: the "
        "crop asked for, or the garment focus's pick; null = the whole photo",
    )


class GarmentAnswer(BaseModel):
    """A garment found in the photo (shop the look) and its own lookalikes."""

    kind: str = Field(description="top, outerwear, dress, skirt, pants, shorts, shoes, bag; "
                      "photo = no garment found, the whole photo answered")  # fmt: skip
    box: list[float] = Field(description="x, y, w, h fractions of the photo (a crop)")
    area: float = Field(description="share of the photo the garment covers")
    score: float = Field(description="how sure the garment parser is, 0..1")
    results: list[Result]


class Recommendations(BaseModel):
    """The lookalikes of a query, nearest first."""

    query: QueryInfo
    results: list[Result]
    took_ms: float
    garments: list[GarmentAnswer] | None = Field(
        None,
        description="with look=true: every garment found, largest first, each with its "
        "lookalikes; results and query.crop are then those of the main one",
    )
    main: int | None = Field(None, description="index in garments of the main garment")


class ItemsPage(BaseModel):
    """A page of catalog items (in catalog order, or shuffled by ``random``)."""

    total: int
    offset: int
    limit: int
    random: int | None
    items: list[Item]


class FacetValue(BaseModel):
    """One value of a facet column and how many items have it."""

    value: str
    count: int


class Facet(BaseModel):
    """A filterable column and its values."""

    column: str
    values: list[FacetValue]


class Facets(BaseModel):
    """Filterable columns (at most 50 distinct values each), values by descending count."""

    total: int
    facets: list[Facet]


class Health(BaseModel):
    """What ``/healthz`` reports: the loaded bundle and the upload limit."""

    status: str
    items: int
    encoder: str
    bundle_version: str
    created: str | None
    max_upload_bytes: int
    look: bool = True  # the web page asks look=true for uploaded photos


class ErrorBody(BaseModel):
    """Every error response: a machine code and a sentence (see ``errors.py``)."""

    error: str
    detail: Any


class DuplicateInfo(BaseModel):
    """An existing item the added one duplicates (``exact``: same file bytes)."""

    id: str
    of: str
    kind: str
    hamming: int | None = None
    distance: float | None = None


class Added(BaseModel):
    """The item added, the version that now holds it and duplicates found."""

    item: Item
    version: str
    items: int
    duplicates: list[DuplicateInfo]


class Removed(BaseModel):
    """The item removed and the version without it."""

    id: str
    version: str
    items: int


class PhotoAdded(BaseModel):
    """The product a photo was added to (``created``: it is new), the photo's number, the
    version that holds it and duplicates found."""

    item: Item
    photo: int
    created: bool
    version: str
    items: int
    duplicates: list[DuplicateInfo]


class PhotoRemoved(BaseModel):
    """The photo removed and the version without it."""

    id: str
    photo: int
    version: str
    items: int


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
    history: bool = Field(
        False, description="the shopper's event log history chose the picks (with the likes)"
    )


class ProfileResult(Result):
    """One pick for a profile, with why it was picked."""

    reason: str = Field(
        "",
        description='why, in one phrase the page shows: "because you bought <title>", '
        '"trending now", "bought again by many", "looks like <a liked item>"',
    )


class ProfileRecommendations(BaseModel):
    """Items for a profile, best first; never a liked or disliked item."""

    query: ProfileQueryInfo
    results: list[ProfileResult]
    took_ms: float
    ignored_ids: list[str]


# --- OpenAPI entries -------------------------------------------------------------------------
def error_doc(description: str) -> dict[str, Any]:
    """An OpenAPI ``responses`` entry: a typed JSON error (:class:`ErrorBody`)."""
    return {"model": ErrorBody, "description": description}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: error_doc("unknown item"),
    422: error_doc("bad parameter or filter"),
}
UPLOAD_ERRORS = {413: error_doc("upload too large"), 415: error_doc("not an image upload")}
KEY_ERRORS = {
    401: error_doc("missing or wrong API key"),
    403: error_doc("updates disabled (no API key configured)"),
}
BUSY_ERROR = {503: error_doc("another update holds the bundle")}
#: The OpenAPI schema of an uploaded file.
BINARY = {"type": "string", "format": "binary"}


def request_body(
    form: dict[str, Any],
    *,
    required: Sequence[str] = (),
    json_schema: dict[str, Any] | None = None,
    **form_extra: Any,
) -> dict[str, Any]:
    """``openapi_extra`` documenting a required request body: a multipart/form-data form of
    the fields in ``form`` (``required`` ones named), and ``json_schema`` as
    application/json when given; ``form_extra`` adds keys to the form's schema."""
    schema: dict[str, Any] = {"type": "object"}
    if required:
        schema["required"] = list(required)
    content: dict[str, Any] = {}
    if json_schema is not None:
        content["application/json"] = {"schema": json_schema}
    content["multipart/form-data"] = {"schema": {**schema, "properties": form, **form_extra}}
    # A copy: the shared pieces (BINARY) must not be tied into every app's OpenAPI document.
    return copy.deepcopy({"requestBody": {"required": True, "content": content}})


# --- JSON of library results -----------------------------------------------------------------
def item_urls(request: Request, item_id: str) -> dict[str, str]:
    """The ``image_url`` and ``thumbnail_url`` of an item (under the app's root path)."""
    base = f"{request.scope.get('root_path', '')}/api/items/{quote(item_id, safe='')}"
    return {"image_url": f"{base}/image", "thumbnail_url": f"{base}/thumbnail"}


def photo_json(request: Request, item_id: str, number: int) -> dict[str, Any]:
    """Public JSON of photo ``number`` of an item: its number and its image and thumbnail
    URLs (``?photo=N``)."""
    urls = item_urls(request, item_id)
    return {"number": number, **{k: f"{v}?photo={number}" for k, v in urls.items()}}


def item_json(request: Request, item: Recommendation) -> dict[str, Any]:
    """Public JSON of a catalog item (the server-side file path stays private)."""
    return {
        "id": item.id,
        "metadata": item.metadata,
        **item_urls(request, item.id),
        "photos": [photo_json(request, item.id, n) for n in item.photos],
    }


def result_json(request: Request, item: Recommendation) -> dict[str, Any]:
    """Public JSON of a recommended item."""
    return {
        "id": item.id,
        "distance": item.distance,
        "rank": item.rank,
        "metadata": item.metadata,
        **item_urls(request, item.id),
        "match": item.match,
        "duplicates": item.duplicates,
        "photo": photo_json(request, item.id, item.photo),
        "photos": [photo_json(request, item.id, n) for n in item.photos],
    }


def results_json(
    request: Request, results: Iterable[Recommendation], started: float
) -> dict[str, Any]:
    """The ``results`` and ``took_ms`` (since ``started``, a ``time.perf_counter()``) of a
    recommendation response."""
    return {
        "results": [result_json(request, r) for r in results],
        "took_ms": round((time.perf_counter() - started) * 1000, 2),
    }
