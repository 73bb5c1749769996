"""Which PyTorch device training and batch encoding run on: ``auto``, ``cpu`` or ``cuda``.

``auto`` is CUDA when PyTorch sees a GPU, else the CPU. On a CPU-only machine every path is
the one it always was (same code, same numbers).
"""

from __future__ import annotations

import torch

__all__ = ["DEVICES", "resolve_device"]

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | None = "auto") -> str:
    """``"cpu"`` or ``"cuda"`` for a requested device name.

    Raises:
        ValueError: an unknown name, or ``cuda`` where PyTorch sees no GPU.
    """
    name = (device or "auto").strip().lower()
    if name not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    available = torch.cuda.is_available()
    if name == "auto":
        return "cuda" if available else "cpu"
    if name == "cuda" and not available:
        raise ValueError("--device cuda: PyTorch sees no CUDA GPU here (use auto or cpu)")
    return name
