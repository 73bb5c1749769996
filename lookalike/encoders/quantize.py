"""The backbone's input scaling and the static int8 quantisation of its ONNX graph (ONNX
Runtime's tools), calibrated on catalog images."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def scale_input(images: np.ndarray) -> np.ndarray:
    """uint8 NHWC -> float32 NCHW scaled as EfficientNet-Lite was trained: (x - 127) / 128."""
    x = np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32)
    x -= 127.0
    x *= 1.0 / 128.0
    return x


# Calibration runs one image at a time: the calibration graph keeps every activation alive
# for its min/max outputs, so a batch of 16 at 320 px peaked at 4.0 GB (1.4 GB at 4, 0.8 at
# 1); min/max over the same images gives the same graph byte for byte, in the same time.
QUANT_BATCH = 1


def quantize_onnx(source: Path, target: Path, calibration: np.ndarray) -> None:
    """Static int8 quantisation (QDQ, per-channel weights, uint8 activations) of ``source``.

    Activation ranges are the min/max over ``calibration`` (uint8 NHWC images, scaled as in
    :func:`scale_input`); the same images always give the same graph.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(range(0, len(calibration), QUANT_BATCH))

        def get_next(self) -> dict | None:
            start = next(self.batches, None)
            if start is None:
                return None
            return {"images": scale_input(calibration[start : start + QUANT_BATCH])}

    prepared = target.with_name(f".{target.name}.pre")
    try:
        quant_pre_process(str(source), str(prepared))
        quantize_static(
            str(prepared),
            str(target),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    finally:
        prepared.unlink(missing_ok=True)
