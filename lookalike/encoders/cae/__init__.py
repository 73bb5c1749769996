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

The package's parts, read in this order as the paper's method:
:mod:`~lookalike.encoders.cae.model` (the config and the network),
:mod:`~lookalike.encoders.cae.training` (the training loop: checkpoints, resume, early
stopping, loss curves) and :mod:`~lookalike.encoders.cae.encoder` (the encoder that wraps
them). Every public name is importable from ``lookalike.encoders.cae``, as it was when this was
one module.
"""

from __future__ import annotations

from lookalike.encoders.cae.encoder import CAEEncoder
from lookalike.encoders.cae.model import (
    ACCURACY_TOLERANCE,
    CAEConfig,
    ConvAutoEncoder,
    pixel_accuracy,
)
from lookalike.encoders.cae.training import (
    CHECKPOINT,
    CURVES_PNG,
    EMBEDDING_ONLY_FIELDS,
    HISTORY_CSV,
    mean_image_loss,
    plot_history,
    train_cae,
    training_fingerprint,
    write_history,
)

__all__ = [
    "ACCURACY_TOLERANCE",
    "CHECKPOINT",
    "CURVES_PNG",
    "EMBEDDING_ONLY_FIELDS",
    "HISTORY_CSV",
    "CAEConfig",
    "CAEEncoder",
    "ConvAutoEncoder",
    "mean_image_loss",
    "pixel_accuracy",
    "plot_history",
    "train_cae",
    "training_fingerprint",
    "write_history",
]
