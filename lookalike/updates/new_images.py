"""The images an add brings: the inputs of ``lookalike add`` (files, folders searched like a
catalog, a metadata CSV), decoding and encoding them with the bundle's encoder, their content
hashes, and keeping uploads in ``BUNDLE/images/``."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from lookalike.bundle import IMAGES_DIR
from lookalike.catalog import (
    ID_COLUMN_CANDIDATES,
    IMAGE_COLUMN_CANDIDATES,
    find_images,
    pick_column,
    read_csv_rows,
)
from lookalike.encoders import encoder_resize
from lookalike.encoders.base import encode_in_batches
from lookalike.files import atomic_write_bytes
from lookalike.imaging import enable_heif, image_content_hash, load_images
from lookalike.updates.report import NewItem, Skipped
from lookalike.updates.versions import stage

# Pillow format name -> file extension for stored uploads (the image endpoint serves files
# with a type guessed from the extension).
FORMAT_EXTENSIONS = {
    "JPEG": ".jpg",
    "PNG": ".png",
    "WEBP": ".webp",
    "GIF": ".gif",
    "BMP": ".bmp",
    "HEIF": ".heic",
    "AVIF": ".avif",
}


def encode_new(
    candidates: list[NewItem], encoder: Any
) -> tuple[list[NewItem], np.ndarray, np.ndarray, list[Skipped]]:
    """Decode and encode ``candidates``: (the usable ones, their vectors, their decoded
    images, the skipped ones with the decoder's message)."""
    skipped = []
    sources = [item.source for item in candidates]
    # The encoder's recorded filter: new items are encoded as the catalog was.
    batch = load_images(sources, encoder.input_size, resize=encoder_resize(encoder))
    for position, message in batch.errors:
        item = candidates[position]
        name = item.name or item.id
        # The decoder names in-memory sources "<bytes>"; name the upload instead.
        message = message.replace("<bytes>", repr(name))
        skipped.append(Skipped(name, item.id, message, "invalid_image"))
    decoded = [candidates[position] for position in batch.ok]
    stage("decoded")
    if not decoded:
        return [], np.zeros((0, encoder.dim), np.float32), batch.images, skipped
    vectors = encode_in_batches(encoder.encode, batch.images, batch_size=64)
    finite = np.isfinite(vectors).all(axis=1)
    for position in np.flatnonzero(~finite):
        item = decoded[position]
        reason = "the encoder gave non-finite values"
        skipped.append(Skipped(item.name or item.id, item.id, reason, "non_finite"))
    keep = np.flatnonzero(finite)
    stage("encoded")
    return [decoded[p] for p in keep], vectors[keep], batch.images[keep], skipped


def expand_images(paths: list[Path]) -> list[Path]:
    """Files as given; folders replaced by the catalog images below them."""
    out: list[Path] = []
    for path in paths:
        out += find_images(path) if path.is_dir() else [path]
    return out


def metadata_rows(
    csv_path: str | Path | None,
    id_column: str | None,
    image_column: str | None,
    images: list[Path],
) -> tuple[dict[str, tuple[str | None, dict[str, str]]], list[str]]:
    """CSV rows keyed by image file name and by id: key -> (id, metadata); plus problems."""
    if csv_path is None:
        return {}, []
    rows, problems = read_csv_rows(Path(csv_path))
    fieldnames = list(rows[0]) if rows else []
    id_col = pick_column(fieldnames, id_column, ID_COLUMN_CANDIDATES)
    image_col = pick_column(fieldnames, image_column, IMAGE_COLUMN_CANDIDATES)
    if rows and id_col is None and image_col is None:
        problems.append(
            f"{Path(csv_path).name} has neither an id nor an image column; ids are file names"
        )
        return {}, problems
    names = {p.name for p in images} | {p.stem for p in images}
    keyed: dict[str, tuple[str | None, dict[str, str]]] = {}
    for line_no, row in enumerate(rows, start=2):
        item_id = row.get(id_col, "") if id_col else ""
        file_name = Path(row.get(image_col, "")).name if image_col else ""
        key = file_name if file_name in names else item_id if item_id in names else None
        if key is None:
            problems.append(
                f"{Path(csv_path).name} line {line_no}: no image among the inputs matches "
                f"{(file_name or item_id)!r}; row ignored"
            )
            continue
        if key in keyed:
            problems.append(f"{Path(csv_path).name} line {line_no}: {key!r} repeated; first kept")
            continue
        metadata = {k: v for k, v in row.items() if k not in (id_col, image_col)}
        keyed[key] = (item_id or None, metadata)
    return keyed, problems


def content_hash(source: Path | bytes) -> str:
    if isinstance(source, bytes | bytearray):
        return hashlib.sha256(source).hexdigest()
    return image_content_hash(source)


def store_image(bundle_dir: Path, source: Path | bytes, digest: str) -> str:
    """Keep an added image in ``BUNDLE/images/<sha256><ext>`` (written once, atomically)."""
    data = bytes(source) if isinstance(source, bytes | bytearray) else Path(source).read_bytes()
    try:
        enable_heif()
        with Image.open(io.BytesIO(data)) as image:
            suffix = FORMAT_EXTENSIONS.get(image.format or "", ".img")
    except Exception:  # noqa: BLE001 - it decoded a moment ago; the name is cosmetic
        suffix = ".img"
    folder = bundle_dir / IMAGES_DIR
    folder.mkdir(exist_ok=True)
    target = folder / f"{digest}{suffix}"
    if not target.exists():
        atomic_write_bytes(target, data)
    return str(target.resolve())
