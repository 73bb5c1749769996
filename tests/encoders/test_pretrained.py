"""EfficientNet-Lite0 with the packaged ImageNet weights: ONNX and PyTorch agree."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.encoders import TrainingData, load_encoder
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


def test_query_session_threads_and_same_features(tmp_path, images):
    """Small batches (queries) run on ``query_threads`` threads (default: the runner's,
    then the batch session itself), idle workers sleeping, with the batch session's
    features."""
    path = tmp_path / "backbone.onnx"
    two = BackboneRunner(path, threads=2, writable=True)
    assert two.small_batch_session is two.session
    options = two.session.get_session_options()
    assert options.intra_op_num_threads == 2
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    one_query_thread = BackboneRunner(path, threads=2, query_threads=1)
    query = one_query_thread.small_batch_session.get_session_options()
    assert query.intra_op_num_threads == 1 and one_query_thread.query_threads == 1
    many = two(np.concatenate([images, images]))  # > SMALL_BATCH: the batch session
    for runner in (two, one_query_thread):
        np.testing.assert_allclose(runner(images[:1]), many[:1], rtol=1e-5, atol=1e-5)


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


def test_int8_backbone_tracks_fp32_and_is_calibrated_deterministically(tmp_path, images):
    from lookalike.encoders.base import l2_normalize
    from lookalike.encoders.quantize import int8_saturates, int8_weight_bits

    fp32 = BackboneRunner(tmp_path / "backbone.onnx", writable=True)
    calibration = np.concatenate([images] * 4)
    int8 = BackboneRunner(tmp_path / "a-int8.onnx", writable=True, calibration=calibration)
    again = BackboneRunner(tmp_path / "b-int8.onnx", writable=True, calibration=calibration)
    assert any(node.op_type == "QuantizeLinear" for node in _graph_nodes(tmp_path / "a-int8.onnx"))
    assert (tmp_path / "a-int8.onnx").read_bytes() == (tmp_path / "b-int8.onnx").read_bytes()
    cosine = (l2_normalize(int8(images)) * l2_normalize(fp32(images))).sum(axis=1)
    if int8_saturates():
        # No VNNI: the export takes 7-bit weights, so sums never saturate; it tracks fp32 less
        # closely than 8-bit weights on a VNNI CPU (0.84-0.87 on these 3 synthetic images
        # on an AVX2-only EPYC, where 8-bit weights gave 0.73-0.80).
        assert int8_weight_bits(tmp_path / "a-int8.onnx") == 7
        assert cosine.min() > 0.8, cosine
    else:
        assert int8_weight_bits(tmp_path / "a-int8.onnx") == 8
        assert cosine.min() > 0.9, cosine
    np.testing.assert_allclose(int8(images), again(images))


def _graph_nodes(path):
    import onnx

    return onnx.load(str(path)).graph.node


def test_int8_encoder_round_trips_and_old_bundles_stay_fp32(tmp_path, images):
    import json

    data = TrainingData(np.concatenate([images] * 3), {}, tmp_path, progress=False)
    encoder = PretrainedEncoder.fit(data, PretrainedConfig(precision="int8"))
    encoder.save(tmp_path / "saved")
    assert (tmp_path / "saved" / "backbone-int8.onnx").is_file()
    assert not (tmp_path / "saved" / "backbone.onnx").exists()
    np.testing.assert_allclose(
        load_encoder(tmp_path / "saved").encode(images), encoder.encode(images), atol=1e-5
    )
    # An encoder.json without the option (written before it existed) means fp32 ...
    fp32 = PretrainedEncoder.fit(
        TrainingData(images, {}, tmp_path / "w2", progress=False), PretrainedConfig()
    )
    fp32.save(tmp_path / "old")
    payload = json.loads((tmp_path / "old" / "encoder.json").read_text())
    del payload["config"]["precision"]
    (tmp_path / "old" / "encoder.json").write_text(json.dumps(payload))
    assert load_encoder(tmp_path / "old").cfg.precision == "fp32"
    # ... and a bundle whose int8 graph went missing is an error, not a silent fp32 run.
    (tmp_path / "saved" / "backbone-int8.onnx").unlink()
    with pytest.raises(FileNotFoundError, match="int8"):
        load_encoder(tmp_path / "saved")


def test_calibration_batch_does_not_change_the_int8_graph(tmp_path, monkeypatch):
    """One calibration image at a time bounds the export's memory (4.0 GB at 16 per batch at
    320 px); min/max over the same images must give the same graph byte for byte."""
    import hashlib

    from lookalike.encoders import pretrained, quantize

    fp32 = tmp_path / "fp32.onnx"
    assert pretrained.export_onnx(fp32, 64, None, "avg")
    calibration = np.random.default_rng(0).integers(0, 256, (6, 64, 64, 3), dtype=np.uint8)
    digests = []
    for batch in (1, 4):
        monkeypatch.setattr(quantize, "QUANT_BATCH", batch)
        target = tmp_path / f"int8-{batch}.onnx"
        pretrained.quantize_onnx(fp32, target, calibration)
        digests.append(hashlib.sha256(target.read_bytes()).hexdigest())
    assert digests[0] == digests[1]
