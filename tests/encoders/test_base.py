"""lookalike.encoders.base: the Encoder protocol's helpers: batching, normalisation, PCA,
encoder.json (the registry is tested in test_registry.py)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from lookalike.encoders.base import (
    ENCODER_JSON,
    PCA_FILE,
    apply_pca,
    encode_in_batches,
    fit_pca,
    l2_normalize,
    load_pca,
    read_encoder_json,
    save_pca,
    to_tensor_batch,
    write_encoder_json,
)


@dataclasses.dataclass
class ToyConfig:
    size: int = 4
    scale: float = 1.0
    flag: bool = False


# --- registry ---------------------------------------------------------------------------------


# --- make_config ------------------------------------------------------------------------------


# --- l2_normalize -----------------------------------------------------------------------------
def test_l2_normalize_gives_unit_rows_in_the_same_direction():
    vectors = np.array([[3.0, 4.0], [0.0, -2.0], [1.0, 1.0]])
    out = l2_normalize(vectors)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(out[0], [0.6, 0.8], rtol=1e-6)
    np.testing.assert_allclose(out[1], [0.0, -1.0], rtol=1e-6)


def test_l2_normalize_keeps_zero_rows_zero():
    vectors = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0]], np.float32)
    with np.errstate(all="raise"):
        out = l2_normalize(vectors)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[0], 0.0)
    np.testing.assert_allclose(out[1], [1.0, 0.0, 0.0])


# --- encode_in_batches ------------------------------------------------------------------------
def row_sums(batch: np.ndarray) -> np.ndarray:
    return batch.reshape(len(batch), -1).sum(axis=1, keepdims=True).astype(np.float64)


def test_encode_in_batches_matches_one_batch_and_keeps_order():
    images = np.arange(7 * 2 * 2 * 3, dtype=np.uint8).reshape(7, 2, 2, 3)
    whole = row_sums(images).astype(np.float32)
    seen: list[int] = []

    def encode(batch):
        seen.append(len(batch))
        return row_sums(batch)

    out = encode_in_batches(encode, images, batch_size=3)
    assert seen == [3, 3, 1]
    assert out.dtype == np.float32 and out.shape == (7, 1)
    np.testing.assert_array_equal(out, whole)
    assert list(out[:, 0]) == sorted(out[:, 0])  # the rows grow with the input, in order


def test_encode_in_batches_with_a_batch_larger_than_the_input():
    images = np.ones((2, 1, 1, 3), np.uint8)
    calls = []
    out = encode_in_batches(lambda b: calls.append(len(b)) or row_sums(b), images, batch_size=64)
    assert calls == [2]
    np.testing.assert_array_equal(out, [[3.0], [3.0]])


# --- encoder.json -----------------------------------------------------------------------------
def test_encoder_json_round_trip_with_extra_and_legacy(tmp_path):
    write_encoder_json(tmp_path, "toy", ToyConfig(size=8), {"dim": 5})
    payload = json.loads((tmp_path / ENCODER_JSON).read_text())
    assert payload == {"name": "toy", "config": {"size": 8, "scale": 1.0, "flag": False}, "dim": 5}

    config, whole = read_encoder_json(tmp_path, ToyConfig)
    assert config == ToyConfig(size=8) and whole["dim"] == 5

    # A bundle written before ``flag`` existed gets the legacy value, not today's default...
    (tmp_path / ENCODER_JSON).write_text(json.dumps({"name": "toy", "config": {"size": 2}}))
    config, _ = read_encoder_json(tmp_path, ToyConfig, legacy={"flag": True})
    assert config == ToyConfig(size=2, flag=True)
    # ...while a saved value beats the legacy one.
    write_encoder_json(tmp_path, "toy", ToyConfig(flag=False))
    assert read_encoder_json(tmp_path, ToyConfig, legacy={"flag": True})[0].flag is False


# --- PCA and tensors --------------------------------------------------------------------------
def test_fit_and_apply_pca_project_on_the_main_direction():
    rng = np.random.default_rng(0)
    t = rng.normal(size=(50, 1))
    vectors = np.hstack([t * 10, t * 0 + rng.normal(scale=0.01, size=(50, 1)), t * -5]) + 3.0
    pca = fit_pca(vectors.astype(np.float32), dim=1)
    assert pca["mean"].shape == (3,) and pca["components"].shape == (1, 3)
    direction = np.array([10.0, 0.0, -5.0]) / np.linalg.norm([10.0, 0.0, -5.0])
    assert abs(float(pca["components"][0] @ direction)) == pytest.approx(1.0, abs=1e-3)
    projected = apply_pca(vectors, pca)
    assert projected.shape == (50, 1) and projected.dtype == np.float32
    assert apply_pca(vectors, None) is vectors
    # At most min(n, d) components.
    assert len(fit_pca(vectors[:2], dim=10)["components"]) == 2


def test_pca_save_and_load(tmp_path):
    assert load_pca(tmp_path) is None
    save_pca(tmp_path, None)
    assert not (tmp_path / PCA_FILE).exists()
    pca = {"mean": np.ones(3, np.float32), "components": np.eye(2, 3, dtype=np.float32)}
    save_pca(tmp_path, pca)
    loaded = load_pca(tmp_path)
    assert set(loaded) == {"mean", "components"}
    for key in pca:
        np.testing.assert_array_equal(loaded[key], pca[key])
    assert not list(tmp_path.glob(".*.tmp"))


def test_to_tensor_batch_is_nchw_in_unit_range():
    images = np.zeros((2, 3, 4, 3), np.uint8)
    images[1, 0, 0] = [255, 0, 51]
    tensor = to_tensor_batch(images)
    assert tuple(tensor.shape) == (2, 3, 3, 4)
    assert str(tensor.dtype) == "torch.float32"
    assert tensor[1, :, 0, 0].tolist() == pytest.approx([1.0, 0.0, 0.2])
    assert float(tensor.max()) <= 1.0 and float(tensor.min()) >= 0.0


# --- load_encoder -----------------------------------------------------------------------------


def test_read_encoder_json_names_options_this_version_does_not_know(tmp_path):
    write_encoder_json(tmp_path, "toy", ToyConfig(size=8))
    config, payload = read_encoder_json(tmp_path, ToyConfig)
    assert config == ToyConfig(size=8) and payload["name"] == "toy"
    newer = json.loads((tmp_path / ENCODER_JSON).read_text())
    newer["config"]["warp_drive"] = 9
    (tmp_path / ENCODER_JSON).write_text(json.dumps(newer))
    with pytest.raises(ValueError, match="does not know: warp_drive.*newer version"):
        read_encoder_json(tmp_path, ToyConfig)
