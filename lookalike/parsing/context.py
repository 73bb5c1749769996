"""Context composites: the catalog's labelled products pasted over the garments the garment
parser finds in real photos (people in the street, garments on a bed), as more labelled
training rows (``lookalike build --context-photos``; the hybrid learns from them).

An archive teaches the encoder only the types it holds; every catalog type has catalog
shots, so composites show every type in a shopper's context. The photos need no labels: the
parser finds where garments are; a folder with a labels file gives only its training split
(``archive``, else ``train``: never ``dev``). Each product goes over a region of about its
shape (:func:`lookalike.imaging.composite.closest_aspect`), and the training photo is the
region with a random margin, letterboxed like a cropped query.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from lookalike.catalog import IMAGE_EXTENSIONS
from lookalike.files import atomic_write_text, file_stamp
from lookalike.imaging import DECODE_VERSION, ImageDecodeError, open_rgb
from lookalike.imaging.composite import Box, closest_aspect, cut_out, paste_product
from lookalike.imaging.preprocess import crop_image, letterbox
from lookalike.labelled import LABEL_FILES, read_labelled_photos, resolve_archive_split
from lookalike.parsing.model import WORN_KINDS, GarmentParser

#: Context photos are decoded with this longest side (the parser sees 320 px).
CONTEXT_SIDE = 512
#: A region must cover this share of its photo to take a product.
MIN_REGION_AREA = 0.02
#: The training photo is the pasted product's box plus a margin of this share of the photo
#: on each side, drawn uniformly (the street protocol's garment boxes pad by 0.04).
MARGIN = (0.03, 0.2)
PARSER_BATCH = 32


def context_photo_paths(folders: Sequence[str | Path]) -> list[Path]:
    """The photos of ``folders``: a folder with a labels file gives its training split's
    photos (``archive``, else ``train``; every photo when it has no split column), any other
    folder every image below it.

    Raises:
        FileNotFoundError: a folder that does not exist.
    """
    paths: list[Path] = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise FileNotFoundError(f"context photo folder not found: {folder}")
        if any((folder / name).is_file() for name in LABEL_FILES):
            split = resolve_archive_split(folder, "auto")
            paths += [Path(p) for p in read_labelled_photos(folder, split=split).paths]
        else:
            paths += sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    return paths


def _decode(path: Path) -> Image.Image | None:
    try:
        image = open_rgb(path, draft_size=CONTEXT_SIDE)
    except (ImageDecodeError, OSError):
        return None
    image.thumbnail((CONTEXT_SIDE, CONTEXT_SIDE), Image.Resampling.BILINEAR)
    return image


def garment_slots(
    paths: Sequence[Path], parser: GarmentParser, progress: bool = False
) -> list[tuple[int, Box, float]]:
    """Where products can go: each worn garment the parser finds (covering at least
    :data:`MIN_REGION_AREA`), and each photo's outfit (the union of its worn garments but
    shoes, when it has two or more), as (photo index, box in fractions, pixel aspect)."""
    slots: list[tuple[int, Box, float]] = []
    for start in tqdm(
        range(0, len(paths), PARSER_BATCH),
        desc="context photos (garment parser)",
        unit="batch",
        disable=not progress,
    ):
        stop = min(len(paths), start + PARSER_BATCH)
        batch = [(i, image) for i in range(start, stop) if (image := _decode(paths[i]))]
        if not batch:
            continue
        parsed = parser.parse([image for _, image in batch])
        for (index, image), garments in zip(batch, parsed, strict=True):
            width, height = image.size
            worn = [g for g in garments if g.kind in WORN_KINDS and g.area >= MIN_REGION_AREA]
            boxes = [tuple(map(float, g.box)) for g in worn]
            body = [b for g, b in zip(worn, boxes, strict=True) if g.kind != "shoes"]
            if len(body) >= 2:
                x0, y0 = min(b[0] for b in body), min(b[1] for b in body)
                x1 = max(b[0] + b[2] for b in body)
                y1 = max(b[1] + b[3] for b in body)
                boxes.append((x0, y0, x1 - x0, y1 - y0))
            for box in boxes:
                aspect = (box[2] * width) / max(1e-6, box[3] * height)
                slots.append((index, box, aspect))  # type: ignore[arg-type]
    return slots


def cached_slots(
    paths: Sequence[Path],
    parser: GarmentParser | None,
    progress: bool,
    cache_dir: Path | None,
) -> list[tuple[int, Box, float]]:
    """:func:`garment_slots`, kept in ``cache_dir`` (JSON) by a digest of the photos."""
    stamps = json.dumps(
        [DECODE_VERSION, [file_stamp(path.resolve()) for path in paths]], separators=(",", ":")
    )
    digest = hashlib.sha256(stamps.encode()).hexdigest()[:16]
    cache = cache_dir / f"context-slots-{digest}.json" if cache_dir else None
    if cache is not None and cache.is_file():
        return [(int(i), tuple(box), float(a)) for i, box, a in json.loads(cache.read_text())]
    slots = garment_slots(paths, parser or GarmentParser(), progress)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cache, json.dumps(slots))
    return slots


def context_composites(
    images: np.ndarray,
    rows: Sequence[int],
    folders: Sequence[str | Path],
    *,
    per_item: int,
    size: int,
    resize: str,
    seed: int,
    parser: GarmentParser | None = None,
    progress: bool = False,
    cache_dir: Path | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Training photos of catalog products in the context of ``folders``' photos.

    Args:
        images: uint8 (n, size, size, 3) letterboxed catalog images.
        rows: the catalog rows to place (those with a label; never hidden test items).
        folders: context photo folders (:func:`context_photo_paths`).
        per_item: composites per row (1..).
        size: the encoder's input size; resize: its letterbox filter.
        seed: fixes the regions, scales and margins.
        parser: the garment parser (default: the shipped one).
        progress: show progress bars.
        cache_dir: where the parser's regions are kept, by a digest of the photos' paths,
            sizes and times (a rebuild skips the parser); None: not kept.

    Returns:
        (source rows int64 (m,), composites uint8 (m, size, size, 3)); blank products are
        skipped, so m <= len(rows) x per_item. Empty when no photo has a garment.
    """
    if per_item < 1:
        raise ValueError(f"per_item must be >= 1, got {per_item}")
    paths = context_photo_paths(folders)
    slots = cached_slots(paths, parser, progress, cache_dir) if paths else []
    empty = (np.zeros(0, np.int64), np.zeros((0, size, size, 3), np.uint8))
    if not slots:
        return empty
    rng = np.random.default_rng(seed)
    plans: list[tuple[int, int, object]] = []  # (row, slot, the cut-out product)
    for row in [r for r in rows for _ in range(per_item)]:
        cut = cut_out(np.asarray(images[row]))
        if cut is None:
            continue
        aspect = cut[0].width / cut[0].height
        plans.append((row, closest_aspect(aspect, slots, rng), cut))
    by_photo: dict[int, list[int]] = {}
    for number, (_, slot, _) in enumerate(plans):
        by_photo.setdefault(slots[slot][0], []).append(number)
    out = np.zeros((len(plans), size, size, 3), np.uint8)
    made = np.zeros(len(plans), bool)
    for photo, numbers in tqdm(
        sorted(by_photo.items()), desc="context composites", unit="photo", disable=not progress
    ):
        background = _decode(paths[photo])
        if background is None:
            continue
        for number in numbers:
            row, slot, (product, alpha) = plans[number]  # type: ignore[misc]
            pasted, box = paste_product(background, product, alpha, slots[slot][1], rng)
            margin = rng.uniform(*MARGIN)
            x0, y0 = max(0.0, box[0] - margin), max(0.0, box[1] - margin)
            x1 = min(1.0, box[0] + box[2] + margin)
            y1 = min(1.0, box[1] + box[3] + margin)
            if x1 - x0 <= 0.01 or y1 - y0 <= 0.01:
                continue
            view = crop_image(pasted, (x0, y0, x1 - x0, y1 - y0))
            out[number] = letterbox(view, size, resize=resize)
            made[number] = True
    sources = np.array([row for row, _, _ in plans], np.int64)
    return sources[made], out[made]
