"""Options of the hybrid encoder, the names of its fusion parts, and what old bundles lack."""

from __future__ import annotations

from dataclasses import dataclass

from lookalike.encoders.pretrained import LEGACY_OPTIONS
from lookalike.imaging import check_resize

# Bundles written before these options existed: no projection, uniform colour histogram,
# fp32 backbone, LANCZOS letterbox (``LEGACY_OPTIONS``).
HYBRID_LEGACY_OPTIONS = {
    **LEGACY_OPTIONS,
    "pca_dim": 0,
    "colour_centre_sigma": 0.0,
    "pooling": "avg",
    "instance_dim": 0,
    "primary_class_weight": 1.0,
    "colour_class_weight": 1.0,
}
HEAD_PRECISIONS = ("fp32", "bf16")
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
            its mirror); each costs one backbone pass plus an augmentation per fit photo
            (~13 ms a photo on 2 cores). 2 is the default since issue 27: built from nothing
            with the demo's three archives (3 seeds, with ``head_precision=bf16``) it kept
            every quality bar (catalog P@10 0.839 vs 0.842 with 6 views, type AND colour
            0.610 vs 0.615, shopper-photos 0.804 vs 0.810, amateur 0.838 vs 0.842, street
            crop 0.778 vs 0.778) at half the views' cost (docs/performance.md).
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
        tune_epochs: epochs of the tuning splits' heads (the bundle's head trains
            ``epochs``); 0 = ``epochs``. The weightings are ranked, not the heads kept: on
            the catalog's views (seed 0, 2 splits) 20 epochs chose the same weighting as 40
            (regret 0.0000; one split of 40 epochs: 0.0066) in half the time.
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
        resize: the letterbox's filter (:data:`lookalike.imaging.RESIZE_FILTERS`), recorded
            so that the build and every query see the same pixels; bundles without it keep
            ``lanczos``. ``bilinear`` (the default since issue 19) halves the resize (1.1 vs
            2.4 ms for a 400 px photo to 320 px on 2 cores) at the same validation scores
            (fusion tuning of the archive-trained default, seed 0, weights (1, 0, 1, 2, 0.5):
            P@1 0.834 vs 0.830, P@10 type 0.683 vs 0.680, degraded recall@1 0.833 vs 0.846,
            archive P@10 0.546 vs 0.546).
        leave_out_archive_labels: archive photos whose ``primary_label`` names one of these
            (alone or among a partial label's classes) are left out of training: the
            leave-type-out measurement (teach without any archive photo of a type, measure
            that type). Their views stay cached, so such a build costs the head's training.
        tune_max_items: fusion tuning scores its weightings on at most this many labelled
            catalog items (a seeded sample; the heads still train on every row). Each
            weighting is an exact kNN evaluation whose cost grows with the square of the
            items scored, so this bounds tuning on large catalogs; catalogs of at most this
            many labelled items (the reference catalog: 2,328) are tuned as before.
        head_precision: the head's training matmuls on the CPU: ``bf16`` (the default:
            PyTorch autocast; weights, optimiser and losses stay float32) where the CPU has
            bfloat16 instructions (AVX512-BF16 / AMX), else fp32; or ``fp32``. On this
            machine's AVX512-BF16 a training step of the first layer takes 38 instead of
            87 ms; the quality is in ``views``' figures.
        head_input_dim: the head trains on the views' top principal directions, this many
            (:mod:`lookalike.encoders.hybrid.projection`; 0 = on the raw ~9,600 dims), and
            its first layer is folded back over the raw views, so bundles and queries are
            unchanged. A head epoch on the demo's 6,031 fit photos: 0.9 s at 1,024 dims
            against 3.8 s raw (2 cores, AVX2, float32). Off by default: on the demo (seed
            0) photos of people lost 0.01-0.08 P@10 (shopper 0.777 vs 0.788) at 1,024 or
            2,048 dims (docs/performance.md); for fits whose head dominates the build.
        tune_input_dim: the same for the tuning splits' heads only (0 = raw views). They
            only rank the fusion weightings, and the bundle's head still trains on the raw
            views. 1,024 since 2026-12-07: built from nothing with the demo's archives (3
            seeds, AVX2) catalog P@10 0.844 / type AND colour 0.604 / shopper 0.802 against
            0.843 / 0.605 / 0.802 with raw-view tuning, ~90 s less (docs/results.md).
        context_transfer: synthetic rows per labelled catalog row: the row's views plus an
            archive photo's residual from its type's catalog mean
            (:mod:`lookalike.encoders.hybrid.context_transfer`), with the row's primary
            label, so types no archive photo shows are also taught in archive settings
            (0 = none). Leave-type-out (seed 1): amateur Shorts without their archive
            photos 0.14 -> 0.23 (1 a row) -> 0.35 (3), Dress 0.18 -> 0.24 -> 0.15; street
            crops of a held-out type stay at 0. With every archive kept, shopper-photos
            0.792 vs 0.801, the rest mixed within 0.01 (docs/results.md): off by default.
    """

    input_size: int = 320
    views: int = 2
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
    tune_epochs: int = 20
    primary_class_weight: float = 2.0
    colour_class_weight: float = 1.5
    resize: str = "bilinear"
    leave_out_archive_labels: tuple[str, ...] = ()
    tune_max_items: int = 4000
    head_precision: str = "bf16"
    head_input_dim: int = 0
    tune_input_dim: int = 1024
    context_transfer: float = 0.0

    def __post_init__(self) -> None:
        check_resize(self.resize)
        if self.head_precision not in HEAD_PRECISIONS:
            raise ValueError(
                f"head_precision must be one of {', '.join(HEAD_PRECISIONS)}, "
                f"got {self.head_precision!r}"
            )
        for name in ("head_input_dim", "tune_input_dim"):
            if getattr(self, name) < 0:
                raise ValueError(
                    f"{name} must be >= 0 (0: the raw views), got {getattr(self, name)}"
                )
        if self.context_transfer < 0:
            raise ValueError(f"context_transfer must be >= 0, got {self.context_transfer}")
        if self.tune_epochs < 0:
            raise ValueError(f"tune_epochs must be >= 0 (0: epochs), got {self.tune_epochs}")
        self.leave_out_archive_labels = tuple(self.leave_out_archive_labels)
        weights = [float(w) for w in self.weights]
        # Older bundles stored three (before class probabilities) or four (before the
        # instance output) weights.
        self.weights = tuple(weights + [0.0] * (len(FUSION_PARTS) - len(weights)))

    @property
    def class_column_weights(self) -> dict[str, float]:
        """Label column -> factor of its probabilities in the class part (others: 1)."""
        return {"Colour": self.colour_class_weight, self.primary_label: self.primary_class_weight}
