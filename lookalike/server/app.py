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
    POST /api/items                     add an item (API key): multipart "image" + "id" +
                                        metadata as form fields or a JSON "metadata" field
    DELETE /api/items/{id}              remove an item (API key)

Filters are query parameters named after metadata columns; repeat a parameter for several
values (``Colour=Red&Colour=Blue`` matches either; different columns must all match).

Living catalog: the app serves whatever version the bundle's ``CURRENT`` names. Each request
``stat``s that file (microseconds); when it changed - an update through this API, another
server process or ``lookalike add`` - the new version is loaded once (reusing the encoder when
its files are unchanged) and the served catalog object is swapped in one assignment, so
requests already running finish on the old one. Updates need an API key (``api_key`` or the
``LOOKALIKE_API_KEY`` environment variable), sent as ``X-API-Key`` or ``Authorization:
Bearer``; without a configured key they answer 403, with a missing or wrong one 401.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
import os
import threading
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
from lookalike.bundle import CURRENT, ENCODER_DIR, read_bundle
from lookalike.imaging import ImageDecodeError
from lookalike.recommend import FilterError, Recommendation, Recommender, UnknownItemError
from lookalike.server.errors import ApiError, install_error_handlers
from lookalike.server.thumbnails import ThumbnailCache
from lookalike.server.uploads import read_image_upload

log = logging.getLogger("lookalike.server")

STATIC_DIR = Path(__file__).resolve().parent / "static"
API_MAX_K = 100
DEFAULT_K = 10
DEFAULT_LIMIT = 24
MAX_LIMIT = 200
# Past any real catalog (10M items is the largest index sized), and inside int32.
MAX_OFFSET = 2**31 - 1
MAX_FACET_VALUES = 50
CACHE_CONTROL = "public, max-age=86400"
API_KEY_ENV = "LOOKALIKE_API_KEY"
MAX_METADATA_FIELDS = 64
MAX_COLUMN_LENGTH = 100
MAX_VALUE_LENGTH = 2000
# Query parameters of the endpoints: a metadata column with one of these names could never
# be filtered on, so uploads may not create one.
RESERVED_COLUMNS = frozenset({"k", "offset", "limit", "random"})
# An update waits this long for another writer's lock before answering 503.
UPDATE_LOCK_TIMEOUT = 30.0
# After a failed reload, requests keep the old catalog and retry at most this often.
RELOAD_RETRY_S = 1.0
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


# --- state --------------------------------------------------------------------------------
class Catalog:
    """The loaded recommender plus what the endpoints derive from it once."""

    def __init__(
        self,
        recommender: Recommender,
        thumbnails: ThumbnailCache,
        max_queries: int,
        limiter: RunVar[anyio.CapacityLimiter] | None = None,
    ):
        """Args:
        recommender: the loaded bundle.
        thumbnails: the thumbnail cache.
        max_queries: how many searches may run at once (each already uses every core).
        limiter: the query limiter to share with the catalog this one replaces (so a
            reload never lets more than ``max_queries`` searches run at once).
        """
        self.recommender = recommender
        self.thumbnails = thumbnails
        self.max_queries = max_queries
        # Computing the column list scans every item, so do it once, not per request.
        self.columns = list(recommender.metadata_columns)
        self._column_set = frozenset(self.columns)
        # One limiter per event loop (anyio's own pattern for its default thread limiter).
        self._limiter: RunVar[anyio.CapacityLimiter] = limiter or RunVar("lookalike_query_limiter")

    @property
    def version(self) -> str:
        """Name of the bundle version this catalog was loaded from."""
        return self.recommender.data.version_dir.name

    def replaced_by(self, recommender: Recommender) -> Catalog:
        """A catalog over ``recommender`` sharing this one's thumbnails and query limiter."""
        return Catalog(recommender, self.thumbnails, self.max_queries, self._limiter)

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


def load_version(bundle_dir: Path, previous: Recommender | None = None) -> Recommender:
    """Load the live version of ``bundle_dir``, reusing ``previous``'s encoder when the
    encoder files are byte-identical (updates hard-link them), so a reload costs only the
    items, embeddings and index."""
    from lookalike.encoders.base import load_encoder
    from lookalike.index import load_index

    data = read_bundle(bundle_dir)
    reuse = previous is not None and same_encoder(data.manifest, previous.data.manifest)
    encoder = previous.encoder if reuse else load_encoder(data.encoder_dir)
    return Recommender(data, encoder, load_index(data.index_dir))


def same_encoder(manifest: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether two versions' manifests list byte-identical encoder files (by sha256)."""

    def encoder_files(manifest: dict[str, Any]) -> dict[str, Any]:
        files = manifest.get("files", {})
        return {k: v for k, v in files.items() if k.startswith(ENCODER_DIR + "/")}

    mine = encoder_files(manifest)
    return bool(mine) and mine == encoder_files(other)


class LiveCatalog:
    """The catalog being served; follows the bundle's ``CURRENT`` pointer.

    ``current()`` costs one ``stat`` when nothing changed. When the pointer changed, one
    caller loads the new version while the others keep answering from the old catalog;
    the swap is a single attribute assignment, so every request sees one whole catalog.
    """

    def __init__(
        self,
        bundle_dir: Path,
        catalog: Catalog,
        on_swap: Callable[[Catalog], None] | None = None,
    ):
        """Args:
        bundle_dir: the bundle folder.
        catalog: the catalog loaded at startup.
        on_swap: called with each newly loaded catalog.
        """
        self.bundle_dir = Path(bundle_dir)
        self._pointer = self.bundle_dir / CURRENT
        self._catalog = catalog
        self._on_swap = on_swap
        self._seen = self._pointer_state()
        self._retry_at = 0.0
        self._lock = threading.Lock()
        self.reloads = 0  # versions loaded after startup (for tests and logs)

    def _pointer_state(self) -> tuple[int, int, int] | None:
        # os.replace gives CURRENT a new inode on every publish, so this changes even when
        # two versions are published within the filesystem's timestamp granularity.
        try:
            st = os.stat(self._pointer)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    @property
    def catalog(self) -> Catalog:
        """The catalog being served right now (no freshness check)."""
        return self._catalog

    def current(self) -> Catalog:
        """The catalog to answer a request with, reloaded first if ``CURRENT`` moved.
        Blocking: call from a worker thread (sync endpoints run in one)."""
        if self._pointer_state() != self._seen and time.monotonic() >= self._retry_at:
            self.refresh(wait=False)
        return self._catalog

    async def acurrent(self) -> Catalog:
        """:meth:`current` for async endpoints (the reload runs in a worker thread)."""
        if self._pointer_state() != self._seen and time.monotonic() >= self._retry_at:
            await anyio.to_thread.run_sync(self.refresh)
        return self._catalog

    def refresh(self, wait: bool = False) -> bool:
        """Load the version ``CURRENT`` names if it is not the one served.

        Args:
            wait: wait for a reload already running elsewhere (after this app's own
                updates); otherwise return at once and keep serving the old catalog.

        Returns:
            Whether a new catalog was swapped in.
        """
        if not self._lock.acquire(blocking=wait):
            return False
        try:
            state = self._pointer_state()
            if state == self._seen:
                return False
            old = self._catalog
            try:
                name = self._pointer.read_text().strip()
                if name == old.version:
                    self._seen = state
                    return False
                recommender = load_version(self.bundle_dir, old.recommender)
            except Exception:  # noqa: BLE001 - keep serving the old version, retry later
                log.exception("could not load the new version of %s", self.bundle_dir)
                self._retry_at = time.monotonic() + RELOAD_RETRY_S
                return False
            self._catalog = old.replaced_by(recommender)
            self._seen = state
            self.reloads += 1
            if self._on_swap is not None:
                self._on_swap(self._catalog)
            log.info(
                "now serving %s (%s): %d items",
                self.bundle_dir,
                self._catalog.version,
                len(recommender),
            )
            return True
        finally:
            self._lock.release()


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
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise ApiError(
                422, "invalid_metadata", 'metadata must be a JSON object like {"Colour": "Red"}'
            )
        for key, value in parsed.items():
            if isinstance(value, dict | list) or value is None:
                raise ApiError(
                    422, "invalid_metadata", f"metadata {key!r} must be a string or a number"
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
                422, "invalid_metadata", f"metadata column {key!r} clashes with a query parameter"
            )
        if len(value) > MAX_VALUE_LENGTH or "\x00" in value:
            raise ApiError(
                422,
                "invalid_metadata",
                f"metadata {key!r} must be at most {MAX_VALUE_LENGTH} characters, without NUL",
            )
    return item_id, {k.strip(): v.strip() for k, v in metadata.items()}


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


def results_json(
    request: Request, results: Iterable[Recommendation], started: float
) -> dict[str, Any]:
    """The ``results`` and ``took_ms`` (since ``started``, a ``time.perf_counter()``) of a
    recommendation response."""
    return {
        "results": [result_json(request, r) for r in results],
        "took_ms": round((time.perf_counter() - started) * 1000, 2),
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
    api_key: str | None = None,
    api_key_env: str | None = API_KEY_ENV,
) -> FastAPI:
    """The lookalike API and web page over the bundle in ``bundle_dir``.

    The live version is loaded here, and again whenever the bundle's ``CURRENT`` changes.

    Args:
        bundle_dir: a bundle written by ``lookalike build``.
        max_upload_bytes: largest accepted photo upload; larger ones get 413.
        cors_origins: origins allowed to call the API from a browser; none by default.
        thumbnail_dir: thumbnail cache folder (default: ``BUNDLE/thumbnails``).
        max_concurrent_queries: searches run at once; more wait their turn.
        api_key: the key that enables ``POST /api/items`` and ``DELETE /api/items/{id}``.
        api_key_env: environment variable read for the key when ``api_key`` is None
            (None: do not look). Without a key, updates answer 403.

    Raises:
        BundleError: no readable bundle in ``bundle_dir``.
        ValueError: a non-positive limit.
    """
    if max_upload_bytes < 1:
        raise ValueError(f"max_upload_bytes must be positive, got {max_upload_bytes}")
    if max_concurrent_queries < 1:
        raise ValueError(f"max_concurrent_queries must be >= 1, got {max_concurrent_queries}")
    bundle_dir = Path(bundle_dir)
    key = configured_api_key(api_key, api_key_env)
    recommender = lookalike.load(bundle_dir)
    thumbs = ThumbnailCache(thumbnail_dir or bundle_dir / "thumbnails")
    catalog = Catalog(recommender, thumbs, max_concurrent_queries)

    app = FastAPI(
        title="lookalike",
        version=lookalike.__version__,
        description="Visual apparel recommender: upload a photo, get catalog lookalikes. "
        "Filter any endpoint by metadata with query parameters named after the columns "
        "(repeat one for several values).",
    )
    app.state.catalog = catalog

    def swapped(new: Catalog) -> None:
        app.state.catalog = new

    live = LiveCatalog(bundle_dir, catalog, on_swap=swapped)
    app.state.live = live
    app.state.updates_enabled = key is not None
    # Updates queue here (one at a time per event loop) rather than each holding a worker
    # thread while it waits for the bundle's file lock.
    update_limiter: RunVar[anyio.CapacityLimiter] = RunVar("lookalike_update_limiter")

    async def run_update(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            limiter = update_limiter.get()
        except LookupError:
            limiter = anyio.CapacityLimiter(1)
            update_limiter.set(limiter)
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=limiter)

    install_error_handlers(app)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["*"],
        )

    app.add_middleware(NoSniff)

    # --- recommendations ------------------------------------------------------------------
    @app.post(
        "/api/recommend",
        response_model=Recommendations,
        responses={**ERROR_RESPONSES, **UPLOAD_ERRORS},
        openapi_extra=request_body({"image": BINARY}, required=["image"]),
    )
    async def recommend(
        request: Request, k: int = Query(DEFAULT_K, ge=1, le=API_MAX_K)
    ) -> dict[str, Any]:
        """Lookalikes of an uploaded photo (multipart field ``image``)."""
        cat = await live.acurrent()
        filters = cat.filters(request, reserved={"k"})
        upload = await read_image_upload(request, max_upload_bytes)
        started = time.perf_counter()
        [result] = await cat.run(
            cat.recommender.recommend_images,
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
            **results_json(request, result.results, started),
        }

    @app.get(
        "/api/items/{item_id}/similar", response_model=Recommendations, responses=ERROR_RESPONSES
    )
    async def similar(
        item_id: str, request: Request, k: int = Query(DEFAULT_K, ge=1, le=API_MAX_K)
    ) -> dict[str, Any]:
        """Lookalikes of a catalog item (never the item itself or identical copies of it)."""
        cat = await live.acurrent()
        rec = cat.recommender
        filters = cat.filters(request, reserved={"k"})
        query_item = rec.item(cat.row(item_id))
        started = time.perf_counter()
        [result] = await cat.run(rec.recommend_items, [item_id], k, filters=filters)
        return {
            "query": {
                "type": "item",
                "item": item_json(request, query_item),
                "k": k,
                "filters": filters,
            },
            **results_json(request, result.results, started),
        }

    # Personalised recommendations (POST /api/recommend/profile): see profile_api.py.
    from lookalike.server.profile_api import add_profile_routes

    add_profile_routes(app, live, max_upload_bytes=max_upload_bytes)

    # --- browsing -------------------------------------------------------------------------
    @app.get("/api/items", response_model=ItemsPage, responses=ERROR_RESPONSES)
    def list_items(
        request: Request,
        offset: int = Query(0, ge=0, le=MAX_OFFSET),
        limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
        random: int | None = Query(
            None, ge=0, le=2**32 - 1, description="seed: a deterministic random sample"
        ),
    ) -> dict[str, Any]:
        """Browse the catalog, optionally filtered; ``random`` shuffles with that seed."""
        cat = live.current()
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

    @app.get("/api/items/{item_id}", response_model=Item, responses=ERROR_RESPONSES)
    def get_item(item_id: str, request: Request) -> dict[str, Any]:
        """One catalog item."""
        cat = live.current()
        return item_json(request, cat.recommender.item(cat.row(item_id)))

    @app.get("/api/items/{item_id}/image", responses=ERROR_RESPONSES, response_class=FileResponse)
    def get_image(item_id: str, request: Request) -> Response:
        """The catalog image file of an item."""
        path = live.current().source_path(item_id)
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
        path = live.current().source_path(item_id)
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
        cat = live.current()
        filters = cat.filters(request, reserved=())
        rows = cat.recommender.allowed_rows(filters)
        total = len(cat.recommender) if rows is None else len(rows)
        return {"total": total, "facets": cat.facet_counts(filters)}

    # --- catalog updates (API key) ----------------------------------------------------------
    @app.post(
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
                "image": BINARY,
                "id": {"type": "string"},
                "metadata": {"type": "string", "description": "JSON object of column: value"},
            },
            required=["image"],
            additionalProperties={"type": "string"},
        ),
    )
    async def add_item(request: Request) -> dict[str, Any]:
        """Add a photo to the catalog as a new bundle version (needs the API key).

        Multipart: ``image`` (the file), optional ``id`` (default: derived from the image's
        sha256), metadata as extra text fields and/or a JSON object in ``metadata``.
        """
        from lookalike.updates import BundleBusyError, NewItem, add_new_items, check_item_id

        check_api_key(request, key)
        upload = await read_image_upload(
            request, max_upload_bytes, max_fields=MAX_METADATA_FIELDS + 2
        )
        item_id, metadata = item_fields(upload.fields)
        if item_id is None or not item_id.strip():
            item_id = "u" + hashlib.sha256(upload.data).hexdigest()[:15]
        if (reason := check_item_id(item_id)) is not None:
            raise ApiError(422, "invalid_id", f"invalid id {item_id[:200]!r}: {reason}")
        new = NewItem(item_id, upload.data, metadata, name=upload.filename)

        def encoder_for(data: Any) -> Any:
            # The served encoder when the live version's is the same files (updates link
            # them): saves loading a model per upload.
            served = live.catalog.recommender
            if same_encoder(data.manifest, served.data.manifest):
                return served.encoder
            from lookalike.encoders.base import load_encoder

            return load_encoder(data.encoder_dir)

        try:
            report = await run_update(
                add_new_items,
                bundle_dir,
                [new],
                store_images=True,
                lock_timeout=UPDATE_LOCK_TIMEOUT,
                encoder_loader=encoder_for,
            )
        except BundleBusyError as exc:
            raise ApiError(503, "busy", str(exc), headers={"Retry-After": "5"}) from None
        if report.skipped:
            skip = report.skipped[0]
            status = 409 if skip.code == "id_exists" else 422
            raise ApiError(status, skip.code, skip.reason)
        cat = live.catalog
        if report.version is not None:
            await anyio.to_thread.run_sync(live.refresh, True)
            cat = live.catalog
        # The item from the catalog now served (a later update may already have replaced it).
        try:
            item = item_json(request, cat.recommender.item(cat.row(item_id)))
        except UnknownItemError:
            item = {"id": item_id, "metadata": metadata, **_urls(request, item_id)}
        return {
            "item": item,
            "version": report.version,
            "items": report.items,
            "duplicates": [vars(d) for d in report.duplicates],
        }

    @app.delete(
        "/api/items/{item_id}",
        response_model=Removed,
        responses={
            **ERROR_RESPONSES,
            **KEY_ERRORS,
            409: error_doc("the last item cannot be removed"),
            **BUSY_ERROR,
        },
    )
    async def remove_item(item_id: str, request: Request) -> dict[str, Any]:
        """Remove an item from the catalog as a new bundle version (needs the API key)."""
        from lookalike.updates import BundleBusyError, UpdateError, remove_items

        check_api_key(request, key)
        try:
            report = await run_update(
                remove_items, bundle_dir, [item_id], lock_timeout=UPDATE_LOCK_TIMEOUT
            )
        except BundleBusyError as exc:
            raise ApiError(503, "busy", str(exc), headers={"Retry-After": "5"}) from None
        except UpdateError as exc:
            raise ApiError(409, "conflict", str(exc)) from None
        if report.unknown_ids:
            raise UnknownItemError(item_id)
        await anyio.to_thread.run_sync(live.refresh, True)
        return {"id": item_id, "version": report.version, "items": report.items}

    @app.get("/healthz", response_model=Health)
    def healthz() -> dict[str, Any]:
        """Liveness + what is loaded."""
        cat = live.current()
        rec = cat.recommender
        return {
            "status": "ok",
            "items": len(rec),
            "encoder": str(getattr(rec.encoder, "name", "unknown")),
            "bundle_version": cat.version,
            "created": rec.data.manifest.get("created"),
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
        "loaded bundle %s (%s): %d items, encoder %s; catalog updates %s",
        bundle_dir,
        catalog.version,
        len(recommender),
        getattr(recommender.encoder, "name", "?"),
        "enabled (API key set)" if key else "disabled (no API key)",
    )
    return app
