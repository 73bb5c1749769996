"""The paper's convolutional auto-encoder: its options (:class:`CAEConfig`), the network
(:class:`ConvAutoEncoder`) and its "accuracy" (:func:`pixel_accuracy`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

ACCURACY_TOLERANCE = 0.1


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
