"""lookalike.encoders.device: which device training and batch encoding use.

No GPU here: the CUDA branches are tested by monkeypatching torch.cuda.is_available; the CPU
path is checked to be bit-identical whatever the device argument resolves to on a CPU machine.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lookalike.encoders.cae import CAEConfig, CAEEncoder, train_cae
from lookalike.encoders.device import resolve_device
from lookalike.encoders.hybrid.config import HybridConfig
from lookalike.encoders.hybrid.head import train_head


@pytest.mark.parametrize(
    ("asked", "gpu", "expected"),
    [("auto", True, "cuda"), ("auto", False, "cpu"), ("cpu", True, "cpu"), ("CUDA", True, "cuda")],
)
def test_resolve_device(monkeypatch, asked, gpu, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    assert resolve_device(asked) == expected


def test_cuda_without_a_gpu_and_unknown_names_are_clear_errors(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        resolve_device("tpu")


TINY = CAEConfig(
    input_size=32, epochs=1, channels=(4, 4, 4, 4, 4), bottleneck_channels=4, batch_size=4
)


def _images(n: int = 8) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (n, 32, 32, 3), dtype=np.uint8)


def test_cae_training_on_auto_is_bit_identical_to_cpu_without_a_gpu(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    images = _images()
    model_a, hist_a = train_cae(images, TINY, tmp_path / "a", progress=False)
    model_b, hist_b = train_cae(images, TINY, tmp_path / "b", progress=False, device="auto")
    assert [r["train_loss"] for r in hist_a] == [r["train_loss"] for r in hist_b]
    for (name, a), (_, b) in zip(
        model_a.state_dict().items(), model_b.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    enc_a, enc_b = CAEEncoder(model_a, TINY), CAEEncoder(model_b, TINY).to_device("auto")
    assert enc_b.device == "cpu"
    np.testing.assert_array_equal(enc_a.encode(images), enc_b.encode(images))


def test_cae_training_asks_for_cuda_and_fails_clearly_without_one(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no CUDA GPU"):
        train_cae(_images(), TINY, tmp_path, progress=False, device="cuda")


def test_hybrid_head_training_is_identical_on_cpu_and_auto(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    rng = np.random.default_rng(1)
    features = rng.standard_normal((16, 2, 8)).astype(np.float32)
    targets = {"Colour": rng.integers(0, 3, 16)}
    config = HybridConfig(hidden_dim=8, head_dim=4, instance_dim=0, epochs=2, batch_size=8)
    a = train_head(features, targets, config)
    b = train_head(features, targets, config, device="auto")
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name
    assert next(b.parameters()).device.type == "cpu"


# --- on a real GPU (skipped where PyTorch sees none, e.g. CI) ----------------------------
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@needs_gpu
def test_backbone_batches_on_a_real_gpu_match_the_cpu():
    from lookalike.encoders.pretrained import BackboneRunner

    images = np.random.default_rng(2).integers(0, 255, (6, 96, 96, 3), dtype=np.uint8)
    cpu = BackboneRunner(None, input_size=96, pooling="multi")
    gpu = BackboneRunner(None, input_size=96, pooling="multi").to_device("cuda")
    a, b = cpu(images), gpu(images)
    assert a.shape == b.shape and np.isfinite(b).all()
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() > 0.999  # cuDNN/TF32 rounding, not a different network


@needs_gpu
def test_head_and_cae_train_on_a_real_gpu(tmp_path):
    rng = np.random.default_rng(1)
    features = rng.standard_normal((64, 2, 8)).astype(np.float32)
    targets = {"Colour": rng.integers(0, 3, 64)}
    config = HybridConfig(hidden_dim=8, head_dim=4, instance_dim=0, epochs=2, batch_size=8)
    head = train_head(features, targets, config, device="cuda")
    assert all(torch.isfinite(p).all() for p in head.parameters())
    model, history = train_cae(_images(), TINY, tmp_path, progress=False, device="cuda")
    assert np.isfinite(history[-1]["train_loss"])
    assert CAEEncoder(model, TINY).to_device("cuda").encode(_images()).shape[0] == 8
