"""lookalike.recommend: the garment focus on photo queries (a second look through crops
when the encoder is unsure), with a stub encoder whose confidence the test controls."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import lookalike
from lookalike.encoders.focus import FOCUS_CROPS, FOCUS_THRESHOLD, choose_views, top_probability


class SureOfBlue:
    """Wraps an encoder: confidence = the share of blue pixels in the view (so a crop that
    holds only the blue half of a photo is the surest); counts its batches."""

    def __init__(self, encoder):
        self.inner, self.batches = encoder, []
        self.input_size, self.dim, self.name = encoder.input_size, encoder.dim, encoder.name

    def encode(self, images):
        return self.inner.encode(images)

    def encode_with_confidence(self, images):
        self.batches.append(len(images))
        blue = (images[..., 2] > 150) & (images[..., 0] < 100)
        return self.inner.encode(images), blue.mean(axis=(1, 2)).astype(np.float32)


@pytest.fixture
def rec(tiny_bundle):
    recommender = lookalike.load(tiny_bundle)
    recommender.encoder = SureOfBlue(recommender.encoder)
    return recommender


def stacked(tmp_path, top, bottom, height=200):
    """A photo 100 px wide: ``top`` colour over ``bottom`` colour (each half the height)."""
    array = np.zeros((height, 100, 3), np.uint8)
    array[: height // 2], array[height // 2 :] = top, bottom
    path = tmp_path / "photo.png"
    Image.fromarray(array).save(path)
    return path


def test_an_unsure_photo_is_answered_from_its_surest_crop(rec, tmp_path):
    # Red over blue, portrait: the lower crop is the bluest view once letterboxed.
    photo = stacked(tmp_path, (200, 30, 30), (30, 30, 220))

    [result] = rec.recommend_images([photo], k=3)

    assert rec.encoder.batches == [1, len(FOCUS_CROPS)]  # whole photo, then every crop
    assert result.crop == FOCUS_CROPS["lower"]
    lower = rec.recommend_images([photo], k=3, crop=FOCUS_CROPS["lower"], focus=False)[0]
    assert [r.id for r in result.results] == [r.id for r in lower.results]
    assert result.to_dict()["crop"] == list(FOCUS_CROPS["lower"])


def test_a_confident_photo_costs_one_pass_and_keeps_the_whole_photo(rec, tmp_path):
    photo = stacked(tmp_path, (30, 30, 220), (30, 30, 220), 100)  # all blue: sure at once
    assert 1.0 >= FOCUS_THRESHOLD

    [result] = rec.recommend_images([photo], k=3)

    assert rec.encoder.batches == [1] and result.crop is None
    assert "crop" not in result.to_dict()


def test_focus_off_or_a_given_crop_never_looks_again(rec, tmp_path):
    photo = stacked(tmp_path, (200, 30, 30), (30, 30, 220))
    [off] = rec.recommend_images([photo], k=3, focus=False)
    [given] = rec.recommend_images([photo], k=3, crop=(0, 0, 1, 0.5))
    assert rec.encoder.batches == [] and off.crop is None and given.crop == (0, 0, 1, 0.5)


def test_choose_views_and_top_probability():
    assert choose_views(np.array([[0.5, 0.7, 0.7], [0.9, 0.1, 0.2]])).tolist() == [1, 0]
    probs = top_probability(np.array([[0.0, 0.0], [np.log(3.0), 0.0]]))
    np.testing.assert_allclose(probs, [0.5, 0.75], rtol=1e-6)
