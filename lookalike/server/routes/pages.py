"""The web page (``GET /``, its files under ``/static``), ``GET /healthz``, the favicon and the
API documentation (``/docs``) served offline: Swagger UI comes from the ``fastapi-offline``
package's files, so no request leaves the machine. (No ``/redoc``: ReDoc loads its logo from
a CDN.)"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from lookalike.server.deps import CurrentCatalog, UploadLimit
from lookalike.server.errors import ApiError
from lookalike.server.schemas import Health

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
# The page loads only its own script, styles and images (plus previews of local files).
PAGE_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

#: Swagger UI 5, as shipped by the fastapi-offline package (no CDN).
DOCS_ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
#: The files of DOCS_ASSETS_DIR the docs pages load, and their media types.
DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
}
ASSET_CACHE = "public, max-age=86400"

router = APIRouter()


@router.get("/healthz", response_model=Health)
def healthz(request: Request, cat: CurrentCatalog, max_upload_bytes: UploadLimit) -> dict[str, Any]:
    """Liveness + what is loaded."""
    rec = cat.recommender
    return {
        "status": "ok",
        "items": len(rec),
        "encoder": str(getattr(rec.encoder, "name", "unknown")),
        "bundle_version": cat.version,
        "created": rec.data.manifest.get("created"),
        # The page checks photo sizes before uploading them.
        "max_upload_bytes": max_upload_bytes,
        # The page shops the look of uploaded photos unless `serve --no-look` said not to.
        "look": request.app.state.page_look,
    }


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    """The web page."""
    return FileResponse(
        STATIC_DIR / "index.html",
        headers={"Cache-Control": "no-cache", "Content-Security-Policy": PAGE_CSP},
    )


def static_files() -> StaticFiles:
    """The page's script, styles and images, to mount at ``/static``."""
    return StaticFiles(directory=STATIC_DIR)


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> FileResponse:
    """The site icon (browsers ask for it on every page)."""
    return FileResponse(
        STATIC_DIR / "favicon.ico",
        media_type="image/x-icon",
        headers={"Cache-Control": ASSET_CACHE},
    )


@router.get("/docs", include_in_schema=False)
def swagger_ui(request: Request) -> HTMLResponse:
    """Interactive API documentation (Swagger UI), every file served by this app."""
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title}: API documentation",
        swagger_js_url=f"{root}/docs-assets/swagger-ui-bundle.js",
        swagger_css_url=f"{root}/docs-assets/swagger-ui.css",
        swagger_favicon_url=f"{root}/favicon.ico",
        # No validator badge: it would send the document's URL to an outside service.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/docs-assets/{name}", include_in_schema=False)
def docs_asset(name: str) -> Response:
    """One file of the documentation pages (only the named ones; never a path)."""
    media_type = DOCS_ASSETS.get(name)
    if media_type is None:
        raise ApiError(404, "not_found", "no such documentation file")
    return FileResponse(
        DOCS_ASSETS_DIR / name, media_type=media_type, headers={"Cache-Control": ASSET_CACHE}
    )
