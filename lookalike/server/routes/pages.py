"""The web page (``GET /``, its files under ``/static``) and ``GET /healthz``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from lookalike.server.deps import CurrentCatalog, UploadLimit
from lookalike.server.schemas import Health

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
# The page loads only its own script, styles and images (plus previews of local files).
PAGE_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

router = APIRouter()


@router.get("/healthz", response_model=Health)
def healthz(cat: CurrentCatalog, max_upload_bytes: UploadLimit) -> dict[str, Any]:
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
