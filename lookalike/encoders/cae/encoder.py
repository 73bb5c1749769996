"""The CAE as an encoder (:class:`CAEEncoder`): trained by
:func:`~lookalike.encoders.cae.training.train_cae`, its bottleneck (optionally pooled, then
PCA-projected) is the embedding; saved as safetensors."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lookalike.encoders.base import (
    WEIGHTS_FILE,
    TrainingData,
    apply_pca,
    encode_in_batches,
    fit_pca,
    load_pca,
    read_encoder_json,
    save_pca,
    to_tensor_batch,
    write_encoder_json,
)
from lookalike.encoders.cae.model import CAEConfig, ConvAutoEncoder
from lookalike.encoders.cae.training import train_cae
from lookalike.encoders.device import resolve_device


class CAEEncoder:
    """The paper's encoder: the CAE's bottleneck, (optionally pooled and) flattened."""

    name = "cae"
    Config = CAEConfig

    def __init__(
        self, model: ConvAutoEncoder, config: CAEConfig, pca: dict[str, np.ndarray] | None = None
    ):
        """Args:
        model: a trained auto-encoder (only its encoder half is used).
        config: the config it was trained with.
        pca: ``mean`` (raw_dim,) and ``components`` (pca_dim, raw_dim), or None.
        """
        self.model = model.eval().to(memory_format=torch.channels_last)
        self.device = "cpu"
        self.cfg = config
        self.pca = pca
        self.input_size = config.input_size
        side = config.input_size // 2 ** len(config.channels) // config.embedding_pool
        self.raw_dim = config.bottleneck_channels * side * side
        self.dim = len(pca["components"]) if pca is not None else self.raw_dim

    @classmethod
    def fit(cls, data: TrainingData, config: CAEConfig, resume: bool = True) -> CAEEncoder:
        """Train on ``data.images`` (labels unused: the CAE is unsupervised), then fit the
        PCA projection on the catalog's bottlenecks when ``pca_dim`` asks for one."""
        model, _ = train_cae(
            data.images,
            config,
            data.workdir / "cae",
            resume=resume,
            progress=data.progress,
            device=data.device,
        )
        encoder = cls(model, config)
        if config.pca_dim:
            encoder.pca = fit_pca(encoder.encode(data.images), config.pca_dim)
            encoder.dim = len(encoder.pca["components"])
        return encoder

    def bottlenecks(self, images: np.ndarray) -> np.ndarray:
        """uint8 (n, s, s, 3) -> float32 (n, raw_dim): (pooled) bottleneck, flattened."""

        def one_batch(batch: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                x = to_tensor_batch(batch).to(device=self.device, memory_format=torch.channels_last)
                z = self.model.encode(x)
                if self.cfg.embedding_pool > 1:
                    z = nn.functional.avg_pool2d(z, self.cfg.embedding_pool)
                return z.flatten(1).cpu().numpy().astype(np.float32)

        if len(images) == 0:
            return np.zeros((0, self.raw_dim), np.float32)
        return encode_in_batches(one_batch, images, batch_size=64)

    def to_device(self, device: str = "auto") -> CAEEncoder:
        """Run batch encoding on ``device`` (``auto``: CUDA when PyTorch sees a GPU)."""
        self.device = resolve_device(device)
        self.model = self.model.to(self.device)
        return self

    def encode(self, images: np.ndarray) -> np.ndarray:
        """uint8 (n, s, s, 3) -> float32 (n, dim): the bottleneck, PCA-projected if fitted."""
        return apply_pca(self.bottlenecks(images), self.pca)

    def reconstruct(self, images: np.ndarray) -> np.ndarray:
        """uint8 images -> uint8 reconstructions (for looking at what the CAE learned)."""
        with torch.inference_mode():
            out = self.model(to_tensor_batch(images).to(self.device)).cpu()
        return (out.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)

    def config(self) -> dict:
        """The training config as a dict."""
        return asdict(self.cfg)

    def save(self, directory: Path) -> None:
        """``encoder.json`` + ``weights.safetensors``."""
        from safetensors.torch import save_file

        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{WEIGHTS_FILE}.tmp"
        save_file({k: v.contiguous() for k, v in self.model.state_dict().items()}, str(tmp))
        tmp.replace(directory / WEIGHTS_FILE)
        save_pca(directory, self.pca)
        write_encoder_json(directory, self.name, self.cfg, {"dim": self.dim})

    @classmethod
    def load(cls, directory: Path) -> CAEEncoder:
        """Rebuild from ``encoder.json`` and the safetensors weights."""
        from safetensors.torch import load_file

        config, _ = read_encoder_json(directory, CAEConfig)
        model = ConvAutoEncoder(config.channels, config.bottleneck_channels)
        model.load_state_dict(load_file(str(Path(directory) / WEIGHTS_FILE)))
        return cls(model, config, load_pca(directory))
