"""The backbone's input scaling and the static int8 quantisation of its ONNX graph (ONNX
Runtime's tools), calibrated on catalog images."""

from __future__ import annotations

import functools
import platform
from pathlib import Path

import numpy as np

#: CPU flags (Linux ``/proc/cpuinfo``) of int8 dot products that accumulate u8 x s8 in 32
#: bits: with one of them ONNX Runtime's int8 convolutions do not saturate.
INT8_DOT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


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


@functools.cache
def cpu_flags() -> frozenset[str] | None:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``), None where they cannot be read.
    Read once a process: every backbone runner asks, and the file grows with the cores."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def int8_saturates(
    machine: str | None = None, flags: set[str] | frozenset[str] | None = None
) -> bool:
    """Whether ONNX Runtime's uint8 x int8 kernels saturate on this CPU: an x86-64 CPU
    without VNNI or AMX sums pairs of products in int16 (AVX2's VPMADDUBSW), which clips
    them (ONNX Runtime's documented caveat). Measured on an AMD EPYC with AVX2 only, at
    320 px: the 8-bit graph's features at cosine 0.86 (median; 0.52 at worst) to fp32, with
    7-bit weights 0.96. Unknown flags: False.

    Args:
        machine: ``platform.machine()`` (default: this one's).
        flags: the CPU flags (default: :func:`cpu_flags`).
    """
    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64", "i686", "x86"):
        return False
    flags = cpu_flags() if flags is None else flags
    return flags is not None and not any(flag in flags for flag in INT8_DOT_FLAGS)


def int8_weight_bits(path: Path) -> int:
    """The bits an int8 graph's weights use: 7 (quantised with ``reduce_range``: never
    saturates) or 8 (largest magnitude above 64); 0 for a graph without int8 weights."""
    import onnx
    from onnx import numpy_helper

    largest = -1
    for tensor in onnx.load(str(path)).graph.initializer:
        if tensor.data_type == onnx.TensorProto.INT8:
            values = numpy_helper.to_array(tensor)
            if values.size:
                largest = max(largest, int(np.abs(values.astype(np.int16)).max()))
    if largest < 0:
        return 0
    return 7 if largest <= 64 else 8


def quantize_onnx(
    source: Path, target: Path, calibration: np.ndarray, reduce_range: bool | None = None
) -> None:
    """Static int8 quantisation (QDQ, per-channel weights, uint8 activations) of ``source``.

    Activation ranges are the min/max over ``calibration`` (uint8 NHWC images, scaled as in
    :func:`scale_input`); the same images always give the same graph on one kind of CPU.
    ``reduce_range`` (default: :func:`int8_saturates`) quantises the weights to 7 bits, so
    that no product sum can saturate, on this CPU or any other that runs the graph.
    """
    if reduce_range is None:
        reduce_range = int8_saturates()
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
            reduce_range=reduce_range,
        )
    finally:
        prepared.unlink(missing_ok=True)
