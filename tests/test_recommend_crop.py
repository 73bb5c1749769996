"""lookalike.recommend: the shopper's crop on image queries (``crop=(x, y, w, h)``)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import lookalike
from lookalike.imaging import CropError


@pytest.fixture(scope="module")
def rec(tiny_bundle):
    return lookalike.load(tiny_bundle)


def side_by_side(rec, left_id: str, right_id: str, path):
    """A PNG of two catalog photos next to each other (same pixels as their files)."""
    left = Image.open(rec.item(rec.row(left_id)).path).convert("RGB")
    right = Image.open(rec.item(rec.row(right_id)).path).convert("RGB")
    assert left.size == right.size
    both = Image.new("RGB", (left.width * 2, left.height))
    both.paste(left, (0, 0))
    both.paste(right, (left.width, 0))
    both.save(path)
    return path


def test_a_crop_answers_from_that_region_only(rec, tmp_path):
    photo = side_by_side(rec, "101", "111", tmp_path / "two.png")  # red circle | blue square

    [left] = rec.recommend_images([photo], k=1, crop=(0, 0, 0.5, 1))
    [right] = rec.recommend_images([photo], k=1, crop=(0.5, 0, 0.5, 1))

    assert left.results[0].id == "101" and left.results[0].distance < 1e-3
    assert right.results[0].id == "111" and right.results[0].distance < 1e-3


def test_one_crop_per_image_and_none_for_the_whole_photo(rec, tmp_path):
    photo = side_by_side(rec, "101", "111", tmp_path / "two.png")
    single = tmp_path / "one.png"
    Image.open(rec.item(rec.row("109")).path).convert("RGB").save(single)

    found = rec.recommend_images([photo, single], k=1, crop=[(0.5, 0, 0.5, 1), None])

    assert [r.results[0].id for r in found] == ["111", "109"]
    whole = rec.recommend_images([single], k=1)[0].results[0]
    assert np.isclose(whole.distance, found[1].results[0].distance, atol=1e-5)


@pytest.mark.parametrize(
    "crop", [(0, 0, 0, 1), (0.5, 0, 0.6, 1), (0, 0, 1), [(0, 0, 1, 1)] * 3, ("a", 0, 1, 1)]
)
def test_bad_crops_raise_a_crop_error(rec, tmp_path, crop):
    photo = side_by_side(rec, "101", "111", tmp_path / "two.png")
    with pytest.raises(CropError, match="crop"):
        rec.recommend_images([photo, photo], k=1, crop=crop)


def test_an_unreadable_image_with_a_crop_is_an_error_result(rec, tmp_path):
    junk = tmp_path / "junk.jpg"
    junk.write_text("not an image")
    [result] = rec.recommend_images([junk], k=1, crop=(0, 0, 0.5, 0.5))
    assert result.error and not result.results
