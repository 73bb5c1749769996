"""EfficientNet-Lite0 with the packaged ImageNet weights: ONNX and PyTorch agree."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.encoders.base import TrainingData, load_encoder
from lookalike.encoders.pretrained import (
    FEATURE_DIM,
    BackboneRunner,
    PretrainedConfig,
    PretrainedEncoder,
    scale_input,
    weights_path,
)


def test_weights_ship_with_the_package():
    assert weights_path().is_file() and weights_path().stat().st_size > 10_000_000


def test_scale_input_matches_training_normalisation():
    x = scale_input(np.array([[[[0, 127, 255]]]], np.uint8))
    assert x.shape == (1, 3, 1, 1)
    np.testing.assert_allclose(x.ravel(), [-127 / 128, 0.0, 1.0], atol=1e-6)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    out = np.full((3, 224, 224, 3), 255, np.uint8)
    out[0, 60:160, 60:160] = (200, 30, 30)
    out[1, 40:180, 90:130] = (20, 20, 20)
    out[2] = rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)
    return out


def test_onnx_and_torch_backbones_agree(tmp_path, images):
    onnx = BackboneRunner(tmp_path / "backbone.onnx", writable=True)
    eager = BackboneRunner(None)
    assert onnx.session is not None, "ONNX Runtime export/inference should be available"
    np.testing.assert_allclose(onnx(images), eager(images), rtol=1e-3, atol=1e-3)


def test_encoder_outputs_unit_vectors_and_round_trips(tmp_path, images):
    data = TrainingData(images, {}, tmp_path, progress=False)
    encoder = PretrainedEncoder.fit(data, PretrainedConfig())
    vectors = encoder.encode(images)
    assert vectors.shape == (3, FEATURE_DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Different pictures give clearly different features.
    assert np.linalg.norm(vectors[0] - vectors[2]) > 0.3
    encoder.save(tmp_path / "saved")
    loaded = load_encoder(tmp_path / "saved")
    np.testing.assert_allclose(loaded.encode(images), vectors, atol=1e-4)
    assert encoder.encode(images[:0]).shape == (0, FEATURE_DIM)


def test_a_read_only_onnx_file_is_never_re_exported(tmp_path):
    path = tmp_path / "backbone.onnx"
    BackboneRunner(path, writable=True)  # exports at 224 px
    before = path.read_bytes()
    with pytest.raises(ValueError, match="224 px"):
        BackboneRunner(path, input_size=256)  # a bundle's file: refuse, don't rewrite
    assert path.read_bytes() == before
    assert BackboneRunner(tmp_path / "missing.onnx").session is None  # no export either
