"""Result grids as PNG: each query followed by its top-k (the paper's Figure 4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lookalike.files import atomic_write_with
from lookalike.imaging import ImageDecodeError, load_image

TILE = 160
CAPTION = 34
PAD = 8


@dataclass
class GridRow:
    """One grid row: the query tile then its results.

    Attributes:
        query: uint8 HxWx3 image of the query.
        query_caption: text under the query tile.
        results: uint8 images of the recommended items.
        captions: text under each result (e.g. id, type, distance).
        hits: per result, True/False to draw a green/red frame, or None for no frame.
    """

    query: np.ndarray
    query_caption: str
    results: Sequence[np.ndarray]
    captions: Sequence[str]
    hits: Sequence[bool | None] | None = None


def _font(size: int = 12) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _tile(image: np.ndarray) -> Image.Image:
    tile = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
    tile.thumbnail((TILE, TILE))
    canvas = Image.new("RGB", (TILE, TILE), "white")
    canvas.paste(tile, ((TILE - tile.width) // 2, (TILE - tile.height) // 2))
    return canvas


def _caption(draw: ImageDraw.ImageDraw, x: int, y: int, text: str, font) -> None:
    for line_no, line in enumerate(text.splitlines()[:2]):
        while line and draw.textlength(line, font=font) > TILE:
            line = line[:-1]
        draw.text((x, y + line_no * 15), line, fill="black", font=font)


def draw_grid(rows: Sequence[GridRow], out: str | Path, title: str = "") -> Path:
    """Draw ``rows`` (query | results...) into a PNG at ``out`` (written atomically).

    Memory: the canvas is (1 + max results) * 168 by rows * 202 pixels.
    """
    out = Path(out)
    columns = 1 + max((len(r.results) for r in rows), default=0)
    header = 24 if title else 0
    width = PAD + columns * (TILE + PAD) + PAD  # extra gap after the query column
    height = header + PAD + len(rows) * (TILE + CAPTION + PAD)
    canvas = Image.new("RGB", (width, height), (245, 245, 245))
    draw = ImageDraw.Draw(canvas)
    font = _font()
    if title:
        draw.text((PAD, 6), title, fill="black", font=_font(14))
    for r, row in enumerate(rows):
        y = header + PAD + r * (TILE + CAPTION + PAD)
        canvas.paste(_tile(row.query), (PAD, y))
        draw.rectangle(
            [PAD - 2, y - 2, PAD + TILE + 1, y + TILE + 1], outline=(40, 90, 200), width=3
        )
        _caption(draw, PAD, y + TILE + 2, row.query_caption, font)
        for c, (image, caption) in enumerate(zip(row.results, row.captions, strict=True)):
            x = 2 * PAD + (c + 1) * (TILE + PAD)
            canvas.paste(_tile(image), (x, y))
            hit = row.hits[c] if row.hits is not None else None
            if hit is not None:
                colour = (30, 160, 60) if hit else (210, 50, 50)
                draw.rectangle([x - 2, y - 2, x + TILE + 1, y + TILE + 1], outline=colour, width=3)
            _caption(draw, x, y + TILE + 2, caption, font)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_with(out, lambda tmp: canvas.save(tmp, format="PNG"))
    return out


def load_tile_image(path: str | Path | bytes, size: int = TILE) -> np.ndarray:
    """Letterboxed uint8 tile of an image file; a grey placeholder if it cannot be read."""
    try:
        return load_image(path, size)
    except ImageDecodeError:
        return np.full((size, size, 3), 200, np.uint8)
