"""lookalike.parsing.regions: probability maps -> garments (kind, box, area)."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.parsing.regions import (
    Garment,
    connected_groups,
    content_cells,
    garment_regions,
    main_garment,
    pad_box,
)
from tests.tolerances import approx, approx_tree

KINDS = ("none", "top", "skirt", "shoes")


def one_hot(kind_map: np.ndarray) -> np.ndarray:
    """(rows, cols) kind indices -> (kinds, rows, cols) probabilities of 1 and 0."""
    return np.eye(len(KINDS), dtype=np.float32)[kind_map].transpose(2, 0, 1)


def test_connected_groups_keep_two_shoes_apart():
    cells = np.zeros((5, 5), bool)
    cells[4, 0] = cells[4, 1] = True
    cells[4, 3] = True
    labels, count = connected_groups(cells)
    assert count == 2
    assert labels[4, 0] == labels[4, 1] != labels[4, 3]
    assert (labels[~cells] == 0).all()


def test_a_top_over_a_skirt_on_a_square_photo():
    kinds = np.zeros((10, 10), np.int64)
    kinds[1:4, 3:7] = 1  # top: rows 1-3, cols 3-6
    kinds[4:8, 3:7] = 2  # skirt
    found = garment_regions(one_hot(kinds), KINDS, 320, (0, 0, 320, 320), pad=0.0)
    assert [g.kind for g in found] == ["skirt", "top"]  # largest first
    skirt, top = found
    assert top.box == approx_tree((0.3, 0.1, 0.4, 0.3))
    assert skirt.area == approx(0.16) and skirt.score == approx(1.0)


def test_boxes_are_in_the_photos_own_fractions_not_the_letterbox():
    # A portrait photo: 160 px wide in the middle of a 320 square (cols 5..14 of 20).
    kinds = np.zeros((20, 20), np.int64)
    kinds[0:10, 5:10] = 1  # the left half of the photo, its top half
    [top] = garment_regions(one_hot(kinds), KINDS, 320, (80, 0, 160, 320), pad=0.0)
    assert top.box == approx_tree((0.0, 0.0, 0.5, 0.5))
    assert top.area == approx(0.25)


def test_small_garments_and_padding():
    kinds = np.zeros((10, 10), np.int64)
    kinds[0, 0] = 3  # 1 % of the photo: under the 1.5 % floor
    kinds[5:7, 5:7] = 3
    [shoe] = garment_regions(one_hot(kinds), KINDS, 320, (0, 0, 320, 320))
    assert shoe.box == approx_tree((0.46, 0.46, 0.28, 0.28))
    assert pad_box((0.0, 0.9, 0.1, 0.1), 0.04) == approx_tree((0.0, 0.86, 0.14, 0.14))


def test_content_cells_cover_the_photo():
    rows, cols = content_cells((20, 20), 320, (80, 0, 160, 320))
    assert (rows.start, rows.stop, cols.start, cols.stop) == (0, 20, 5, 15)


def test_bad_maps_are_refused():
    with pytest.raises(ValueError, match="kinds=4"):
        garment_regions(np.zeros((3, 5, 5)), KINDS, 320, (0, 0, 320, 320))


def test_main_garment_prefers_worn_kinds():
    bag = Garment("bag", (0, 0, 1, 1), 0.5, 0.9)
    dress = Garment("dress", (0, 0, 1, 1), 0.3, 0.9)
    assert main_garment([bag, dress], frozenset({"dress"})) is dress
    assert main_garment([bag, dress]) is bag
    assert main_garment([], None) is None
    assert dress.as_dict()["box"] == [0, 0, 1, 1]
