"""The paper's convolutional auto-encoder (CAE) and its training loop.

Architecture (256x256x3 input in [0, 1]):

    encoder     5 x [conv 3x3 stride 2 -> BatchNorm -> ReLU]      256 -> 8 px
    bottleneck  conv 1x1 -> BatchNorm -> ReLU                      8 x 8 x bottleneck_channels
    decoder     5 x [conv 3x3 -> BatchNorm -> ReLU -> upsample x2]  8 -> 256 px
                conv 3x3 -> sigmoid                                 256 x 256 x 3

MSE loss, Adam (lr 1e-3), 30 epochs, batch 32, as in the paper. BatchNorm and He
initialisation, plus a final bias set to the mean pixel, keep it from collapsing to the
all-white image that a plain CAE predicts on white-background product photos.

"Accuracy" (the paper reports one without defining it) is here the share of pixel channels
reconstructed within 0.1 of the target (on a 0..1 scale).

Model, training loop (checkpoints, resume, early stopping, loss curves) and the encoder that
wraps them stay in one module (about 520 lines) so that it reads as the paper's method.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import asdict, dataclass
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
from lookalike.encoders.device import resolve_device

ACCURACY_TOLERANCE = 0.1
HISTORY_CSV = "history.csv"
CURVES_PNG = "loss_curves.png"
CHECKPOINT = "checkpoint.pt"


@dataclass
class CAEConfig:
    """Training and architecture options of the paper's CAE.

    Attributes:
        input_size: square input side in pixels (a multiple of 32).
        channels: encoder widths, one stride-2 stage each (decoder mirrors them).
        bottleneck_channels: channels of the 8x8 (for 256 px) bottleneck.
        embedding_pool: average-pool the bottleneck by this factor before flattening
            (1 keeps all 8*8*bottleneck_channels values; 2 gives a quarter).
        pca_dim: project the flattened bottleneck on its top principal components (fit on
            the catalog; 0 keeps it whole). Measured on the reference catalog
            (bench/embedding_size.py): 2,048 -> 128 dims keeps P@10 ProductType (0.608 vs
            0.606) and cuts search time 17x and memory 16x; pooling instead loses 4-23 points.
        epochs, lr, batch_size: Adam training schedule (paper: 30, 1e-3).
        val_fraction: share of images held out for validation loss.
        seed: fixes the split, initialisation and batch order.
        denoise_std: std of Gaussian noise added to inputs (0 = plain CAE); targets stay clean.
        patience: stop when validation loss has not improved for this many epochs (0 = never).
        threads: torch intra-op threads (0 = all cores).
    """

    input_size: int = 256
    channels: tuple[int, ...] = (16, 32, 64, 128, 128)
    bottleneck_channels: int = 32
    embedding_pool: int = 1
    pca_dim: int = 128
    epochs: int = 30
    lr: float = 1e-3
    batch_size: int = 32
    val_fraction: float = 0.1
    seed: int = 0
    denoise_std: float = 0.0
    patience: int = 0
    threads: int = 0

    def __post_init__(self) -> None:
        self.channels = tuple(int(c) for c in self.channels)
        factor = 2 ** len(self.channels)
        if self.input_size % factor:
            raise ValueError(f"input_size must be a multiple of {factor}, got {self.input_size}")
        if self.epochs < 1 or self.batch_size < 1 or not 0 <= self.val_fraction < 1:
            raise ValueError("epochs and batch_size must be >= 1 and val_fraction in [0, 1)")


def _conv_block(cin: int, cout: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class ConvAutoEncoder(nn.Module):
    """Encoder -> bottleneck -> decoder of upsampling + convolutions, sigmoid output."""

    def __init__(self, channels: tuple[int, ...] = (16, 32, 64, 128, 128), bottleneck: int = 32):
        """Args:
        channels: encoder stage widths; each stage halves the resolution.
        bottleneck: channels of the latent map.
        """
        super().__init__()
        stages, cin = [], 3
        for cout in channels:
            stages.append(_conv_block(cin, cout, stride=2))
            cin = cout
        self.encoder = nn.Sequential(*stages)
        self.bottleneck = _conv_block(cin, bottleneck, kernel=1)
        up, cin = [], bottleneck
        for cout in reversed(channels):
            # Convolve before upsampling: the same receptive field at a quarter of the cost of
            # convolving at the doubled resolution (49 s instead of 152 s an epoch here).
            up += [_conv_block(cin, cout), nn.Upsample(scale_factor=2, mode="nearest")]
            cin = cout
        self.decoder = nn.Sequential(*up, nn.Conv2d(cin, 3, 3, padding=1))
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def set_output_bias(self, mean_pixel: float) -> None:
        """Start the sigmoid output at the data's mean pixel (logit), not at 0.5."""
        last = self.decoder[-1]
        mean_pixel = min(max(mean_pixel, 1e-3), 1 - 1e-3)
        nn.init.constant_(last.bias, math.log(mean_pixel / (1 - mean_pixel)))
        nn.init.normal_(last.weight, std=1e-3)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent map (n, bottleneck, s/32, s/32)."""
        return self.bottleneck(self.encoder(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(self.encode(x)))


def pixel_accuracy(
    recon: torch.Tensor, target: torch.Tensor, tol: float = ACCURACY_TOLERANCE
) -> float:
    """Share of pixel channels with |recon - target| <= tol (the CAE's 'accuracy')."""
    return float((recon - target).abs().le(tol).float().mean())


def _set_threads(threads: int) -> None:
    import os

    torch.set_num_threads(threads or os.cpu_count() or 1)


def _split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction)) if n > 1 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _run_epoch(
    model: ConvAutoEncoder,
    images: np.ndarray,
    indices: np.ndarray,
    config: CAEConfig,
    optimizer: torch.optim.Optimizer | None,
    generator: torch.Generator,
    bar=None,
) -> tuple[float, float]:
    """One pass; trains when ``optimizer`` is given. Returns (mean MSE, mean accuracy)."""
    training = optimizer is not None
    model.train(training)
    device = next(model.parameters()).device
    total_loss = total_acc = 0.0
    seen = 0
    if training:
        order = indices[torch.randperm(len(indices), generator=generator).numpy()]
    else:
        order = indices
    context = torch.enable_grad() if training else torch.inference_mode()
    with context:
        for start in range(0, len(order), config.batch_size):
            batch_idx = np.sort(order[start : start + config.batch_size])
            if training and len(batch_idx) < 2:
                continue  # BatchNorm cannot train on a single image
            target = to_tensor_batch(images[batch_idx]).to(
                device=device, memory_format=torch.channels_last
            )
            inputs = target
            if config.denoise_std > 0:
                # Drawn on the CPU generator, so noise is the same on every device.
                noise = torch.randn(target.shape, generator=generator) * config.denoise_std
                inputs = (target + noise.to(device)).clamp_(0, 1)
            recon = model(inputs)
            loss = nn.functional.mse_loss(recon, target)
            if training:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            n = len(batch_idx)
            total_loss += loss.item() * n
            total_acc += pixel_accuracy(recon.detach(), target) * n
            seen += n
            if bar is not None and training:
                bar.update(n)
                bar.set_postfix(loss=f"{total_loss / seen:.4f}")
    return total_loss / max(seen, 1), total_acc / max(seen, 1)


def mean_image_loss(images: np.ndarray, train_idx: np.ndarray, val_idx: np.ndarray) -> float:
    """MSE on the validation images of always predicting the mean training image (a baseline
    a useful CAE must beat by a wide margin)."""
    mean = np.zeros(images.shape[1:], dtype=np.float64)
    for sl in range(0, len(train_idx), 256):
        mean += images[train_idx[sl : sl + 256]].astype(np.float64).sum(axis=0)
    mean /= 255.0 * max(len(train_idx), 1)
    err = 0.0
    for sl in range(0, len(val_idx), 256):
        batch = images[val_idx[sl : sl + 256]].astype(np.float64) / 255.0
        err += float(((batch - mean) ** 2).sum())
    return err / max(len(val_idx) * mean.size, 1)


def write_history(history: list[dict], workdir: Path, plot: bool = True) -> None:
    """Per-epoch history to ``history.csv`` and, with ``plot``, ``loss_curves.png`` (paper
    Figure 3 style; drawing takes about a second, so training plots every 5 epochs)."""
    if not history:
        return
    fields = list(history[0])
    tmp = workdir / f".{HISTORY_CSV}.tmp"
    with tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(history)
    tmp.replace(workdir / HISTORY_CSV)
    if plot:
        plot_history(history, workdir / CURVES_PNG)


def plot_history(history: list[dict], out: Path) -> None:
    """Loss and accuracy curves, train vs validation, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("train_loss", "training"), ("val_loss", "validation")):
        ax_loss.plot(epochs, [row[key] for row in history], marker="o", label=label)
    for key, label in (("train_accuracy", "training"), ("val_accuracy", "validation")):
        ax_acc.plot(epochs, [100 * row[key] for row in history], marker="o", label=label)
    ax_loss.set(title="(a) Loss (MSE)", xlabel="epoch", ylabel="loss")
    ax_acc.set(
        title=f"(b) Accuracy (pixels within {ACCURACY_TOLERANCE})", xlabel="epoch", ylabel="%"
    )
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(out)


# Options that only shape the embedding after training; changing them never retrains.
EMBEDDING_ONLY_FIELDS = ("embedding_pool", "pca_dim", "threads")


def training_fingerprint(config: CAEConfig) -> str:
    """The config fields that decide the trained weights, as canonical JSON."""
    fields = {k: v for k, v in asdict(config).items() if k not in EMBEDDING_ONLY_FIELDS}
    return json.dumps(fields, sort_keys=True)


def train_cae(
    images: np.ndarray,
    config: CAEConfig,
    workdir: Path,
    *,
    resume: bool = False,
    progress: bool = True,
    device: str = "cpu",
) -> tuple[ConvAutoEncoder, list[dict]]:
    """Train the CAE on uint8 images; checkpoint every epoch into ``workdir``.

    Args:
        images: uint8 (n, s, s, 3), s == config.input_size. Memory: the array itself plus
            ~4 batches of float32 activations (a few hundred MB at batch 32, 256 px).
        config: the schedule and architecture.
        workdir: gets ``checkpoint.pt`` (each epoch), ``history.csv`` and ``loss_curves.png``.
        resume: continue from ``workdir/checkpoint.pt`` when it exists and matches ``config``.
        progress: show a tqdm bar with the running loss.
        device: ``cpu`` (the default, bit-identical to before), ``cuda`` or ``auto``
            (:func:`lookalike.encoders.device.resolve_device`). Batches move to the device one
            at a time; the random streams (split, order, noise) stay on the CPU, so a run
            draws the same batches on any device. The returned model is on the CPU.

    Returns:
        (model in eval mode with the best-validation weights, per-epoch history rows).
    """
    from tqdm.auto import tqdm

    if images.ndim != 4 or images.shape[1:] != (config.input_size, config.input_size, 3):
        raise ValueError(
            f"expected images of shape (n, {config.input_size}, {config.input_size}, 3), "
            f"got {images.shape}"
        )
    if len(images) < 2:
        raise ValueError("the CAE needs at least 2 images to train")
    workdir.mkdir(parents=True, exist_ok=True)
    _set_threads(config.threads)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    train_idx, val_idx = _split(len(images), config.val_fraction, config.seed)
    model = ConvAutoEncoder(config.channels, config.bottleneck_channels)
    model.set_output_bias(float(images[train_idx[:512]].mean()) / 255.0)
    device = resolve_device(device)
    model = model.to(device=device, memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    history: list[dict] = []
    best_state, best_val, start_epoch = None, math.inf, 0

    checkpoint_path = workdir / CHECKPOINT
    if resume and checkpoint_path.exists():
        state = torch.load(checkpoint_path, weights_only=True, map_location=device)
        if state["config"] == training_fingerprint(config):
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            generator.set_state(state["generator"])
            history = json.loads(state["history"])
            best_state, best_val = state["best_model"], float(state["best_val"])
            start_epoch = len(history)
        elif progress:
            print(f"checkpoint in {workdir} is for another config; training from scratch")

    baseline = mean_image_loss(images, train_idx, val_idx) if len(val_idx) else float("nan")
    stale = 0
    for epoch in range(start_epoch, config.epochs):
        started = time.perf_counter()
        with tqdm(
            total=len(train_idx),
            desc=f"CAE epoch {epoch + 1}/{config.epochs}",
            unit="img",
            disable=not progress,
            leave=False,
        ) as bar:
            train_loss, train_acc = _run_epoch(
                model, images, train_idx, config, optimizer, generator, bar
            )
        if len(val_idx):
            val_loss, val_acc = _run_epoch(model, images, val_idx, config, None, generator)
        else:
            val_loss, val_acc = train_loss, train_acc
        row = {
            "epoch": epoch + 1,
            "train_loss": round(train_loss, 6),
            "val_loss": round(val_loss, 6),
            "train_accuracy": round(train_acc, 6),
            "val_accuracy": round(val_acc, 6),
            "mean_image_val_loss": round(baseline, 6),
            "seconds": round(time.perf_counter() - started, 2),
        }
        history.append(row)
        if progress:
            print(
                f"epoch {epoch + 1}/{config.epochs}: loss {train_loss:.4f} val {val_loss:.4f} "
                f"(mean-image {baseline:.4f}) acc {100 * val_acc:.1f}% in {row['seconds']:.0f}s",
                flush=True,
            )
        if val_loss < best_val:
            best_val, stale = val_loss, 0
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        else:
            stale += 1
        torch.save(
            {
                "config": training_fingerprint(config),
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(),
                "history": json.dumps(history),
                "best_model": best_state,
                "best_val": best_val,
            },
            workdir / f".{CHECKPOINT}.tmp",
        )
        (workdir / f".{CHECKPOINT}.tmp").replace(checkpoint_path)
        stop = bool(config.patience and stale >= config.patience)
        last = stop or epoch + 1 == config.epochs
        write_history(history, workdir, plot=last or (epoch + 1) % 5 == 0)
        if stop:
            if progress:
                print(f"early stopping: no validation improvement for {stale} epochs")
            break
    model = model.to("cpu")
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval(), history


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


__all__ = [
    "CAEConfig",
    "CAEEncoder",
    "ConvAutoEncoder",
    "train_cae",
    "pixel_accuracy",
    "mean_image_loss",
]
