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

The package, in data-flow order: :mod:`~.config` (options, fusion part names),
:mod:`~.colour` (the histogram), :mod:`~.head` (the MLP, its training and numpy inference),
:mod:`~.fusion` (parts, weighting), :mod:`~.tuning` (fusion weights on held-out fifths) and
:mod:`~.encoder` (:class:`HybridEncoder`: inference, fit, persistence). The retrieval metrics
the tuning scores with live in :mod:`lookalike.evaluation` and are re-exported here under
their old names.
"""

from __future__ import annotations

from lookalike.encoders.hybrid.colour import (
    WHITE,
    colour_histogram,
)
from lookalike.encoders.hybrid.config import (
    FUSION_PARTS,
    HYBRID_LEGACY_OPTIONS,
    PCA_MIN_ITEMS_PER_DIM,
    HybridConfig,
)
from lookalike.encoders.hybrid.encoder import (
    HybridEncoder,
)
from lookalike.encoders.hybrid.fusion import (
    fuse,
    fusion_parts,
    split_parts,
)
from lookalike.encoders.hybrid.head import (
    Head,
    class_probabilities,
    encode_label_columns,
    head_outputs,
    head_to_numpy,
    instance_contrastive,
    train_head,
)
from lookalike.encoders.hybrid.tuning import (
    INSTANCE_WEIGHT,
    hide_labels,
    score_fusion_grid,
    tune_fusion_weights,
    validation_fifth,
)
from lookalike.evaluation import instance_recall, label_precision

__all__ = [
    "FUSION_PARTS",
    "HYBRID_LEGACY_OPTIONS",
    "Head",
    "HybridConfig",
    "HybridEncoder",
    "INSTANCE_WEIGHT",
    "PCA_MIN_ITEMS_PER_DIM",
    "WHITE",
    "class_probabilities",
    "colour_histogram",
    "encode_label_columns",
    "fuse",
    "fusion_parts",
    "head_outputs",
    "head_to_numpy",
    "hide_labels",
    "instance_contrastive",
    "instance_recall",
    "label_precision",
    "score_fusion_grid",
    "split_parts",
    "train_head",
    "tune_fusion_weights",
    "validation_fifth",
]
