"""The paper's CAE: shapes, a training run that must learn, checkpoints, persistence."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from lookalike.encoders import TrainingData, load_encoder
from lookalike.encoders.cae import (
    CAEConfig,
    CAEEncoder,
    ConvAutoEncoder,
    mean_image_loss,
    pixel_accuracy,
    train_cae,
)

SMALL = dict(input_size=64, channels=(8, 16, 32, 32, 32), bottleneck_channels=8, batch_size=8)


def shape_images(n: int, size: int = 64, seed: int = 0) -> np.ndarray:
    """Product-like images: a coloured ellipse or box of random size/place on white."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        image = Image.new("RGB", (size, size), "white")
        draw = ImageDraw.Draw(image)
        x0, y0 = rng.integers(2, size // 3, 2)
        x1, y1 = rng.integers(2 * size // 3, size - 2, 2)
        colour = tuple(int(c) for c in rng.integers(0, 200, 3))
        (draw.ellipse if i % 2 else draw.rectangle)([x0, y0, x1, y1], fill=colour)
        out[i] = np.asarray(image)
    return out


def test_autoencoder_shapes_and_range():
    model = ConvAutoEncoder((8, 16, 32, 32, 32), 8).eval()
    x = torch.rand(2, 3, 256, 256)
    with torch.no_grad():
        latent, recon = model.encode(x), model(x)
    assert latent.shape == (2, 8, 8, 8)  # 256 / 2**5 = 8: the paper's 8x8 bottleneck
    assert recon.shape == x.shape
    assert float(recon.min()) >= 0.0 and float(recon.max()) <= 1.0


def test_output_bias_starts_at_mean_pixel():
    model = ConvAutoEncoder((8, 8, 8, 8, 8), 4).eval()
    model.set_output_bias(0.9)
    with torch.no_grad():
        recon = model(torch.rand(1, 3, 64, 64))
    assert abs(float(recon.mean()) - 0.9) < 0.05


def test_pixel_accuracy_counts_pixels_within_tolerance():
    target = torch.zeros(1, 3, 2, 2)
    recon = target.clone()
    recon[0, 0, 0, 0] = 0.5  # one of 12 values off by more than 0.1
    assert pixel_accuracy(recon, target) == pytest.approx(11 / 12)


def test_config_rejects_bad_sizes():
    with pytest.raises(ValueError, match="multiple of 32"):
        CAEConfig(input_size=100)
    with pytest.raises(ValueError):
        CAEConfig(epochs=0)


def test_training_beats_the_mean_image_by_far(tmp_path):
    """A CAE that collapses to a blank/mean image fails this (loss stuck at the baseline)."""
    images = shape_images(64)
    config = CAEConfig(**SMALL, epochs=15, lr=3e-3, seed=1)
    model, history = train_cae(images, config, tmp_path, progress=False)
    baseline = history[0]["mean_image_val_loss"]
    assert min(row["val_loss"] for row in history) < 0.6 * baseline, (history[-1], baseline)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    # The per-epoch CSV and the loss-curve PNG are written like the paper's Figure 3.
    rows = list(csv.DictReader(open(tmp_path / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 16))
    assert {"train_loss", "val_loss", "train_accuracy", "val_accuracy"} <= set(rows[0])
    assert Image.open(tmp_path / "loss_curves.png").size[0] > 400


def test_mean_image_loss_is_zero_for_identical_images():
    images = np.full((6, 8, 8, 3), 128, np.uint8)
    assert mean_image_loss(images, np.arange(4), np.arange(4, 6)) == pytest.approx(0.0)


def test_resume_continues_from_checkpoint(tmp_path):
    images = shape_images(24)
    first = CAEConfig(**SMALL, epochs=2)
    train_cae(images, first, tmp_path, progress=False)
    # Same config with more epochs is a different config: it must not be mixed up ...
    _, history = train_cae(images, first, tmp_path, resume=True, progress=False)
    assert len(history) == 2  # ... while the same config resumes at its end: nothing to do
    more = CAEConfig(**SMALL, epochs=3)
    _, history = train_cae(images, more, tmp_path, resume=True, progress=False)
    assert [row["epoch"] for row in history] == [1, 2, 3]


def test_early_stopping_stops_before_the_last_epoch(tmp_path):
    images = shape_images(16)
    config = CAEConfig(**SMALL, epochs=30, lr=0.5, patience=1)  # lr too high: no improvement
    _, history = train_cae(images, config, tmp_path, progress=False)
    assert len(history) < 30


def test_denoising_mode_trains(tmp_path):
    images = shape_images(32)
    config = CAEConfig(**SMALL, epochs=2, denoise_std=0.2)
    _, history = train_cae(images, config, tmp_path, progress=False)
    assert np.isfinite(history[-1]["val_loss"])


def test_encoder_save_load_round_trip(tmp_path):
    images = shape_images(16)
    config = CAEConfig(**SMALL, epochs=1, embedding_pool=2)
    encoder = CAEEncoder.fit(TrainingData(images, {}, tmp_path, progress=False), config)
    vectors = encoder.encode(images)
    assert vectors.shape == (16, 8 * 1 * 1) and vectors.dtype == np.float32
    encoder.save(tmp_path / "saved")
    assert not list((tmp_path / "saved").glob("*.pt"))  # weights are safetensors, not pickle
    loaded = load_encoder(tmp_path / "saved")
    np.testing.assert_allclose(loaded.encode(images), vectors, rtol=1e-5, atol=1e-5)


def test_training_rejects_wrong_image_size(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        train_cae(shape_images(4, size=32), CAEConfig(**SMALL), tmp_path, progress=False)


def test_pca_projection_round_trips_and_never_retrains(tmp_path):
    images = shape_images(24)
    config = CAEConfig(**SMALL, epochs=1, pca_dim=4)
    encoder = CAEEncoder.fit(TrainingData(images, {}, tmp_path, progress=False), config)
    vectors = encoder.encode(images)
    assert encoder.raw_dim == 8 * 2 * 2 and vectors.shape == (24, 4) and encoder.dim == 4
    # Centred projections: the catalog's mean embedding sits at the origin.
    np.testing.assert_allclose(vectors.mean(axis=0), 0.0, atol=1e-4)
    encoder.save(tmp_path / "saved")
    np.testing.assert_allclose(load_encoder(tmp_path / "saved").encode(images), vectors, atol=1e-5)
    # A different projection size reuses the trained weights (no second epoch is run).
    checkpoint = (tmp_path / "cae" / "checkpoint.pt").stat().st_mtime_ns
    wider = CAEEncoder.fit(
        TrainingData(images, {}, tmp_path, progress=False), CAEConfig(**SMALL, epochs=1, pca_dim=6)
    )
    assert wider.dim == 6 and (tmp_path / "cae" / "checkpoint.pt").stat().st_mtime_ns == checkpoint
