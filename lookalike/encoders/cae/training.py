"""The CAE's training loop: the split, epochs with checkpoints (resume), early stopping, the
mean-image baseline and the per-epoch history (CSV and loss curves)."""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lookalike.encoders.base import to_tensor_batch
from lookalike.encoders.cae.model import (
    ACCURACY_TOLERANCE,
    CAEConfig,
    ConvAutoEncoder,
    pixel_accuracy,
)
from lookalike.encoders.device import resolve_device

HISTORY_CSV = "history.csv"
CURVES_PNG = "loss_curves.png"
CHECKPOINT = "checkpoint.pt"


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
