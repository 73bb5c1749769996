"""lookalike.encoders.queries: photo queries -> vectors (decode, crop, garment focus, encode),
over a stand-in encoder, no catalog."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import lookalike.recommend
from lookalike.encoders import queries
from lookalike.encoders.focus import FOCUS_CROPS
from lookalike.imaging import CropError


class RedEncoder:
    """Vector: mean RGB. Confidence: the share of red pixels (the hybrid's type probability
    stand-in), so a crop with more red is the one it is surest about."""

    input_size = 32
    dim = 3
    resize = "bilinear"

    def encode(self, images: np.ndarray) -> np.ndarray:
        return images.reshape(len(images), -1, 3).mean(axis=1).astype(np.float32)

    def encode_with_confidence(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        red = (images[..., 0] > 200) & (images[..., 1] < 60)
        return self.encode(images), red.reshape(len(images), -1).mean(axis=1).astype(np.float32)


def jpeg(top: tuple[int, int, int], bottom: tuple[int, int, int], size=(60, 80)) -> bytes:
    image = Image.new("RGB", size, bottom)
    image.paste(top, (0, 0, size[0], size[1] * 4 // 10))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


def test_per_source_crops():
    assert queries.per_source_crops(None, 2) == [None, None]
    assert queries.per_source_crops((0, 0, 0.5, 1), 2) == [(0, 0, 0.5, 1)] * 2
    assert queries.per_source_crops([None, "0,0,1,0.5".split(",")], 2)[1] == (0, 0, 1, 0.5)
    with pytest.raises(CropError, match="3 crops for 2 images"):
        queries.per_source_crops([None, None, None], 2)
    with pytest.raises(CropError):
        queries.per_source_crops((0.9, 0, 0.5, 1), 1)


def test_encode_images_reports_unreadable_sources_and_crops():
    encoder = RedEncoder()
    photo = jpeg((255, 0, 0), (0, 0, 255))
    vectors, ok, errors = queries.encode_images(encoder, [photo, b"not an image"])
    assert vectors.shape == (1, 3) and ok == [0] and errors[0][0] == 1
    # The upper 40 % is red, the rest blue: the crop of the top is red only.
    top, _, _ = queries.encode_images(encoder, [photo], crop=(0, 0, 1, 0.35))
    assert top[0, 0] > top[0, 2]
    empty, ok, errors = queries.encode_images(encoder, [b"junk"])
    assert empty.shape == (0, 3) and ok == [] and len(errors) == 1


def test_encode_photos_focuses_on_the_surest_crop_only_when_unsure():
    encoder = RedEncoder()
    unsure = jpeg((255, 0, 0), (0, 0, 255))  # 40 % red: below the focus threshold
    sure = jpeg((255, 0, 0), (255, 0, 0))  # all red
    vectors, ok, errors, regions = queries.encode_photos(encoder, [unsure, sure, b"x"])
    assert ok == [0, 1] and [e[0] for e in errors] == [2]
    assert regions == [FOCUS_CROPS["upper"], None]  # the upper crop holds the most red
    # No focus when asked for none, or when the shopper chose the region.
    assert queries.encode_photos(encoder, [unsure], focus=False)[3] == [None]
    assert queries.encode_photos(encoder, [unsure], crop=(0, 0.5, 1, 0.5))[3] == [(0, 0.5, 1, 0.5)]
    assert not queries.focuses(object()) and queries.focuses(encoder)


def test_the_garment_found_answers_an_unsure_photo_before_the_fixed_crops():
    encoder = RedEncoder()
    green = jpeg((0, 255, 0), (0, 0, 255))  # no red at all: unsure
    sure = jpeg((255, 0, 0), (255, 0, 0))
    unsure = jpeg((255, 0, 0), (0, 0, 255))  # 40 % red: unsure
    asked = []

    def find_garment(images):
        asked.append(len(images))
        return [(0.0, 0.5, 1.0, 0.5), None]  # a garment in the first unsure photo only

    vectors, ok, _, regions = queries.encode_photos(
        encoder, [green, sure, unsure], find_garment=find_garment
    )
    assert asked == [2]  # only the unsure photos are parsed, in one batch
    assert regions[0] == (0.0, 0.5, 1.0, 0.5)  # the garment found
    assert vectors[0, 2] > vectors[0, 1]  # its blue lower half answered
    assert regions[1] is None  # sure: the whole photo
    assert regions[2] == FOCUS_CROPS["upper"]  # no garment found: the fixed crops


def test_old_import_paths():
    assert lookalike.recommend.decode_each is queries.decode_each
    assert lookalike.recommend.per_source_crops is queries.per_source_crops
