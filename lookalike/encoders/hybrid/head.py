"""The hybrid's learned head: an MLP over cached backbone + colour features, its cosine
classifiers and instance output, its training loop, and its inference folded into numpy."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from lookalike.allocator import reuse_freed_memory
from lookalike.encoders.base import l2_normalize
from lookalike.encoders.device import resolve_device
from lookalike.encoders.hybrid.config import HybridConfig
from lookalike.encoders.hybrid.projection import ProjectedViews, fold_projection


class Head(nn.Module):
    """MLP from [backbone, colour] features to a unit-length embedding and, with
    ``instance > 0``, a second unit-length output of the same hidden layer."""

    def __init__(self, in_dim: int, hidden: int, out: int, instance: int = 0):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(hidden, out),
        )
        self.instance = nn.Linear(hidden, instance) if instance else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.outputs(x)[0]

    def outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(embedding, instance output or None), both unit length."""
        hidden = self.net[:4](x)
        z = nn.functional.normalize(self.net[4](hidden), dim=1)
        if self.instance is None:
            return z, None
        return z, nn.functional.normalize(self.instance(hidden), dim=1)


def head_to_numpy(head: Head) -> dict[str, np.ndarray]:
    """Fold BatchNorm into the first linear layer: inference is two matmuls in numpy (three
    with the instance output, ``w3``/``b3``). The per-column class prototypes (unit rows)
    come along as ``class.<column>``."""
    lin1, bn, _, _, lin2 = head.net
    scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()
    w1 = (lin1.weight.detach() * scale[:, None]).numpy()
    b1 = ((lin1.bias.detach() - bn.running_mean) * scale + bn.bias.detach()).numpy()
    instance = {}
    if head.instance is not None:
        instance = {
            "w3": head.instance.weight.detach().numpy().astype(np.float32),
            "b3": head.instance.bias.detach().numpy().astype(np.float32),
        }
    return {
        "w1": w1.astype(np.float32),
        "b1": b1.astype(np.float32),
        "w2": lin2.weight.detach().numpy().astype(np.float32),
        "b2": lin2.bias.detach().numpy().astype(np.float32),
        **instance,
        **{f"class.{c}": w.astype(np.float32) for c, w in getattr(head, "classifiers", {}).items()},
    }


def head_outputs(params: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inference of the folded head: float32 (n, in) -> unit-length (n, head_dim) embedding
    and (n, instance_dim) instance output ((n, 0) for a head without one)."""
    hidden = np.maximum(x @ params["w1"].T + params["b1"], 0)
    z = l2_normalize(hidden @ params["w2"].T + params["b2"])
    if "w3" not in params:
        return z, np.zeros((len(x), 0), np.float32)
    return z, l2_normalize(hidden @ params["w3"].T + params["b3"])


def class_probabilities(
    params: dict[str, np.ndarray],
    z: np.ndarray,
    temperature: float,
    column_weights: dict[str, float] | None = None,
) -> np.ndarray:
    """Per label column, sqrt of the softmax over its class prototypes (unit length) times the
    column's weight (default 1), concatenated and scaled to unit length overall: items
    predicted into the same classes end up close."""
    column_weights = column_weights or {}
    parts = []
    for key in sorted(k for k in params if k.startswith("class.")):
        logits = z @ params[key].T / temperature
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        parts.append(column_weights.get(key.removeprefix("class."), 1.0) * np.sqrt(probs))
    if not parts:
        return np.zeros((len(z), 0), np.float32)
    return l2_normalize(np.concatenate(parts, axis=1))


#: A label naming several classes, one of which is right (``Tops;Shirts``: an archive label
#: in another vocabulary, mapped by its type_map).
PARTIAL_SEPARATOR = ";"


def encode_label_columns(labels: dict[str, list[str]]) -> dict[str, tuple[np.ndarray, list[str]]]:
    """column -> (class index per row, -1 for unknown and for partial labels; class names).
    A partial label (``A;B``) adds its classes but no index (:func:`partial_label_sets`).
    Skips 1-class columns."""
    out = {}
    for column, values in labels.items():
        classes = sorted({part for v in values if v for part in v.split(PARTIAL_SEPARATOR) if part})
        if len(classes) < 2:
            continue
        lookup = {c: i for i, c in enumerate(classes)}
        out[column] = (np.array([lookup.get(v, -1) for v in values], np.int64), classes)
    return out


def partial_label_sets(values: list[str], classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The rows whose label names several classes (``A;B``, one of them right) and, per such
    row, which classes: (int64 rows, bool (rows, classes))."""
    lookup = {c: i for i, c in enumerate(classes)}
    rows = [i for i, v in enumerate(values) if PARTIAL_SEPARATOR in v]
    allowed = np.zeros((len(rows), len(classes)), bool)
    for slot, row in enumerate(rows):
        for part in values[row].split(PARTIAL_SEPARATOR):
            if part in lookup:
                allowed[slot, lookup[part]] = True
    return np.asarray(rows, np.int64), allowed


def instance_contrastive(a: torch.Tensor, b: torch.Tensor, scale: float) -> torch.Tensor:
    """Symmetric InfoNCE: row i of ``a`` must pick row i of ``b`` among all rows, and back."""
    logits = a @ b.T * scale
    labels = torch.arange(len(a), device=a.device)
    return (
        nn.functional.cross_entropy(logits, labels) + nn.functional.cross_entropy(logits.T, labels)
    ) / 2


def cpu_has_bf16() -> bool:
    """Whether this CPU runs bfloat16 matmuls natively (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def head_autocast(precision: str, device: str) -> contextlib.AbstractContextManager:
    """The autocast context of the head's forward passes: bfloat16 on a CPU that has it
    when ``precision`` is ``bf16``, else nothing (float32, as before)."""
    if precision == "bf16" and device == "cpu" and cpu_has_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_head(
    features: np.ndarray | ProjectedViews,
    targets: dict[str, np.ndarray],
    config: HybridConfig,
    progress: bool = False,
    description: str = "training hybrid head",
    device: str = "cpu",
    partial: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> Head:
    """Train the head on cached view features.

    Args:
        features: float32 (n, views, in_dim), the head's inputs for each view of each image;
            or those views projected (:func:`~lookalike.encoders.hybrid.projection.project_views`):
            the head trains on the projected views and comes back with its first layer
            folded over the raw ones (``in_dim`` inputs either way).
        targets: column -> class index per image (-1 = unknown, not trained on).
        partial: column -> (rows, bool (rows, classes)) of partial labels
            (:func:`partial_label_sets`): each such row is taught that its class is one of
            those, by the log of their summed probability (no term without them).
        config: schedule and loss weights.
        progress: show a progress bar with the loss.
        description: its label.
        device: ``cpu`` (default, bit-identical to before), ``cuda`` or ``auto``; batches are
            drawn on the CPU either way, and the returned head is on the CPU.
    """
    # Every step allocates and frees the same ~10 MB blocks: keep them for reuse (20% faster).
    with reuse_freed_memory():
        return _train_head(features, targets, config, progress, description, device, partial)


def _train_head(
    features: np.ndarray | ProjectedViews,
    targets: dict[str, np.ndarray],
    config: HybridConfig,
    progress: bool,
    description: str,
    device: str,
    partial: dict[str, tuple[np.ndarray, np.ndarray]] | None,
) -> Head:
    """:func:`train_head`'s loop."""
    device = resolve_device(device)
    projected = features if isinstance(features, ProjectedViews) else None
    if projected is not None:
        features = projected.features
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    n, n_views, in_dim = features.shape
    head = Head(in_dim, config.hidden_dim, config.head_dim, config.instance_dim)
    classifiers = nn.ModuleDict(
        {c: nn.Linear(config.head_dim, int(t.max()) + 1, bias=False) for c, t in targets.items()}
    )
    head, classifiers = head.to(device), classifiers.to(device)
    params = list(head.parameters()) + list(classifiers.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    steps = max(1, n // config.batch_size) * config.epochs
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=steps)
    feats = torch.from_numpy(features).to(device)
    target_t = {c: torch.from_numpy(t).to(device) for c, t in targets.items()}
    # Per column: row -> its slot in the partial-label table (-1: none), and that table.
    partial_slot, partial_mask = {}, {}
    for column, (rows, allowed) in (partial or {}).items():
        if column in targets and len(rows):
            slot = np.full(n, -1, np.int64)
            slot[rows] = np.arange(len(rows))
            partial_slot[column] = torch.from_numpy(slot).to(device)
            partial_mask[column] = torch.from_numpy(allowed).to(device)
    scale = 1.0 / config.temperature
    autocast = head_autocast(config.head_precision, device)
    bar = tqdm(total=steps, desc=description, unit="step", disable=not progress)
    for _ in range(steps):
        idx = torch.from_numpy(rng.choice(n, size=min(config.batch_size, n), replace=False))
        idx = idx.to(device)
        # v1 is a catalog-like view (clean or mirrored) used by the classifiers; v2 may be any
        # view, degraded ones included, and is pulled towards v1 by the contrastive term.
        v1 = torch.from_numpy(rng.integers(0, min(config.classify_views, n_views), size=len(idx)))
        v2 = torch.from_numpy(rng.integers(0, n_views, size=len(idx)))
        v1, v2 = v1.to(device), v2.to(device)
        with autocast:
            z1, i1 = head.outputs(feats[idx, v1].float())
            z2, i2 = head.outputs(feats[idx, v2].float())
        z1, z2 = z1.float(), z2.float()
        i1, i2 = (i1.float(), i2.float()) if i1 is not None else (None, None)
        loss = torch.zeros((), device=device)
        if config.contrastive_weight > 0 or not targets:
            weight = config.contrastive_weight if targets else 1.0
            loss = loss + weight * instance_contrastive(z1, z2, scale)
        if i1 is not None:
            loss = loss + config.instance_weight * instance_contrastive(i1, i2, scale)
        for column, classifier in classifiers.items():
            y = target_t[column][idx]
            known = y >= 0
            weight = nn.functional.normalize(classifier.weight, dim=1)
            classified = (z1,) if config.classify_views <= 2 else (z1, z2)
            if column in partial_slot:
                slots = partial_slot[column][idx]
                some = slots >= 0
                count = int(known.sum()) + int(some.sum())
                if count < 2:
                    continue
                allowed = partial_mask[column][slots[some]]
                for z in classified:
                    # One mean over every labelled row: cross-entropy for the known class,
                    # -log P(one of the allowed classes) for a partial label.
                    logits = (z @ weight.T) * scale
                    total = nn.functional.cross_entropy(logits[known], y[known], reduction="sum")
                    inside = logits[some].masked_fill(~allowed, float("-inf"))
                    nll = torch.logsumexp(logits[some], 1) - torch.logsumexp(inside, 1)
                    loss = loss + (total + nll.sum()) / count / len(classified)
                continue
            if known.sum() < 2:
                continue
            for z in classified:
                logits = (z[known] @ weight.T) * scale
                loss = loss + nn.functional.cross_entropy(logits, y[known]) / len(classified)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    head = head.to("cpu").eval()
    if projected is not None:
        head.net[0] = fold_projection(head.net[0], projected)
    classifiers = classifiers.to("cpu")
    head.classifiers = {
        c: nn.functional.normalize(m.weight, dim=1).detach().numpy() for c, m in classifiers.items()
    }
    return head
