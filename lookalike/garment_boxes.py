"""Garment boxes from label maps, and box overlap: small pure functions over numpy arrays.

A box is ``(x, y, w, h)`` in fractions of the photo's width and height (the ``crop`` that
:meth:`lookalike.recommend.Recommender.recommend_images` takes). A label map is a 2-D integer
array, one label number per pixel (``../shared/street-photos/masks``). The street-photo
protocol (``../shared/street-photos/README.md``) counts a garment when its label is wanted and
its pixels cover at least 1.5% of the photo; its box is the bounding box of those pixels,
padded by 4% of the photo's width and height, clipped to the photo.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

Box = tuple[float, float, float, float]

#: A garment smaller than this share of the photo is not counted.
MIN_GARMENT_FRACTION = 0.015
#: Padding added on every side of a garment's box, as a share of the photo's width / height.
GARMENT_PAD = 0.04


def mask_box(mask: np.ndarray) -> Box | None:
    """The bounding box of the True pixels of a 2-D bool array, as fractions.

    Args:
        mask: bool (height, width).

    Returns:
        (x, y, w, h): x, y the first column / row holding a True pixel, w, h the extent up
        to and including the last one, each divided by the width / height; None when no
        pixel is True.
    """
    mask = np.asarray(mask, bool)
    if mask.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {mask.shape}")
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None
    height, width = mask.shape
    x0, x1 = int(cols[0]), int(cols[-1]) + 1
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    return (x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height)


def pad_box(box: Box, pad: float = GARMENT_PAD) -> Box:
    """``box`` grown by ``pad`` (a share of the photo's width / height) on every side and
    clipped to the photo (0..1).

    Args:
        box: (x, y, w, h) fractions.
        pad: the margin added on each side.

    Returns:
        The padded, clipped (x, y, w, h).
    """
    x, y, w, h = (float(v) for v in box)
    left, top = max(0.0, x - pad), max(0.0, y - pad)
    right, bottom = min(1.0, x + w + pad), min(1.0, y + h + pad)
    return (left, top, max(0.0, right - left), max(0.0, bottom - top))


def garment_boxes(
    mask: np.ndarray,
    labels_by_value: Mapping[int, str],
    wanted_labels: Collection[str],
    min_fraction: float = MIN_GARMENT_FRACTION,
    pad: float = GARMENT_PAD,
) -> list[tuple[str, Box]]:
    """The garments of a label map: every wanted label covering at least ``min_fraction`` of
    the photo, with the padded bounding box of its pixels.

    Args:
        mask: int (height, width), a label number per pixel.
        labels_by_value: label number -> label name (numbers absent here are ignored;
            several numbers with one name form one garment).
        wanted_labels: the label names that count as garments.
        min_fraction: the least share of the photo's pixels a garment covers.
        pad: margin added to each side of the box (:func:`pad_box`).

    Returns:
        [(label, (x, y, w, h) fractions)], ordered by label number.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"expected a 2-D label map, got shape {mask.shape}")
    wanted = set(wanted_labels)
    values_of: dict[str, list[int]] = {}
    for value, label in sorted(labels_by_value.items()):
        if label in wanted:
            values_of.setdefault(label, []).append(int(value))
    out = []
    for label, values in values_of.items():
        pixels = np.isin(mask, values)
        if not pixels.any() or pixels.mean() < min_fraction:
            continue
        box = mask_box(pixels)
        if box is not None:
            out.append((label, pad_box(box, pad)))
    return out


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes (0 when they do not overlap or
    both are empty).

    Args:
        a, b: boxes in the same units (fractions or pixels).

    Returns:
        The IoU in [0, 1].
    """
    ax, ay, aw, ah = (float(v) for v in a)
    bx, by, bw, bh = (float(v) for v in b)
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = max(0.0, aw) * max(0.0, ah) + max(0.0, bw) * max(0.0, bh) - inter
    return inter / union if union > 0 else 0.0
