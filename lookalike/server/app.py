"""The HTTP API and web page over one bundle: ``create_app(bundle_dir)`` returns a FastAPI app.

The app only translates between HTTP and :class:`lookalike.recommend.Recommender`: it parses
parameters, calls the library and shapes JSON. Recommendation logic (filters, exclusions,
duplicate collapse) stays in the library.

Endpoints (all errors are ``{"error": CODE, "detail": TEXT}``, see ``errors.py``)::

    POST /api/recommend                 multipart field "image"; ?k=10&<filters>
    POST /api/recommend/profile         liked / disliked ids and photos (routes/profile.py)
    POST /api/preview                   multipart "image" -> a JPEG the page can show (HEIC)
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
    POST /api/events                    append shoppers' events to the event log (API key)

Filters are query parameters named after metadata columns (a name matches its column
ignoring case when only one column has it); repeat a parameter for several values
(``Colour=Red&Colour=Blue`` matches either; different columns must all match).

Layout: ``state.py`` (the served catalog and its live reloading), ``deps.py`` (what routes
get through ``Depends``, the API-key check), ``schemas.py`` (models, limits, JSON shaping),
``routes/`` (one router per area), ``errors.py``, ``uploads.py``, ``thumbnails.py``. The
catalog follows the bundle's ``CURRENT`` pointer (see ``state.py``). Updates need an API key
(``api_key`` or the ``LOOKALIKE_API_KEY`` environment variable), sent as ``X-API-Key`` or
``Authorization: Bearer``; without a configured key they answer 403, with a missing or
wrong one 401.

The names this module defined before the split are re-exported here.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from lookalike.recommend import Recommender
from lookalike.server.deps import API_KEY_ENV, check_api_key, configured_api_key
from lookalike.server.errors import install_error_handlers
from lookalike.server.memory import DECODE_BUDGET_BYTES, DecodeBudget
from lookalike.server.middleware import NoSniff, RefuseEncodedBodies
from lookalike.server.routes import (
    admin,
    events,
    items,
    pages,
    photos,
    preview,
    profile,
    recommend,
)
from lookalike.server.routes.admin import (
    MAX_COLUMN_LENGTH,
    MAX_METADATA_FIELDS,
    MAX_VALUE_LENGTH,
    RESERVED_COLUMNS,
    UPDATE_LOCK_TIMEOUT,
    item_fields,
)
from lookalike.server.routes.items import CACHE_CONTROL
from lookalike.server.routes.pages import PAGE_CSP, STATIC_DIR
from lookalike.server.schemas import (
    API_MAX_K,
    BINARY,
    BUSY_ERROR,
    DEFAULT_K,
    DEFAULT_LIMIT,
    ERROR_RESPONSES,
    KEY_ERRORS,
    MAX_FACET_VALUES,
    MAX_LIMIT,
    MAX_OFFSET,
    UPLOAD_ERRORS,
    Added,
    DuplicateInfo,
    ErrorBody,
    Facet,
    Facets,
    FacetValue,
    Health,
    Item,
    ItemsPage,
    QueryInfo,
    Recommendations,
    Removed,
    Result,
    error_doc,
    item_json,
    request_body,
    result_json,
    results_json,
)
from lookalike.server.state import (
    RELOAD_RETRY_S,
    LiveCatalog,
    ServedCatalog,
    ServerState,
    load_version,
    same_encoder,
)
from lookalike.server.thumbnails import ThumbnailCache

log = logging.getLogger("lookalike.server")

#: The old name of :class:`ServedCatalog` (kept importable from here).
Catalog = ServedCatalog


def _version() -> str:
    # From the installed package's metadata: this layer does not import ``lookalike``
    # itself (the package's __init__ sits above every module).
    try:
        return importlib.metadata.version("lookalike")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def create_app(
    bundle_dir: str | Path,
    *,
    max_upload_bytes: int = 10 * 2**20,
    cors_origins: Sequence[str] = (),
    thumbnail_dir: str | Path | None = None,
    max_concurrent_queries: int = 2,
    api_key: str | None = None,
    api_key_env: str | None = API_KEY_ENV,
    decode_budget_bytes: int = DECODE_BUDGET_BYTES,
    page_look: bool = True,
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
        decode_budget_bytes: memory that all decodes in flight (uploads, added items,
            thumbnails) share; more wait, or get 503 after 30 s (``server/memory.py``).
        page_look: the web page shops the look of uploaded photos (``look=true``: garment
            boxes, the main garment answered); False: it sends them as plain photo queries.
            ``/healthz`` tells the page; the API answers ``look=true`` either way.

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
    recommender = Recommender.from_bundle(bundle_dir)
    budget = DecodeBudget(decode_budget_bytes)
    thumbs = ThumbnailCache(thumbnail_dir or bundle_dir / "thumbnails", budget=budget)
    catalog = ServedCatalog(recommender, thumbs, max_concurrent_queries)

    app = FastAPI(
        title="lookalike",
        version=_version(),
        docs_url=None,  # /docs is served offline by routes/pages.py; no ReDoc (CDN logo)
        redoc_url=None,
        description="Visual apparel recommender: upload a photo, get catalog lookalikes. "
        "Filter any endpoint by metadata with query parameters named after the columns "
        "(repeat one for several values).",
    )

    def swapped(new: ServedCatalog) -> None:
        app.state.catalog = new

    live = LiveCatalog(bundle_dir, catalog, on_swap=swapped)
    app.state.lookalike = ServerState(
        bundle_dir, live, thumbs, max_upload_bytes, key, decode_budget=budget
    )
    # Also at their old places: the catalog served now and the live catalog.
    app.state.catalog = catalog
    app.state.live = live
    app.state.updates_enabled = key is not None
    app.state.page_look = page_look

    install_error_handlers(app)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["*"],
        )
    app.add_middleware(RefuseEncodedBodies)
    app.add_middleware(NoSniff)
    # The order of the routes in the OpenAPI document (and of matching).
    for area in (recommend, preview, profile, items, admin, photos, events, pages):
        app.include_router(area.router)
    app.mount("/static", pages.static_files(), name="static")
    log.info(
        "loaded bundle %s (%s): %d items, encoder %s; catalog updates %s",
        bundle_dir,
        catalog.version,
        len(recommender),
        getattr(recommender.encoder, "name", "?"),
        "enabled (API key set)" if key else "disabled (no API key)",
    )
    return app


__all__ = [
    "API_KEY_ENV",
    "API_MAX_K",
    "BINARY",
    "BUSY_ERROR",
    "CACHE_CONTROL",
    "DEFAULT_K",
    "DEFAULT_LIMIT",
    "ERROR_RESPONSES",
    "KEY_ERRORS",
    "MAX_COLUMN_LENGTH",
    "MAX_FACET_VALUES",
    "MAX_LIMIT",
    "MAX_METADATA_FIELDS",
    "MAX_OFFSET",
    "MAX_VALUE_LENGTH",
    "PAGE_CSP",
    "RELOAD_RETRY_S",
    "RESERVED_COLUMNS",
    "STATIC_DIR",
    "UPDATE_LOCK_TIMEOUT",
    "UPLOAD_ERRORS",
    "Added",
    "Catalog",
    "DuplicateInfo",
    "ErrorBody",
    "Facet",
    "FacetValue",
    "Facets",
    "Health",
    "Item",
    "ItemsPage",
    "LiveCatalog",
    "NoSniff",
    "QueryInfo",
    "Recommendations",
    "Removed",
    "Result",
    "ServedCatalog",
    "ServerState",
    "check_api_key",
    "configured_api_key",
    "create_app",
    "error_doc",
    "item_fields",
    "item_json",
    "load_version",
    "request_body",
    "result_json",
    "results_json",
    "same_encoder",
]
