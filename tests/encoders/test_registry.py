"""lookalike.encoders.registry: encoders by name, their configs, load by encoder.json."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from lookalike.bundle import read_bundle
from lookalike.encoders import registry
from lookalike.encoders.base import ENCODER_JSON, WEIGHTS_FILE, Encoder
from lookalike.encoders.cae import CAEConfig, CAEEncoder
from lookalike.encoders.hybrid import HybridEncoder
from lookalike.encoders.pretrained import PretrainedEncoder
from lookalike.encoders.registry import encoder_class, load_encoder, make_config, register_encoder


@dataclasses.dataclass
class ToyConfig:
    size: int = 4


def test_built_in_encoders_resolve_by_name():
    assert encoder_class("cae") is CAEEncoder
    assert encoder_class("efficientnet-lite0") is PretrainedEncoder
    assert encoder_class("hybrid") is HybridEncoder
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
    monkeypatch.setattr(registry, "ENCODERS", dict(registry.ENCODERS))

    @register_encoder("toy")
    class Toy:
        Config = ToyConfig

    assert Toy.name == "toy"
    assert encoder_class("toy") is Toy
    assert "toy" in registry.ENCODERS


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
