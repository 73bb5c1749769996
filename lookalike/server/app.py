"""The HTTP API and web page over one bundle: ``create_app(bundle_dir)`` returns a FastAPI app.

The app only translates between HTTP and :class:`lookalike.recommend.Recommender`: it parses
parameters, calls the library and shapes JSON. Recommendation logic (filters, exclusions,
duplicate collapse) stays in the library.

Endpoints (all errors are ``{"error": CODE, "detail": TEXT}``, see ``errors.py``)::

    POST /api/recommend                 multipart field "image"; ?k=10&<filters>
    GET  /api/items                     ?offset=0&limit=24&random=SEED&<filters>
    GET  /api/items/{id}                one item
    GET  /api/items/{id}/similar        ?k=10&<filters>; never the item itself
    GET  /api/items/{id}/image          the catalog image file
    GET  /api/items/{id}/thumbnail      192 px letterboxed JPEG, cached on disk
    GET  /api/facets                    ?<filters>; values + counts of low-cardinality columns
    GET  /healthz                       bundle loaded, item count, encoder, version
    GET  /                              the web page (static/)

Filters are query parameters named after metadata columns; repeat a parameter for several
values (``Colour=Red&Colour=Blue`` matches either; different columns must all match).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property, partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import anyio
import numpy as np
from anyio.lowlevel import RunVar
from fastapi import FastAPI, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import lookalike
from lookalike.imaging import ImageDecodeError
from lookalike.recommend import FilterError, Recommendation, Recommender
from lookalike.server.errors import ApiError, install_error_handlers
from lookalike.server.thumbnails import ThumbnailCache
from lookalike.server.uploads import read_image_upload

log = logging.getLogger("lookalike.server")

STATIC_DIR = Path(__file__).resolve().parent / "static"
API_MAX_K = 100
DEFAULT_K = 10
DEFAULT_LIMIT = 24
MAX_LIMIT = 200
MAX_FACET_VALUES = 50
CACHE_CONTROL = "public, max-age=86400"
# The page loads only its own script, styles and images (plus previews of local files).
PAGE_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

T = TypeVar("T")


# --- response models (they document the API at /docs) ----------------------------------------
class Item(BaseModel):
    """A catalog item."""

    id: str
    metadata: dict[str, str]
    image_url: str
    thumbnail_url: str


class Result(BaseModel):
    """One recommended item; rank 1 is the nearest."""

    id: str
    distance: float
    rank: int
    metadata: dict[str, str]
    image_url: str
    thumbnail_url: str


class QueryInfo(BaseModel):
    """What was asked: an uploaded image (``filename``) or a catalog item (``item``)."""

    type: str
    filename: str | None = None
    item: Item | None = None
    k: int
    filters: dict[str, list[str]]


class Recommendations(BaseModel):
    """The lookalikes of a query, nearest first."""

    query: QueryInfo
    results: list[Result]
    took_ms: float


class ItemsPage(BaseModel):
    """A page of catalog items (in catalog order, or shuffled by ``random``)."""

    total: int
    offset: int
    limit: int
    random: int | None
    items: list[Item]


class FacetValue(BaseModel):
    value: str
    count: int


class Facet(BaseModel):
    column: str
    values: list[FacetValue]


class Facets(BaseModel):
    """Filterable columns (at most 50 distinct values each), values by descending count."""

    total: int
    facets: list[Facet]


class Health(BaseModel):
    status: str
    items: int
    encoder: str
    bundle_version: str
    created: str | None
    max_upload_bytes: int


class ErrorBody(BaseModel):
    error: str
    detail: Any


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "unknown item"},
    422: {"model": ErrorBody, "description": "bad parameter or filter"},
}


# --- state --------------------------------------------------------------------------------
class Catalog:
    """The loaded recommender plus what the endpoints derive from it once."""

    def __init__(self, recommender: Recommender, thumbnails: ThumbnailCache, max_queries: int):
        """Args:
        recommender: the loaded bundle.
        thumbnails: the thumbnail cache.
        max_queries: how many searches may run at once (each already uses every core).
        """
        self.recommender = recommender
        self.thumbnails = thumbnails
        self.max_queries = max_queries
        # Computing the column list scans every item, so do it once, not per request.
        self.columns = list(recommender.metadata_columns)
        self._column_set = frozenset(self.columns)
        # One limiter per event loop (anyio's own pattern for its default thread limiter).
        self._limiter: RunVar[anyio.CapacityLimiter] = RunVar("lookalike_query_limiter")

    @cached_property
    def facets(self) -> list[Facet]:
        """Columns with 2..50 distinct values that repeat (not ids or titles)."""
        rec = self.recommender
        facets = []
        for column in self.columns:
            counts = Counter(str(v) for v in rec.column(column) if str(v).strip())
            # A column where most values are unique (a title) is no use as a filter chip.
            if not 2 <= len(counts) <= min(MAX_FACET_VALUES, max(2, len(rec) // 2)):
                continue
            ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].lower()))
            values = [FacetValue(value=v, count=c) for v, c in ordered]
            facets.append(Facet(column=column, values=values))
        return facets

    def facet_counts(self, filters: dict[str, list[str]]) -> list[Facet]:
        """:attr:`facets` with each column's counts under the filters on the *other*
        columns (so chips show how many items a click would add); values keep their order."""
        if not filters:
            return self.facets
        rec = self.recommender
        out = []
        for facet in self.facets:
            rows = rec.allowed_rows({c: v for c, v in filters.items() if c != facet.column})
            column = rec.column(facet.column)
            counts = Counter(str(v) for v in (column if rows is None else column[rows]))
            values = [FacetValue(value=v.value, count=counts.get(v.value, 0)) for v in facet.values]
            out.append(Facet(column=facet.column, values=values))
        return out

    def filters(self, request: Request, reserved: Iterable[str]) -> dict[str, list[str]]:
        """Filters from the query string: every parameter not in ``reserved``.

        Raises:
            FilterError: a parameter names no metadata column (checked here, before any
                upload is read or search is run).
        """
        skip = set(reserved)
        filters: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            if key in skip:
                continue
            if key not in self._column_set:
                raise FilterError(
                    f"unknown filter column {key!r}; columns: {', '.join(sorted(self.columns))}"
                )
            values = filters.setdefault(key, [])
            if value.strip() and value.strip() not in values:
                values.append(value.strip())
        return {k: v for k, v in filters.items() if v}

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a CPU-heavy library call in a worker thread, a few at a time, so the event
        loop keeps answering (thumbnails, health checks) while models run."""
        try:
            limiter = self._limiter.get()
        except LookupError:
            limiter = anyio.CapacityLimiter(self.max_queries)
            self._limiter.set(limiter)
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=limiter)

    def row(self, item_id: str) -> int:
        """Row of ``item_id``; the only way a request reaches a file (UnknownItemError)."""
        return self.recommender.row(item_id)

    def source_path(self, item_id: str) -> Path:
        """The catalog image file of ``item_id``, from the bundle (never from the request)."""
        return Path(self.recommender.items.paths[self.row(item_id)])


def _urls(request: Request, item_id: str) -> dict[str, str]:
    base = f"{request.scope.get('root_path', '')}/api/items/{quote(item_id, safe='')}"
    return {"image_url": f"{base}/image", "thumbnail_url": f"{base}/thumbnail"}


def item_json(request: Request, item: Recommendation) -> dict[str, Any]:
    """Public JSON of a catalog item (the server-side file path stays private)."""
    return {"id": item.id, "metadata": item.metadata, **_urls(request, item.id)}


def result_json(request: Request, item: Recommendation) -> dict[str, Any]:
    """Public JSON of a recommended item."""
    return {
        "id": item.id,
        "distance": item.distance,
        "rank": item.rank,
        "metadata": item.metadata,
        **_urls(request, item.id),
    }


def _etag_matches(header: str | None, etag: str) -> bool:
    """Whether an If-None-Match header (a list, weak tags or ``*``) names ``etag``."""
    if not header:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


def _not_modified(etag: str) -> Response:
    return Response(status_code=304, headers={"ETag": etag, "Cache-Control": CACHE_CONTROL})


def _file_etag(path: Path, stat: os.stat_result) -> str:
    text = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    return '"' + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32] + '"'


def _image_unavailable(item_id: str) -> ApiError:
    return ApiError(404, "image_unavailable", f"the image of item {item_id!r} cannot be read")


class NoSniff:
    """ASGI middleware: ``X-Content-Type-Options: nosniff`` on every response, so browsers
    never second-guess a content type (pure ASGI, so upload streaming is untouched)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).setdefault("X-Content-Type-Options", "nosniff")
            await send(message)

        await self.app(scope, receive, send_with_header)


# --- the app ----------------------------------------------------------------------------------
def create_app(
    bundle_dir: str | Path,
    *,
    max_upload_bytes: int = 10 * 2**20,
    cors_origins: Sequence[str] = (),
    thumbnail_dir: str | Path | None = None,
    max_concurrent_queries: int = 2,
) -> FastAPI:
    """The lookalike API and web page over the bundle in ``bundle_dir`` (loaded once, here).

    Args:
        bundle_dir: a bundle written by ``lookalike build``.
        max_upload_bytes: largest accepted photo upload; larger ones get 413.
        cors_origins: origins allowed to call the API from a browser; none by default.
        thumbnail_dir: thumbnail cache folder (default: ``BUNDLE/thumbnails``).
        max_concurrent_queries: searches run at once; more wait their turn.

    Raises:
        BundleError: no readable bundle in ``bundle_dir``.
        ValueError: a non-positive limit.
    """
    if max_upload_bytes < 1:
        raise ValueError(f"max_upload_bytes must be positive, got {max_upload_bytes}")
    if max_concurrent_queries < 1:
        raise ValueError(f"max_concurrent_queries must be >= 1, got {max_concurrent_queries}")
    recommender = lookalike.load(bundle_dir)
    thumbs = ThumbnailCache(thumbnail_dir or Path(bundle_dir) / "thumbnails")
    catalog = Catalog(recommender, thumbs, max_concurrent_queries)
    version = recommender.data.version_dir.name

    app = FastAPI(
        title="lookalike",
        version=lookalike.__version__,
        description="Visual apparel recommender: upload a photo, get catalog lookalikes. "
        "Filter any endpoint by metadata with query parameters named after the columns "
        "(repeat one for several values).",
    )
    app.state.catalog = catalog
    install_error_handlers(app)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
        )

    app.add_middleware(NoSniff)

    # --- recommendations ------------------------------------------------------------------
    @app.post(
        "/api/recommend",
        response_model=Recommendations,
        responses={
            **ERROR_RESPONSES,
            413: {"model": ErrorBody, "description": "upload too large"},
            415: {"model": ErrorBody, "description": "not an image upload"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["image"],
                            "properties": {"image": {"type": "string", "format": "binary"}},
                        }
                    }
                },
            }
        },
    )
    async def recommend(
        request: Request, k: int = Query(DEFAULT_K, ge=1, le=API_MAX_K)
    ) -> dict[str, Any]:
        """Lookalikes of an uploaded photo (multipart field ``image``)."""
        filters = catalog.filters(request, reserved={"k"})
        upload = await read_image_upload(request, max_upload_bytes)
        started = time.perf_counter()
        [result] = await catalog.run(
            recommender.recommend_images,
            [upload.data],
            k,
            filters=filters,
            names=[upload.filename],
        )
        if result.error:
            # The decoder names in-memory sources "<bytes>"; name the user's file instead.
            detail = result.error.replace("<bytes>", repr(upload.filename), 1)
            raise ApiError(422, "invalid_image", detail)
        return {
            "query": {"type": "image", "filename": upload.filename, "k": k, "filters": filters},
            "results": [result_json(request, r) for r in result.results],
            "took_ms": round((time.perf_counter() - started) * 1000, 2),
        }

    @app.get(
        "/api/items/{item_id}/similar", response_model=Recommendations, responses=ERROR_RESPONSES
    )
    async def similar(
        item_id: str, request: Request, k: int = Query(DEFAULT_K, ge=1, le=API_MAX_K)
    ) -> dict[str, Any]:
        """Lookalikes of a catalog item (never the item itself or identical copies of it)."""
        filters = catalog.filters(request, reserved={"k"})
        query_item = recommender.item(catalog.row(item_id))
        started = time.perf_counter()
        [result] = await catalog.run(recommender.recommend_items, [item_id], k, filters=filters)
        return {
            "query": {
                "type": "item",
                "item": item_json(request, query_item),
                "k": k,
                "filters": filters,
            },
            "results": [result_json(request, r) for r in result.results],
            "took_ms": round((time.perf_counter() - started) * 1000, 2),
        }

    # --- browsing -------------------------------------------------------------------------
    @app.get("/api/items", response_model=ItemsPage, responses=ERROR_RESPONSES)
    def list_items(
        request: Request,
        offset: int = Query(0, ge=0),
        limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
        random: int | None = Query(
            None, ge=0, le=2**32 - 1, description="seed: a deterministic random sample"
        ),
    ) -> dict[str, Any]:
        """Browse the catalog, optionally filtered; ``random`` shuffles with that seed."""
        filters = catalog.filters(request, reserved={"offset", "limit", "random"})
        rows = recommender.allowed_rows(filters)
        if rows is None:
            rows = np.arange(len(recommender))
        if random is not None:
            rows = np.random.default_rng(random).permutation(rows)
        page = rows[offset : offset + limit]
        return {
            "total": int(len(rows)),
            "offset": offset,
            "limit": limit,
            "random": random,
            "items": [item_json(request, recommender.item(int(r))) for r in page],
        }

    @app.get("/api/items/{item_id}", response_model=Item, responses=ERROR_RESPONSES)
    def get_item(item_id: str, request: Request) -> dict[str, Any]:
        """One catalog item."""
        return item_json(request, recommender.item(catalog.row(item_id)))

    @app.get("/api/items/{item_id}/image", responses=ERROR_RESPONSES, response_class=FileResponse)
    def get_image(item_id: str, request: Request) -> Response:
        """The catalog image file of an item."""
        path = catalog.source_path(item_id)
        try:
            stat = os.stat(path)
        except OSError:
            log.warning("image of item %r missing: %s", item_id, path)
            raise _image_unavailable(item_id) from None
        etag = _file_etag(path, stat)
        if _etag_matches(request.headers.get("if-none-match"), etag):
            return _not_modified(etag)
        return FileResponse(
            path, stat_result=stat, headers={"ETag": etag, "Cache-Control": CACHE_CONTROL}
        )

    @app.get(
        "/api/items/{item_id}/thumbnail", responses=ERROR_RESPONSES, response_class=FileResponse
    )
    def get_thumbnail(item_id: str, request: Request) -> Response:
        """A small letterboxed JPEG of the item's image, made once and cached."""
        path = catalog.source_path(item_id)
        try:
            key = thumbs.key(path)
            etag = f'"{key[:32]}"'
            if _etag_matches(request.headers.get("if-none-match"), etag):
                return _not_modified(etag)
            thumbnail = thumbs.get(path, key)
        except (OSError, ImageDecodeError) as exc:
            log.warning("no thumbnail for item %r (%s): %s", item_id, path, exc)
            raise _image_unavailable(item_id) from None
        headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
        if isinstance(thumbnail, bytes):
            return Response(thumbnail, media_type="image/jpeg", headers=headers)
        return FileResponse(thumbnail, media_type="image/jpeg", headers=headers)

    @app.get("/api/facets", response_model=Facets, responses=ERROR_RESPONSES)
    def facets(request: Request) -> dict[str, Any]:
        """Filterable columns and their values, for filter chips. With filters, ``total``
        counts the matching items and each column's counts apply the other columns' filters."""
        filters = catalog.filters(request, reserved=())
        rows = recommender.allowed_rows(filters)
        total = len(recommender) if rows is None else len(rows)
        return {"total": total, "facets": catalog.facet_counts(filters)}

    @app.get("/healthz", response_model=Health)
    def healthz() -> dict[str, Any]:
        """Liveness + what is loaded."""
        return {
            "status": "ok",
            "items": len(recommender),
            "encoder": str(getattr(recommender.encoder, "name", "unknown")),
            "bundle_version": version,
            "created": recommender.data.manifest.get("created"),
            # The page checks photo sizes before uploading them.
            "max_upload_bytes": max_upload_bytes,
        }

    # --- the web page ---------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(
            STATIC_DIR / "index.html",
            headers={"Cache-Control": "no-cache", "Content-Security-Policy": PAGE_CSP},
        )

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    log.info(
        "loaded bundle %s (%s): %d items, encoder %s",
        bundle_dir,
        version,
        len(recommender),
        getattr(recommender.encoder, "name", "?"),
    )
    return app
