"""The encoder seam: the registry by name, configs, batching, normalisation, save/load."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from lookalike.bundle import read_bundle
from lookalike.encoders import base
from lookalike.encoders.base import (
    ENCODER_JSON,
    PCA_FILE,
    WEIGHTS_FILE,
    Encoder,
    apply_pca,
    encode_in_batches,
    encoder_class,
    fit_pca,
    l2_normalize,
    load_encoder,
    load_pca,
    make_config,
    read_encoder_json,
    register_encoder,
    save_pca,
    to_tensor_batch,
    write_encoder_json,
)
from lookalike.encoders.cae import CAEConfig, CAEEncoder


@dataclasses.dataclass
class ToyConfig:
    size: int = 4
    scale: float = 1.0
    flag: bool = False


# --- registry ---------------------------------------------------------------------------------
def test_built_in_encoders_resolve_by_name():
    assert encoder_class("cae") is CAEEncoder
    for name in ("cae", "efficientnet-lite0", "hybrid"):
        assert encoder_class(name).name == name


def test_unknown_encoder_name_is_a_clear_error_listing_known_ones():
    with pytest.raises(ValueError, match="unknown encoder 'nope'") as info:
        encoder_class("nope")
    message = str(info.value)
    for name in ("cae", "efficientnet-lite0", "hybrid"):
        assert name in message
    # The known names are listed in sorted order.
    listed = message.split("known encoders: ")[1].split(", ")
    assert listed == sorted(listed)


def test_register_encoder_names_the_class_and_makes_it_resolvable(monkeypatch):
    monkeypatch.setattr(base, "ENCODERS", dict(base.ENCODERS))

    @register_encoder("toy")
    class Toy:
        Config = ToyConfig

    assert Toy.name == "toy"
    assert encoder_class("toy") is Toy
    assert "toy" in base.ENCODERS


# --- make_config ------------------------------------------------------------------------------
def test_make_config_defaults_and_overrides():
    assert make_config("cae") == CAEConfig()
    config = make_config("cae", {"epochs": 3, "channels": [8, 8, 8, 8, 8]})
    assert isinstance(config, CAEConfig)
    assert config.epochs == 3
    assert config.channels == (8, 8, 8, 8, 8)
    assert config.batch_size == CAEConfig().batch_size


def test_make_config_ignores_options_given_as_none():
    assert make_config("cae", {"epochs": None}).epochs == CAEConfig().epochs


def test_make_config_unknown_option_is_a_clear_error():
    with pytest.raises(ValueError, match=r"encoder 'cae' has no option\(s\) \['bogus'\]") as info:
        make_config("cae", {"bogus": 1, "epochs": 2})
    assert "epochs" in str(info.value)  # the valid options are listed


def test_make_config_unknown_encoder_is_an_error():
    with pytest.raises(ValueError, match="unknown encoder"):
        make_config("nope", {})


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
def test_load_encoder_round_trip(tiny_bundle, tmp_path):
    directory = read_bundle(tiny_bundle).encoder_dir
    encoder = load_encoder(directory)
    assert isinstance(encoder, Encoder)
    assert isinstance(encoder, CAEEncoder) and encoder.name == "cae"
    assert encoder.input_size == 64

    rng = np.random.default_rng(1)
    images = rng.integers(0, 255, (3, 64, 64, 3), dtype=np.uint8)
    vectors = encoder.encode(images)
    assert vectors.shape == (3, encoder.dim) and vectors.dtype == np.float32

    encoder.save(tmp_path / "again")
    assert (tmp_path / "again" / WEIGHTS_FILE).is_file()
    again = load_encoder(str(tmp_path / "again"))
    assert again.config() == encoder.config()
    assert again.dim == encoder.dim
    np.testing.assert_allclose(again.encode(images), vectors, rtol=1e-5, atol=1e-6)


def test_load_encoder_with_an_unknown_name_is_a_clear_error(tmp_path):
    (tmp_path / ENCODER_JSON).write_text(json.dumps({"name": "mystery", "config": {}}))
    with pytest.raises(ValueError, match="unknown encoder 'mystery'"):
        load_encoder(tmp_path)
