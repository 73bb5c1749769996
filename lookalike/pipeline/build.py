"""Building a bundle, stage by stage (:func:`build_bundle`), and reading a version's build
report."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.bundle import (
    BUILD_REPORT,
    CONFIG,
    ENCODER_DIR,
    INDEX_DIR,
    TRAINING_DIR,
    BundleWriter,
    bundle_lock,
    collect_garbage,
)
from lookalike.catalog import is_uri
from lookalike.distributed import RayOptions, ray_encode_catalog
from lookalike.encoders import TrainingData, encoder_class, make_config
from lookalike.encoders.base import encoder_resize
from lookalike.encoders.device import resolve_device
from lookalike.imaging.lazy import LazyPhotos
from lookalike.index import build_index
from lookalike.pipeline.config import (
    ENGINES,
    BuildConfig,
    choose_label_columns,
    hidden_label_ids,
    load_catalog,
    training_labels,
)
from lookalike.pipeline.decoding import (
    decode_items,
    item_table,
    items_from_encoded,
    photo_items,
    product_duplicate_groups,
    product_tables,
)
from lookalike.pipeline.encoding import folder_digest, stream_encode_catalog
from lookalike.pipeline.training import (
    context_record,
    fingerprint_path,
    fit_sample_rows,
    load_archive,
    load_context,
    load_trained,
    training_fingerprint,
)


def build_bundle(
    config: BuildConfig,
    out: str | Path,
    *,
    progress: bool = True,
    reuse_trained: bool | str = True,
    train_only: bool = False,
    engine: str = "local",
    ray: RayOptions | None = None,
    device: str = "auto",
) -> Path:
    """Build (train + encode + index) a bundle for ``config`` into ``out``.

    Args:
        config: what to build.
        out: bundle folder; an existing bundle there is replaced atomically at the end.
        progress: progress bars and a line per stage.
        reuse_trained: reuse an encoder already trained with the same config in the work
            folder (and let training resume from its checkpoint); ``"required"`` fails when
            there is none (the ``index`` command).
        train_only: stop after training; returns the trained encoder's folder.
        engine: where the catalog is decoded and encoded: ``local`` (in-process threads) or
            ``ray`` (Ray Data actors, :mod:`lookalike.distributed`); the bundle is the same.
        ray: cluster, workers and batch size for ``engine="ray"``.
        device: ``auto`` (CUDA when PyTorch sees a GPU), ``cpu`` or ``cuda``, for training
            and batch encoding. On a machine without a GPU ``auto`` changes nothing.

    Returns:
        The folder of the new live version (or of the trained encoder with ``train_only``).
    """
    started = time.perf_counter()
    out = Path(out)
    workdir = Path(config.workdir) if config.workdir else out / "work"
    say = print if progress else (lambda *a, **k: None)

    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    device = resolve_device(device)
    catalog = load_catalog(config)
    # Read before anything is written: a split file for another catalog stops the build.
    hidden = hidden_label_ids(config, (item.id for item in catalog.items))
    encoder_cls = encoder_class(config.encoder)
    workdir.mkdir(parents=True, exist_ok=True)
    photos_in, numbers_in = photo_items(catalog)
    say(
        f"catalog: {len(catalog)} items from {catalog.root}"
        + (f" ({len(photos_in)} photos)" if len(photos_in) != len(catalog) else "")
    )
    if catalog.layout_note:
        say(f"  {catalog.layout_note}")
    for problem in catalog.problems[:20]:
        say(f"  warning: {problem}")
    encoder_config = make_config(config.encoder, config.encoder_options)
    size = encoder_config.input_size
    # The build letterboxes as the queries will: with the filter the encoder records.
    resize = encoder_resize(encoder_config)
    # Every photo is an image to fit on and encode; the table groups them into products.
    fit_rows = fit_sample_rows(len(photos_in), config.fit_limit)
    # Only the fit sample is decoded and held (through the image cache); after the fit every
    # photo is decoded and encoded a chunk at a time, in-process or on Ray, so memory beyond
    # the fit sample does not grow with the catalog.
    sample = [photos_in[r] for r in fit_rows]
    # An encoder that streams its photos gets them lazily: only a chunk is decoded at a
    # time, and an unchanged catalog's cached features need no pixels at all.
    streams = getattr(encoder_cls, "streams_photos", False) and not any(
        is_uri(item.path) for item in sample
    )
    if streams:
        fit_items = item_table(sample, [""] * len(sample))
        fit_images = LazyPhotos([str(item.path) for item in sample], size, resize)
        decode_problems: list[str] = []
    else:
        fit_items, fit_images, decode_problems, _ = decode_items(
            sample, size, workdir, progress, resize
        )
    for problem in decode_problems[:20]:
        say(f"  warning: {problem}")
    if len(fit_items) == 0:
        raise ValueError(f"no readable images in {config.catalog}")

    columns = choose_label_columns(fit_items.metadata, config.label_columns)
    labels = training_labels(fit_items, columns, hidden)
    say(
        f"encoder {config.encoder}: fitted on {len(fit_items)} of {len(catalog)} images at "
        f"{size}px on {device}; label columns {columns or 'none'}"
        + (
            f" ({sum(i in hidden for i in fit_items.ids)} test items' labels hidden)"
            if hidden
            else ""
        )
    )
    archive = load_archive(
        config, columns, size, workdir, progress, encoder_cls, resize, lazy=streams
    )
    record = archive.record() if archive is not None else None
    learns_beside = getattr(encoder_cls, "learns_from_archive", False)
    context = context_record(config, getattr(encoder_config, "seed", 0)) if learns_beside else None
    # What the encoder learnt from beside the catalog's labels (the fingerprint's part).
    learnt = record if context is None else {"archive": record, "context": context}
    train_started = time.perf_counter()
    trained_dir = workdir / "trained" / config.encoder
    encoder = load_trained(trained_dir, encoder_config, labels, learnt) if reuse_trained else None
    if encoder is None:
        if reuse_trained == "required":
            raise ValueError(f"no trained {config.encoder} encoder in {trained_dir}; run `train`")
        # Fingerprint the config as asked for: fit may return a tuned copy of it.
        fingerprint = json.dumps(training_fingerprint(encoder_config, labels, learnt))
        data = TrainingData(fit_images, labels, workdir, progress, device=device)
        if archive is not None:
            data.archive_images, data.archive_labels = archive.images, archive.labels
        if context is not None:
            data.context_rows, data.context_images = load_context(
                config, fit_images, labels, size, resize, context["seed"], progress, workdir
            )
        encoder = encoder_cls.fit(data, encoder_config)
        encoder.save(trained_dir)
        fingerprint_path(trained_dir).write_text(fingerprint)
    else:
        say(f"reusing the trained encoder in {trained_dir}")
    del fit_images, archive
    # The fit already embedded its photos' clean views: the encode only hashes those files.
    fitted_rows, fitted_vectors = getattr(encoder, "fit_embeddings", None) or ((), ())
    known = (
        {int(fit_rows[r]): v for r, v in zip(fitted_rows, fitted_vectors, strict=True)}
        if streams
        else {}
    )
    train_seconds = time.perf_counter() - train_started
    if train_only:
        say(f"encoder trained in {train_seconds:.0f}s and saved to {trained_dir}")
        return trained_dir
    encode_started = time.perf_counter()
    locations = [str(item.path) for item in photos_in]
    if engine == "local":
        if device != "cpu" and hasattr(encoder, "to_device"):
            encoder.to_device(device)
        encoded = stream_encode_catalog(
            encoder,
            locations,
            size,
            resize,
            progress=progress,
            cache_dir=workdir / "encoded",
            encoder_key=folder_digest(trained_dir),
            known=known,
        )
    else:
        options = dataclasses.replace(ray or RayOptions(), progress=progress)
        if options.device == "auto":
            options.device = device if device != "cpu" else "auto"
        say(f"encoding {len(photos_in)} images on Ray ({options.address or 'local'})")
        encoded = ray_encode_catalog(trained_dir, locations, size, options)
    photo_catalog = dataclasses.replace(catalog, items=photos_in)
    items, embeddings, decode_problems = items_from_encoded(photo_catalog, encoded)
    ok = list(encoded.rows)
    # Problems of photos decoded before the fit were shown then.
    fitted = set() if streams else set(fit_rows.tolist())
    for row, message in [(r, m) for r, m in encoded.errors if r not in fitted][:20]:
        say(f"  warning: {photos_in[row].path}: {message}; skipped")
    if len(items) == 0:
        raise ValueError(f"no readable images in {config.catalog}")
    encode_seconds = time.perf_counter() - encode_started
    # `items` so far has a row per readable photo: index every photo, under its row number.
    index = build_index(
        embeddings,
        np.arange(len(items), dtype=np.int64),
        kind=config.index,
        rows=list(zip(items.ids, items.metadata, strict=True)),
        **config.index_options,
    )
    exact_groups = product_duplicate_groups(items)
    items, photos = product_tables(items, [numbers_in[i] for i in ok])

    out.mkdir(parents=True, exist_ok=True)
    # The same writer lock as `lookalike add/remove`: a build never interleaves with an update.
    with bundle_lock(out, timeout=None), BundleWriter(out) as writer:
        writer.write_json(CONFIG, dataclasses.asdict(config))
        writer.write_items(items, embeddings, photos)
        encoder.save(writer.path(ENCODER_DIR, "x").parent)
        index.save(writer.path(INDEX_DIR, "x").parent)
        # Encoders that train keep their history in workdir/<encoder name>/.
        for name in ("history.csv", "loss_curves.png"):
            source = workdir / config.encoder / name
            if source.is_file():
                writer.path(TRAINING_DIR, name).write_bytes(source.read_bytes())
        report = {
            "catalog_problems": catalog.problems,
            "decode_problems": decode_problems,
            "exact_duplicate_groups": exact_groups,
            "label_columns": columns,
            "hidden_label_items": len(hidden & set(items.ids)),
            "encoder_mode": getattr(encoder, "mode", None),
            "engine": engine,
            "device": device,
            "fit_images": len(fit_items),
            **({"archive": record} if record is not None else {}),
            **({"context": context} if context is not None else {}),
            "seconds": {
                "train": round(train_seconds, 1),
                "encode": round(encode_seconds, 1),
                "total": round(time.perf_counter() - started, 1),
            },
        }
        writer.write_json(BUILD_REPORT, report)
        version = writer.commit(
            {
                "encoder": {"name": encoder.name, "dim": int(encoder.dim)},
                "index": {"kind": index.kind, **index.params()},
                **({"archive": record} if record is not None else {}),
                **({"context": context} if context is not None else {}),
            }
        )
        # Publishing pruned old versions: images and thumbnails only they used go too.
        collect_garbage(out, locked=True)
    say(
        f"bundle written to {out} ({len(items)} items"
        + (f", {len(photos)} photos" if len(photos) != len(items) else "")
        + f", dim {encoder.dim}, index {index.kind}, "
        f"{len(exact_groups)} exact-duplicate groups) in {time.perf_counter() - started:.0f}s"
    )
    return version


def read_build_report(version_dir: Path) -> dict[str, Any]:
    """The build report of a bundle version ({} when absent)."""
    path = version_dir / BUILD_REPORT
    return json.loads(path.read_text()) if path.exists() else {}
