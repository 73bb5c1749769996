"""lookalike.garment_boxes: garment boxes from a label map (padding, clipping, the least
share of the photo) and box IoU."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.garment_boxes import box_iou, garment_boxes, mask_box, pad_box
from tests.tolerances import approx, approx_tree

LABELS = {0: "null", 1: "skin", 2: "shirt", 3: "pants", 4: "shoes", 5: "bag"}


def label_map() -> np.ndarray:
    """100 x 200 (height x width): a shirt in the middle, pants touching the left edge and
    the bottom, two small shoe patches (one garment), a bag, and skin."""
    mask = np.zeros((100, 200), np.uint8)
    mask[10:40, 50:150] = 2  # shirt: x 50..149, y 10..39
    mask[40:100, 0:60] = 3  # pants: x 0..59, y 40..99 (edges of the photo)
    mask[95:98, 100:110] = 4  # shoes, left: 30 px
    mask[95:98, 120:130] = 4  # shoes, right: 30 px -> 60 px = 0.3% of 20,000
    mask[50:70, 150:180] = 5  # bag: not wanted
    mask[0:5, 0:5] = 1
    return mask


def test_mask_box_is_the_bounding_box_of_the_true_pixels_as_fractions():
    mask = np.zeros((10, 20), bool)
    mask[2:5, 4:8] = True
    assert mask_box(mask) == approx_tree((0.2, 0.2, 0.2, 0.3))
    assert mask_box(np.zeros((3, 3), bool)) is None
    with pytest.raises(ValueError, match="2-D"):
        mask_box(np.zeros((2, 2, 3), bool))


def test_pad_box_grows_every_side_and_clips_to_the_photo():
    assert pad_box((0.25, 0.1, 0.5, 0.3), 0.04) == approx_tree((0.21, 0.06, 0.58, 0.38))
    # Touching the left and bottom edges: clipped there, grown elsewhere.
    assert pad_box((0.0, 0.4, 0.3, 0.6), 0.04) == approx_tree((0.0, 0.36, 0.34, 0.64))
    assert pad_box((0.5, 0.5, 0.1, 0.1), 0.0) == approx_tree((0.5, 0.5, 0.1, 0.1))


def test_garment_boxes_keeps_wanted_labels_above_the_least_share_padded_and_clipped():
    boxes = garment_boxes(label_map(), LABELS, {"shirt", "pants", "shoes"})

    assert [label for label, _ in boxes] == ["shirt", "pants"]  # shoes: 0.3% < 1.5%
    shirt, pants = (box for _, box in boxes)
    # shirt: (50/200, 10/100, 100/200, 30/100) padded by 0.04 on each side.
    assert shirt == approx_tree((0.21, 0.06, 0.58, 0.38))
    # pants: (0, 0.4, 0.3, 0.6) padded: clipped at the left and the bottom.
    assert pants == approx_tree((0.0, 0.36, 0.34, 0.64))


def test_garment_boxes_least_share_and_padding_are_parameters():
    boxes = dict(garment_boxes(label_map(), LABELS, {"shoes"}, min_fraction=0.002, pad=0.0))
    # Both shoe patches form one garment: x 100..129, y 95..97.
    assert boxes["shoes"] == approx_tree((0.5, 0.95, 0.15, 0.03))
    assert garment_boxes(label_map(), LABELS, {"shoes"}, min_fraction=0.0031) == []
    assert garment_boxes(label_map(), LABELS, {"hat"}) == []
    # A label number absent from the names is ignored; two numbers with one name merge.
    merged = dict(garment_boxes(label_map(), {2: "top", 5: "top"}, {"top"}, pad=0.0))
    assert merged["top"] == approx_tree((0.25, 0.1, 0.65, 0.6))


def test_box_iou():
    assert box_iou((0.0, 0.0, 0.5, 0.5), (0.0, 0.0, 0.5, 0.5)) == approx(1.0)
    # Half overlap: intersection 0.125, union 0.375.
    assert box_iou((0.0, 0.0, 0.5, 0.5), (0.0, 0.25, 0.5, 0.5)) == approx(1 / 3)
    assert box_iou((0.0, 0.0, 0.2, 0.2), (0.5, 0.5, 0.2, 0.2)) == approx(0.0)
    # Touching edges do not overlap; empty boxes give 0, not a division by zero.
    assert box_iou((0.0, 0.0, 0.5, 0.5), (0.5, 0.0, 0.5, 0.5)) == approx(0.0)
    assert box_iou((0.1, 0.1, 0.0, 0.0), (0.1, 0.1, 0.0, 0.0)) == approx(0.0)
    # Symmetric; a box inside another: the small area over the large.
    a, b = (0.1, 0.2, 0.6, 0.5), (0.2, 0.3, 0.2, 0.1)
    assert box_iou(a, b) == approx(0.02 / 0.3)
    assert box_iou(b, a) == approx(0.02 / 0.3)


@pytest.mark.slow
def test_the_street_photos_dev_garments():
    """../shared/street-photos: the protocol's garments of the 150 dev photos (its README
    reports 255; these functions count 256: one garment sits near the 1.5% line)."""
    from pathlib import Path

    from PIL import Image

    from lookalike.labelled import read_labelled_photos, read_mask_labels, read_type_map

    folder = Path(__file__).resolve().parents[2] / "shared" / "street-photos"
    if not folder.is_dir():
        pytest.skip("../shared/street-photos is not available")
    type_map = read_type_map(folder / "type_map.csv")
    labels_by_value = read_mask_labels(folder / "mask_labels.csv")
    garments = []
    for item in read_labelled_photos(folder, split="dev").items:
        with Image.open(folder / "masks" / f"{item.id}.png") as image:
            garments += garment_boxes(np.asarray(image), labels_by_value, type_map)
    assert len(garments) == 256
    assert all(0.0 <= x and 0.0 <= y and x + w <= 1.0 + 1e-9 and y + h <= 1.0 + 1e-9
               for _, (x, y, w, h) in garments)  # fmt: skip
