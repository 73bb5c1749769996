"""A garment parser's probability maps -> the garments in a photo: pure functions over arrays.

The parser scores every cell of a coarse grid over the letterboxed photo with a probability
per garment kind (:data:`lookalike.parsing.kinds.KINDS`; kind 0 is "no garment"). A garment
is a connected group of cells whose most likely kind is that kind; its box is the group's
bounding box in the photo's own coordinates (the letterbox padding removed), padded a little
so a crop keeps the garment's edges, as the street-photo protocol pads its boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A garment must cover at least this share of the photo (the street protocol's 1.5 %).
MIN_AREA = 0.015
#: Boxes are padded by this share of the photo's width / height on each side, then clipped.
BOX_PAD = 0.04

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Garment:
    """One garment found in a photo.

    Attributes:
        kind: what it is (a :data:`~lookalike.parsing.kinds.KINDS` name, e.g. ``dress``).
        box: ``(x, y, w, h)`` fractions of the photo's width and height (a ``crop``).
        area: the share of the photo it covers (cells of its kind, not its box).
        score: the mean probability of its kind over its cells (0..1).
    """

    kind: str
    box: Box
    area: float
    score: float

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: ``kind``, ``box`` [x, y, w, h], ``area``, ``score`` (4 decimals)."""
        return {
            "kind": self.kind,
            "box": [round(v, 4) for v in self.box],
            "area": round(self.area, 4),
            "score": round(self.score, 4),
        }


def content_cells(
    grid: tuple[int, int], canvas: int, geometry: tuple[int, int, int, int]
) -> tuple[slice, slice]:
    """The grid rows and columns that cover the photo inside its letterbox square.

    Args:
        grid: (rows, columns) of the probability map.
        canvas: the letterbox square's side in pixels.
        geometry: ``(left, top, width, height)`` of the photo on the square
            (:func:`lookalike.imaging.letterbox_geometry`).
    """
    rows, cols = grid
    left, top, width, height = geometry
    r0 = int(np.floor(top * rows / canvas))
    r1 = max(r0 + 1, int(np.ceil((top + height) * rows / canvas)))
    c0 = int(np.floor(left * cols / canvas))
    c1 = max(c0 + 1, int(np.ceil((left + width) * cols / canvas)))
    return slice(r0, min(r1, rows)), slice(c0, min(c1, cols))


def connected_groups(cells: np.ndarray) -> tuple[np.ndarray, int]:
    """Label the 4-connected groups of True cells of a small 2-d grid: (labels, count), labels
    0 for False cells and 1..count for the groups (a flood fill; grids here are ~20 x 20)."""
    labels = np.zeros(cells.shape, np.int32)
    rows, cols = cells.shape
    count = 0
    for start in zip(*np.nonzero(cells), strict=True):
        if labels[start]:
            continue
        count += 1
        labels[start] = count
        stack = [start]
        while stack:
            r, c = stack.pop()
            for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                if 0 <= nr < rows and 0 <= nc < cols and cells[nr, nc] and not labels[nr, nc]:
                    labels[nr, nc] = count
                    stack.append((nr, nc))
    return labels, count


def pad_box(box: Box, pad: float = BOX_PAD) -> Box:
    """``box`` (fractions) grown by ``pad`` of the photo on each side, clipped to the photo."""
    x, y, w, h = box
    x0, y0 = max(0.0, x - pad), max(0.0, y - pad)
    x1, y1 = min(1.0, x + w + pad), min(1.0, y + h + pad)
    return (x0, y0, x1 - x0, y1 - y0)


def garment_regions(
    probabilities: np.ndarray,
    kinds: tuple[str, ...],
    canvas: int,
    geometry: tuple[int, int, int, int],
    *,
    min_area: float = MIN_AREA,
    pad: float = BOX_PAD,
    min_score: float = 0.0,
) -> list[Garment]:
    """The garments one probability map shows, largest first.

    Args:
        probabilities: (kinds, rows, columns) per-cell probabilities over the letterbox
            square (each cell sums to 1; kind 0 = no garment).
        kinds: the kind names, index = channel.
        canvas: the letterbox square's side in pixels.
        geometry: the photo's ``(left, top, width, height)`` on the square.
        min_area: drop garments covering less than this share of the photo.
        pad: box padding (:func:`pad_box`).
        min_score: drop garments whose mean probability is below this.

    Returns:
        One :class:`Garment` per connected group of cells of one kind (several groups of a
        kind, e.g. two shoes, are kept apart), sorted by area, largest first.
    """
    if probabilities.ndim != 3 or probabilities.shape[0] != len(kinds):
        raise ValueError(
            f"probabilities must be (kinds={len(kinds)}, rows, cols), got {probabilities.shape}"
        )
    rows, cols = content_cells(probabilities.shape[1:], canvas, geometry)
    probs = probabilities[:, rows, cols]
    n_rows, n_cols = probs.shape[1:]
    best = probs.argmax(axis=0)
    found: list[Garment] = []
    for index in range(1, len(kinds)):
        groups, count = connected_groups(best == index)
        for group in range(1, count + 1):
            cells = groups == group
            area = float(cells.sum()) / (n_rows * n_cols)
            score = float(probs[index][cells].mean())
            if area < min_area or score < min_score:
                continue
            ys, xs = np.nonzero(cells)
            box = (
                xs.min() / n_cols,
                ys.min() / n_rows,
                (xs.max() + 1 - xs.min()) / n_cols,
                (ys.max() + 1 - ys.min()) / n_rows,
            )
            found.append(Garment(kinds[index], pad_box(box, pad), area, score))
    return sorted(found, key=lambda g: -g.area)


def main_garment(
    garments: list[Garment], worn_kinds: frozenset[str] | None = None
) -> Garment | None:
    """The garment a photo is most about: the largest (by covered area) of ``worn_kinds``
    (every kind when None); None when there is none."""
    chosen = [g for g in garments if worn_kinds is None or g.kind in worn_kinds]
    return max(chosen, key=lambda g: g.area * g.score, default=None)
