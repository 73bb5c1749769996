"""The hybrid encoder itself: inference (backbone, colour, head, fusion, projection), the
fit (cached augmented views, fusion tuning, head training, PCA) and persistence."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file
from tqdm.auto import tqdm

from lookalike.degrade import random_augment
from lookalike.encoders.base import (
    WEIGHTS_FILE,
    TrainingData,
    apply_pca,
    fit_pca,
    load_pca,
    read_encoder_json,
    save_pca,
    write_encoder_json,
)
from lookalike.encoders.focus import top_probability
from lookalike.encoders.hybrid.colour import colour_histogram
from lookalike.encoders.hybrid.config import (
    HYBRID_LEGACY_OPTIONS,
    PCA_MIN_ITEMS_PER_DIM,
    HybridConfig,
)
from lookalike.encoders.hybrid.context_transfer import add_transferred_rows
from lookalike.encoders.hybrid.fused import COLOUR, PIXELS, fused_query_model
from lookalike.encoders.hybrid.fusion import fuse, fusion_parts, split_parts
from lookalike.encoders.hybrid.head import (
    PARTIAL_SEPARATOR,
    class_probabilities,
    encode_label_columns,
    head_to_numpy,
    partial_label_sets,
    train_head,
)
from lookalike.encoders.hybrid.projection import head_input_views
from lookalike.encoders.hybrid.tuning import tune_fusion_weights
from lookalike.encoders.pooling import normalize_blocks
from lookalike.encoders.pretrained import (
    SMALL_BATCH,
    BackboneRunner,
    backbone_on_device,
    copy_backbone,
    make_backbone_runner,
    session_options,
)
from lookalike.files import atomic_write_with
from lookalike.imaging.decode import DECODE_VERSION
from lookalike.imaging.lazy import LazyPhotos
from lookalike.threads import read_ahead

#: Photos decoded and augmented at a time while the views' features are computed.
VIEW_CHUNK = 64
#: Images per run of the fused graph's batch session (catalog encoding, focus crops): runs of
#: 16, 32 and 64 measured alike on 2 cores (noisy: 123-135, 121-122, 107-124 images/s vs
#: 109-112 unfused), and a run of 64 took ~120 MB more memory than one of 16.
FUSED_BATCH = 16


class HybridEncoder:
    """Frozen EfficientNet-Lite0 + learned head + colour histogram, fused."""

    name = "hybrid"
    Config = HybridConfig
    #: ``fit`` trains its head on ``TrainingData.archive_images`` too.
    learns_from_archive = True
    #: ``fit`` reads its photos a chunk at a time: a build hands it lazy photos.
    streams_photos = True

    def __init__(
        self,
        config: HybridConfig,
        head: dict[str, np.ndarray] | None,
        directory: Path | None,
        mode: str,
        writable: bool = False,
        catalog_images: np.ndarray | None = None,
        pca: dict[str, np.ndarray] | None = None,
    ):
        """Args:
        config: options (with the tuned weights).
        head: folded head parameters (``head_to_numpy``), or None when the head weight is 0.
        directory: folder holding the ONNX backbone export.
        mode: ``supervised`` or ``self-supervised``.
        writable: ``directory`` is a work folder where the ONNX graph may be exported.
        catalog_images: images an int8 export is calibrated on (see
            ``make_backbone_runner``; sampled with ``config.seed``).
        pca: projection of the fused embedding (``fit_pca``), or None.
        """
        self.cfg = config
        self.head = head
        self.pca = pca
        self.mode = mode
        self.input_size = config.input_size
        self.resize = config.resize
        self.directory = directory
        self.backbone = make_backbone_runner(
            config, directory, writable, catalog_images, config.seed
        )
        # The fused graph's query and batch sessions (hybrid/fused.py), made on first use
        # for this backbone.
        self._fused: tuple[BackboneRunner, Any, Any] | None = None
        #: After ``fit``: (rows of the fit's images, float32 embeddings) of each readable fit
        #: photo's clean view, as ``encode`` embeds it (within the float16 rounding of the
        #: cached features: ~2e-4 of a norm of ~2 on the demo); a build reuses them instead
        #: of encoding those photos again. None otherwise.
        self.fit_embeddings: tuple[np.ndarray, np.ndarray] | None = None
        self.dim = 0
        if head is not None or config.weights[0] == 0:
            probe = np.ones((1, self.backbone.dim), np.float32)
            colour = np.ones((1, config.colour_bins**3), np.float32)
            self.dim = self.embed_parts(probe, colour).shape[1]

    # --- inference ------------------------------------------------------------------------
    def parts(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(backbone descriptors, each block unit length; colour histograms) of uint8 images."""
        backbone = np.concatenate(
            [self.backbone(images[s : s + 32]) for s in range(0, len(images), 32)]
        )
        colour = colour_histogram(
            images, self.cfg.colour_bins, centre_sigma=self.cfg.colour_centre_sigma
        )
        return normalize_blocks(backbone, self.backbone.pooling), colour

    def embed_parts(self, backbone: np.ndarray, colour: np.ndarray) -> np.ndarray:
        """Fused (and PCA-projected, when fitted) embedding from precomputed parts."""
        return apply_pca(self.fused(backbone, colour), self.pca)

    def fused(self, backbone: np.ndarray, colour: np.ndarray) -> np.ndarray:
        """The weighted concatenation of the parts, before any projection."""
        parts = fusion_parts(self.head, backbone, colour, self.cfg)
        return fuse(parts, self.cfg.weights)

    def to_device(self, device: str = "auto") -> HybridEncoder:
        """Run batch encoding on ``device`` (:func:`backbone_on_device`)."""
        self.backbone = backbone_on_device(self.backbone, device, self.input_size, self.cfg)
        return self

    def encode(self, images: np.ndarray) -> np.ndarray:
        """uint8 (n, 224, 224, 3) -> float32 (n, dim)."""
        if len(images) == 0:
            return np.zeros((0, self.dim), np.float32)
        return apply_pca(fuse(self.fusion_parts(images), self.cfg.weights), self.pca)

    def fusion_parts(self, images: np.ndarray) -> list[np.ndarray]:
        """The fusion's parts (:func:`~lookalike.encoders.hybrid.fusion.fusion_parts`) of
        uint8 images, from the fused graph when there is one
        (:mod:`~lookalike.encoders.hybrid.fused`; the numpy path's values within float
        rounding): up to ``SMALL_BATCH`` images (queries) on the query threads, more (catalog
        encoding, focus crops) on the batch threads in runs of ``FUSED_BATCH``; else from the
        backbone and the head in numpy."""
        session = self.fused_session(batch=len(images) > SMALL_BATCH) if len(images) else None
        if session is None:
            return fusion_parts(self.head, *self.parts(images), self.cfg)
        colour = colour_histogram(
            images, self.cfg.colour_bins, centre_sigma=self.cfg.colour_centre_sigma
        )
        runs = [
            session.run(
                None,
                {
                    PIXELS: np.ascontiguousarray(images[s : s + FUSED_BATCH], np.uint8),
                    COLOUR: colour[s : s + FUSED_BATCH],
                },
            )
            for s in range(0, len(images), FUSED_BATCH)
        ]
        backbone, z, instance = (np.concatenate(outputs) for outputs in zip(*runs, strict=True))
        probs = class_probabilities(
            self.head, z, self.cfg.temperature, self.cfg.class_column_weights
        )
        return [z, colour, backbone, probs, instance]

    def fused_session(self, batch: bool = False) -> Any:
        """The ONNX Runtime session of the fused graph for the current backbone, on its query
        threads (``batch``: on its batch threads; one session when they are the same); None
        where the path is not fused (no head, not the ``multi`` pooling, no ONNX graph).
        Made once per backbone runner (~0.5 s each)."""
        if self._fused is None or self._fused[0] is not self.backbone:
            self._fused = (self.backbone, *self._fused_sessions(self.backbone))
        return self._fused[2 if batch else 1]

    def _fused_sessions(self, runner: BackboneRunner) -> tuple[Any, Any]:
        path = getattr(runner, "onnx_path", None)
        if not (
            self.head is not None
            and self.cfg.pooling == "multi"
            and getattr(runner, "session", None) is not None
            and path is not None
            and Path(path).is_file()
        ):
            return None, None
        import onnxruntime as ort

        model = fused_query_model(Path(path), self.head)

        def session(threads: int) -> Any:
            options = session_options(threads)
            return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

        query = session(runner.query_threads)
        return query, query if runner.threads == runner.query_threads else session(runner.threads)

    def encode_with_confidence(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(``encode(images)``, float32 (n,) confidence): the top probability of the head's
        ``primary_label`` classifier (ProductType), NaN without one. One backbone pass."""
        parts = self.fusion_parts(images)
        vectors = apply_pca(fuse(parts, self.cfg.weights), self.pca)
        prototypes = (self.head or {}).get(f"class.{self.cfg.primary_label}")
        if prototypes is None or not len(images):
            return vectors, np.full(len(images), np.nan, np.float32)
        return vectors, top_probability(parts[0] @ prototypes.T / self.cfg.temperature)

    # --- training -------------------------------------------------------------------------
    @classmethod
    def fit(cls, data: TrainingData, config: HybridConfig) -> HybridEncoder:
        """Encode views, tune fusion weights on held-out labelled items, train the head."""
        workdir = data.workdir / "hybrid"
        workdir.mkdir(parents=True, exist_ok=True)
        images = data.images
        encoder = cls(config, None, workdir, "pending", True, images)
        view_feats, readable = cls._cached_views(encoder, images, config, workdir, data.progress)
        labels = select_label_rows(data.labels, readable, len(images))
        n_catalog = len(view_feats)
        if data.archive_images is not None and len(data.archive_images):
            # Archive photos join the head's training as more labelled rows (with their
            # augmented views); tuning, PCA and the bundle see catalog rows only.
            archive, kept = cls._cached_views(
                encoder, data.archive_images, config, workdir, data.progress
            )
            archive_labels = select_label_rows(
                {c: list(data.archive_labels.get(c) or []) for c in labels},
                kept,
                len(data.archive_images),
            )
            keep = kept_archive_rows(
                archive_labels.get(config.primary_label), config.leave_out_archive_labels
            )
            if keep is not None:
                archive = archive[keep]
                archive_labels = {c: [v[i] for i in keep] for c, v in archive_labels.items()}
            view_feats = np.concatenate([view_feats, archive])
            del archive
            labels = {
                column: list(values) + archive_labels[column] for column, values in labels.items()
            }
        view_feats, labels = add_transferred_rows(
            view_feats,
            labels,
            n_catalog,
            config.primary_label,
            config.context_transfer,
            config.seed,
        )
        if data.context_images is not None and len(data.context_images):
            # Catalog products in a shopper's context: more rows with their products' labels,
            # never left out (they are catalog shots, whatever the type).
            context, kept = cls._cached_views(
                encoder, data.context_images, config, workdir, data.progress
            )
            view_feats = np.concatenate([view_feats, context])
            del context
            rows = [data.context_rows[i] for i in kept]
            labels = {
                column: list(values) + [data.labels[column][r] for r in rows]
                for column, values in labels.items()
            }
        encoded = encode_label_columns(labels)
        targets = {c: t for c, (t, _) in encoded.items()}
        mode = "supervised" if targets else "self-supervised"
        head_inputs = head_input_views(view_feats, config.head_input_dim, config.seed)
        tuning = {}
        if config.tune and targets:
            tune_inputs = head_inputs
            if config.tune_input_dim != config.head_input_dim:
                tune_inputs = head_input_views(view_feats, config.tune_input_dim, config.seed)
            best, tuning = tune_fusion_weights(
                view_feats, targets, config, data.progress, n_catalog, tune_inputs
            )
            del tune_inputs
            config = dataclasses.replace(config, weights=best)
        partial = {c: partial_label_sets(labels[c], classes) for c, (_, classes) in encoded.items()}
        head = train_head(
            head_inputs,
            targets,
            config,
            progress=data.progress,
            device=data.device,
            partial=partial,
        )
        del head_inputs
        encoder = cls(config, head_to_numpy(head), workdir, mode, writable=True)
        # The clean view of every catalog image: what the catalog is encoded as.
        fused = encoder.fused(*split_parts(view_feats[:n_catalog, 0], config))
        if (
            config.pca_dim
            and config.pca_dim < fused.shape[1]
            and len(fused) >= PCA_MIN_ITEMS_PER_DIM * config.pca_dim
        ):
            encoder.pca = fit_pca(fused, config.pca_dim)
            encoder.dim = len(encoder.pca["components"])
        encoder.fit_embeddings = (readable, apply_pca(fused, encoder.pca).astype(np.float32))
        del fused
        (workdir / "tuning.json").write_text(json.dumps({"mode": mode, **tuning}, indent=1))
        return encoder

    @staticmethod
    def _cached_views(
        encoder: HybridEncoder,
        images: np.ndarray | LazyPhotos,
        config: HybridConfig,
        workdir: Path,
        progress: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Backbone + colour features of the clean image, its mirror and ``views`` augmented
        copies: (float16 (n_readable, views + 2, descriptor + bins**3), the readable rows).

        ``images`` is an array or :class:`~lookalike.imaging.lazy.LazyPhotos`, read a chunk
        at a time (only one chunk of pixels is held; unreadable photos are left out and
        reported). Cached in ``workdir`` by a digest of the view settings and of the images
        (their files' stamps for lazy photos, so an unchanged catalog is never decoded
        again), so retraining the head never re-runs the backbone. Memory and disk:
        n x (views + 2) x 9,584 x 2 bytes with ``multi`` pooling (223 MB for 2,906 items at
        the default 2 views)."""
        digest = hashlib.sha256()
        settings = [
            config.views,
            config.seed,
            config.colour_bins,
            config.colour_centre_sigma,
            config.input_size,
            config.precision,
            config.pooling,
            "float16",
        ]
        lazy = isinstance(images, LazyPhotos)
        if lazy:
            # files are keyed by stamp and by how they decode (pixels from arrays by content)
            lazy_key = ["lazy", images.resize, *settings, images.stamps(), DECODE_VERSION]
            digest.update(json.dumps(lazy_key).encode())
        else:
            digest.update(json.dumps([images.shape, *settings]).encode())
            for row in range(0, len(images), max(1, len(images) // 64)):
                digest.update(np.ascontiguousarray(images[row]).tobytes())
        cache = workdir / f"views-{digest.hexdigest()[:16]}.npy"
        failed_file = cache.with_suffix(".failed.json")
        if cache.exists() and (failed_file.exists() or not lazy):
            failed = json.loads(failed_file.read_text()) if lazy else []
            return np.load(cache, allow_pickle=False), readable_rows(len(images), failed)
        rng = np.random.default_rng(config.seed)
        n = len(images)
        width = encoder.backbone.dim + config.colour_bins**3
        view_feats = np.zeros((n, config.views + 2, width), np.float16)
        failed: list[list] = []
        batch = VIEW_CHUNK

        def chunks() -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
            """Per chunk: its readable rows and their views (clean, mirror, augmented)."""
            for start in range(0, n, batch):
                rows = np.arange(start, min(n, start + batch))
                if lazy:
                    decoded = images.decode(rows)
                    chunk, rows = decoded.images, rows[decoded.ok]
                    failed.extend([int(start + j), message] for j, message in decoded.errors)
                else:
                    chunk = np.asarray(images[start : start + batch])
                if not len(chunk):
                    continue
                views = [chunk, np.ascontiguousarray(chunk[:, :, ::-1])]
                views += [
                    np.stack([random_augment(im, rng) for im in chunk]) for _ in range(config.views)
                ]
                yield rows, views

        with tqdm(
            total=n * (config.views + 2),
            desc="backbone features (views)",
            unit="img",
            disable=not progress,
        ) as bar:
            # The next chunk is decoded and augmented (single-threaded numpy/PIL work) while
            # the backbone runs on this one: those steps left a core idle before.
            for rows, views in read_ahead(chunks()):
                for v, view in enumerate(views):
                    backbone, colour = encoder.parts(view)
                    view_feats[rows, v] = np.concatenate([backbone, colour], axis=1)
                    bar.update(len(rows))
        for row, message in failed[:20]:
            print(f"  warning: {images.paths[row]}: {message}; not trained on")
        readable = readable_rows(n, failed)
        if len(readable) < n:
            view_feats = view_feats[readable]
        # The array goes first: a lazy reader only trusts it once the failed list exists.
        atomic_write_with(cache, lambda tmp: _save_npy(tmp, view_feats))
        if lazy:
            atomic_write_with(failed_file, lambda tmp: tmp.write_text(json.dumps(failed)))
        return view_feats, readable

    # --- persistence ----------------------------------------------------------------------
    def config(self) -> dict:
        """Options (with the tuned weights) as a dict."""
        return asdict(self.cfg)

    def save(self, directory: Path) -> None:
        """``encoder.json``, the head as safetensors, and the ONNX backbone."""
        directory.mkdir(parents=True, exist_ok=True)
        if self.head is not None:
            head = self.head
            atomic_write_with(directory / WEIGHTS_FILE, lambda tmp: save_file(head, str(tmp)))
        save_pca(directory, self.pca)
        copy_backbone(self.cfg, self.directory, directory)
        write_encoder_json(directory, self.name, self.cfg, {"dim": self.dim, "mode": self.mode})

    @classmethod
    def load(cls, directory: Path) -> HybridEncoder:
        """Rebuild from ``encoder.json``, the head weights and the ONNX export."""
        config, payload = read_encoder_json(directory, HybridConfig, HYBRID_LEGACY_OPTIONS)
        weights_file = Path(directory) / WEIGHTS_FILE
        head = load_file(str(weights_file)) if weights_file.exists() else None
        mode = payload.get("mode", "supervised")
        return cls(config, head, Path(directory), mode, pca=load_pca(directory))


def _save_npy(path: Path, array: np.ndarray) -> None:
    """``np.save`` to exactly ``path`` (given a name, np.save would append ``.npy``)."""
    with open(path, "wb") as handle:
        np.save(handle, array)


def select_label_rows(
    labels: dict[str, list[str]], rows: np.ndarray, n: int
) -> dict[str, list[str]]:
    """``labels`` (column -> one value per photo; a missing or empty list: all unknown) at
    the readable ``rows`` of ``n`` photos."""
    if len(rows) == n and all(len(v) == n for v in labels.values()):
        return labels
    return {c: [v[r] if v else "" for r in rows] for c, v in labels.items()}


def readable_rows(n: int, failed: list[list]) -> np.ndarray:
    """Rows 0..n-1 without those ``failed`` lists first in each entry (unreadable photos)."""
    gone = {int(entry[0]) for entry in failed}
    return np.array([r for r in range(n) if r not in gone], np.int64)


def kept_archive_rows(labels: list[str] | None, leave_out: tuple[str, ...]) -> np.ndarray | None:
    """Rows of the archive to train on when ``leave_out`` names labels to leave out (a row
    goes when any class of its label, partial labels included, is one of them); None when
    nothing is left out."""
    if not leave_out or labels is None:
        return None
    gone = set(leave_out)
    return np.array(
        [i for i, value in enumerate(labels) if not gone & set(value.split(PARTIAL_SEPARATOR))],
        np.int64,
    )
