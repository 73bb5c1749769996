"""Every encoder records its letterbox filter; old bundles (no record) keep LANCZOS and the
build, ``lookalike add`` and every query letterbox with the recorded filter."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import lookalike
from lookalike.encoders import encoder_resize, load_encoder
from lookalike.encoders.base import saved_resize
from lookalike.encoders.hybrid.config import HYBRID_LEGACY_OPTIONS, HybridConfig
from lookalike.encoders.pretrained import LEGACY_OPTIONS, PretrainedConfig
from lookalike.imaging import load_image
from tests.tolerances import ATOL, RTOL, approx_tree


class Recording:
    """Wraps an encoder, claims the filter ``resize`` and keeps every batch it is given."""

    def __init__(self, encoder, resize=None):
        self.inner, self.batches = encoder, []
        self.input_size, self.dim, self.name = encoder.input_size, encoder.dim, encoder.name
        if resize is not None:
            self.resize = resize

    def encode(self, images):
        self.batches.append(images.copy())
        return self.inner.encode(images)

    def encode_with_confidence(self, images):
        return self.encode(images), np.ones(len(images), np.float32)


def stripes(tmp_path, size=(130, 90)):
    """A photo of fine stripes, where LANCZOS and BILINEAR differ most."""
    pixels = np.zeros((size[1], size[0], 3), np.uint8)
    pixels[:, ::2] = (210, 30, 80)
    pixels[:, 1::2] = (20, 160, 220)
    path = tmp_path / "stripes.png"
    Image.fromarray(pixels).save(path)
    return path


def test_configs_record_the_filter_and_old_ones_mean_lanczos():
    assert HybridConfig().resize == "bilinear"  # new bundles, since issue 19
    assert PretrainedConfig().resize == "lanczos"
    assert LEGACY_OPTIONS["resize"] == HYBRID_LEGACY_OPTIONS["resize"] == "lanczos"
    with pytest.raises(ValueError, match="unknown resize filter 'box'"):
        HybridConfig(resize="box")
    with pytest.raises(ValueError, match="unknown resize filter"):
        PretrainedConfig(resize="")


def test_saved_resize_reads_encoder_json(tmp_path):
    (tmp_path / "encoder.json").write_text(json.dumps({"name": "x", "config": {}}))
    assert saved_resize(tmp_path) == "lanczos"
    (tmp_path / "encoder.json").write_text(
        json.dumps({"name": "x", "config": {"resize": "bilinear"}})
    )
    assert saved_resize(tmp_path) == "bilinear"


@pytest.mark.parametrize("resize", [None, "lanczos", "bilinear"])
def test_queries_letterbox_with_the_recorded_filter(tiny_bundle, tmp_path, resize):
    """No record (the CAE, every bundle before the filter was recorded): exactly the LANCZOS
    pixels of before, on the plain, the cropped and the focus path; a record: its filter."""
    rec = lookalike.load(tiny_bundle)
    rec.encoder = Recording(rec.encoder, resize)
    expected_filter = resize or "lanczos"
    assert encoder_resize(rec.encoder) == expected_filter
    photo, size = stripes(tmp_path), rec.encoder.input_size

    rec.recommend_images([photo], k=3, focus=False)
    rec.recommend_images([photo], k=3, crop=(0, 0, 1, 0.5))
    rec.recommend_images([photo], k=3)  # the garment focus path

    plain = load_image(photo, size, resize=expected_filter)
    cropped = load_image(photo, size, crop=(0, 0, 1, 0.5), resize=expected_filter)
    assert np.array_equal(rec.encoder.batches[0][0], plain)
    assert np.array_equal(rec.encoder.batches[1][0], cropped)
    assert np.array_equal(rec.encoder.batches[2][0], plain)
    other = "bilinear" if expected_filter == "lanczos" else "lanczos"
    assert not np.array_equal(plain, load_image(photo, size, resize=other))


def lanczos_letterbox_by_hand(path, size):
    """The letterbox every bundle before the record used, spelt out with Pillow alone (so
    this test does not lean on the code it checks): LANCZOS, reducing_gap 3, white square."""
    image = Image.open(path).convert("RGB")
    scale = size / max(image.size)
    new = (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale)))
    resized = image.resize(new, Image.Resampling.LANCZOS, reducing_gap=3.0)
    square = Image.new("RGB", (size, size), (255, 255, 255))
    square.paste(resized, ((size - new[0]) // 2, (size - new[1]) // 2))
    return np.asarray(square)


def test_old_bundle_answers_exactly_as_before(bundle_copy, tmp_path):
    """A bundle without the record loads with LANCZOS: its queries are encoded from exactly
    the pixels of before, and the results are the nearest items to that very vector."""
    [encoder_dir] = list(bundle_copy.glob("versions/*/encoder"))
    payload = json.loads((encoder_dir / "encoder.json").read_text())
    assert "resize" not in payload["config"]  # an encoder config without the option
    assert encoder_resize(load_encoder(encoder_dir)) == "lanczos"
    photo = stripes(tmp_path)
    rec = lookalike.load(bundle_copy)
    old_pixels = lanczos_letterbox_by_hand(photo, rec.encoder.input_size)
    vector = rec.encoder.encode(old_pixels[None])
    # The same pixels through the query path and the batch path: kernels may differ.
    np.testing.assert_allclose(
        np.squeeze(rec.encode_images([photo])[0]), vector[0], rtol=RTOL, atol=ATOL
    )
    [result] = rec.recommend_images([photo], k=5, focus=False)
    [expected] = rec.search(vector, k=5)
    assert [(r.id, r.distance) for r in result.results] == approx_tree(
        [(r.id, r.distance) for r in expected]
    )
