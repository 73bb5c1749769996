"""The ``Encoder`` seam: uint8 image batches in, float32 embeddings out.

A new model is one new module that defines a class with the methods below (and a ``name``),
plus one line in :mod:`lookalike.encoders.registry`. Everything an encoder needs to come back
is written by ``save`` into one directory: ``encoder.json`` (name + config) and
``weights.safetensors`` (no pickle).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from safetensors.numpy import load_file, save_file

from lookalike.files import atomic_write_text, atomic_write_with
from lookalike.imaging import LEGACY_RESIZE

ENCODER_JSON = "encoder.json"
WEIGHTS_FILE = "weights.safetensors"


@runtime_checkable
class Encoder(Protocol):
    """Turns letterboxed RGB images into fixed-size float32 vectors."""

    name: str
    input_size: int
    dim: int

    def encode(self, images: np.ndarray) -> np.ndarray:
        """uint8 (n, input_size, input_size, 3) -> float32 (n, dim)."""
        ...

    def config(self) -> dict[str, Any]:
        """JSON-serialisable config that, with the weights, recreates this encoder."""
        ...

    def save(self, directory: Path) -> None:
        """Write ``encoder.json`` and weights into ``directory``."""
        ...


def encoder_resize(encoder: Any) -> str:
    """The letterbox filter (:data:`lookalike.imaging.RESIZE_FILTERS`) an encoder or its
    config records: what its catalog was encoded with, so every query must use it too.

    Args:
        encoder: an :class:`Encoder` or an encoder's config dataclass.

    Returns:
        its ``resize``; ``lanczos`` for encoders without one (the CAE, and every bundle
        built before the filter was recorded).
    """
    return getattr(encoder, "resize", LEGACY_RESIZE)


def saved_resize(directory: str | Path) -> str:
    """The letterbox filter recorded in the ``encoder.json`` saved in ``directory`` (as
    :func:`encoder_resize`, without loading the encoder; ``lanczos`` when none is recorded).
    """
    payload = json.loads((Path(directory) / ENCODER_JSON).read_text())
    return payload.get("config", {}).get("resize", LEGACY_RESIZE)


@dataclasses.dataclass
class TrainingData:
    """What an encoder may learn from.

    Attributes:
        images: uint8 (n, size, size, 3) letterboxed catalog images at the encoder's input size.
        labels: metadata column -> one label per image ('' where unknown or hidden, e.g. for
            evaluation test items). Empty when the catalog has no metadata.
        workdir: folder for checkpoints, loss curves and caches that outlive the run.
        progress: show progress bars.
        device: where training runs: ``cpu`` (default), ``cuda`` or ``auto``
            (:func:`lookalike.encoders.device.resolve_device`).
        archive_images: uint8 (m, size, size, 3) labelled photos that are not catalog items
            (a retailer's archive of past products, e.g. on-model photos): encoders that can
            learn from them add them to training; they are never encoded into the bundle.
        archive_labels: their labels, column -> one label per archive photo ('' unknown).
        context_images: uint8 (c, size, size, 3) catalog products pasted into real photos
            (:mod:`lookalike.parsing.context`); encoders that learn from an archive add them
            to training with the labels of their catalog rows.
        context_rows: the catalog row of each context image.
    """

    images: np.ndarray
    labels: dict[str, list[str]]
    workdir: Path
    progress: bool = True
    device: str = "cpu"
    archive_images: np.ndarray | None = None
    archive_labels: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    context_images: np.ndarray | None = None
    context_rows: Sequence[int] = ()


class EncoderSpec(Protocol):
    """What the registry holds per name: a config class, ``fit`` and ``load``."""

    name: str
    Config: type

    @classmethod
    def fit(cls, data: TrainingData, config: Any) -> Encoder: ...

    @classmethod
    def load(cls, directory: Path) -> Encoder: ...


def write_encoder_json(directory: Path, name: str, config: Any, extra: dict | None = None) -> None:
    """Write ``encoder.json`` for ``name`` with its dataclass ``config``."""
    payload = {"name": name, "config": dataclasses.asdict(config), **(extra or {})}
    atomic_write_text(directory / ENCODER_JSON, json.dumps(payload, indent=2))


def read_encoder_json(
    directory: Path, config_cls: type, legacy: dict[str, Any] | None = None
) -> tuple[Any, dict]:
    """Read ``encoder.json`` back into (config dataclass, whole payload).

    Args:
        directory: the encoder's folder.
        config_cls: its config dataclass.
        legacy: values for options that bundles written before the option existed lack
            (they were built with the old behaviour, not with today's default).

    Raises:
        ValueError: the file names options ``config_cls`` lacks (a bundle written by a newer
            version of lookalike).
    """
    path = Path(directory) / ENCODER_JSON
    payload = json.loads(path.read_text())
    unknown = sorted(set(payload["config"]) - {f.name for f in dataclasses.fields(config_cls)})
    if unknown:
        raise ValueError(
            f"{path}: options this version of lookalike does not know: {', '.join(unknown)} "
            "(written by a newer version?); upgrade lookalike or rebuild the bundle"
        )
    return config_cls(**{**(legacy or {}), **payload["config"]}), payload


def encode_in_batches(
    encode: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    batch_size: int = 64,
    progress: bool = False,
    desc: str = "encoding",
) -> np.ndarray:
    """Run ``encode`` over ``images`` in batches; float32 (n, dim)."""
    from tqdm.auto import tqdm

    outputs = []
    with tqdm(total=len(images), desc=desc, unit="img", disable=not progress) as bar:
        for start in range(0, len(images), batch_size):
            outputs.append(encode(images[start : start + batch_size]))
            bar.update(min(batch_size, len(images) - start))
    return np.concatenate(outputs).astype(np.float32, copy=False)


def warm_up(encoder: Encoder) -> None:
    """Encode a blank query and a blank batch, so sessions an encoder makes on first use
    (the hybrid's fused graph, ~0.5 s each) exist before the first real request."""
    side = encoder.input_size
    for count in (1, 3):  # a query; a batch (the garment focus's crops)
        encoder.encode(np.full((count, side, side, 3), 255, dtype=np.uint8))


def l2_normalize(vectors: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit Euclidean length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, eps)).astype(np.float32)


def to_tensor_batch(images: np.ndarray) -> Any:
    """uint8 NHWC numpy -> float32 NCHW torch tensor in [0, 1]."""
    import torch

    array = np.ascontiguousarray(images)
    return torch.from_numpy(array).permute(0, 3, 1, 2).float().div_(255.0)


PCA_FILE = "pca.safetensors"


def fit_pca(vectors: np.ndarray, dim: int) -> dict[str, np.ndarray]:
    """Mean and top ``dim`` principal directions of ``vectors`` (at most min(n, d) of them).

    Memory: one SVD of the centred (n, d) matrix (2,906 x 2,048 floats: a second or two).
    """
    mean = vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(vectors - mean, full_matrices=False)
    dim = min(dim, len(vt))
    return {"mean": mean.astype(np.float32), "components": vt[:dim].astype(np.float32)}


def apply_pca(vectors: np.ndarray, pca: dict[str, np.ndarray] | None) -> np.ndarray:
    """float32 (n, d) -> (n, pca_dim) projection (``vectors`` unchanged when ``pca`` is None)."""
    if pca is None:
        return vectors
    return ((vectors - pca["mean"]) @ pca["components"].T).astype(np.float32)


def save_pca(directory: Path, pca: dict[str, np.ndarray] | None) -> None:
    """Write ``pca.safetensors`` atomically (nothing when ``pca`` is None)."""
    if pca is None:
        return
    atomic_write_with(Path(directory) / PCA_FILE, lambda tmp: save_file(pca, str(tmp)))


def load_pca(directory: Path) -> dict[str, np.ndarray] | None:
    """The projection saved by :func:`save_pca`, or None when the encoder has none."""
    path = Path(directory) / PCA_FILE
    if not path.exists():
        return None
    return load_file(str(path))
