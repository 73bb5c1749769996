"""``lookalike build``, ``train`` and ``index``: a catalog into a bundle."""

from __future__ import annotations

import argparse
from pathlib import Path

from lookalike.cli.common import UsageError, parse_options
from lookalike.cli.parsers.build import add_build_arguments as add_build_arguments  # old path
from lookalike.cli.parsers.build import add_parsers as add_parsers  # the old import path
from lookalike.distributed import RayOptions
from lookalike.extras import require
from lookalike.pipeline import DEFAULT_ENCODER, BuildConfig, build_bundle


def build_config(args: argparse.Namespace, catalog: Path) -> BuildConfig:
    """The BuildConfig the build options ask for."""
    for folder in args.archive or []:
        if not folder.is_dir():
            raise UsageError(f"archive folder not found: {folder}")
    context = args.context_photos
    for folder in context or []:
        if not folder.is_dir():
            raise UsageError(f"context photo folder not found: {folder}")
    if args.context_per_item < 1:
        raise UsageError(f"--context-per-item must be >= 1, got {args.context_per_item}")
    options = parse_options(args.set)
    if args.epochs is not None:
        options["epochs"] = args.epochs
    if args.input_size is not None:
        options["input_size"] = args.input_size
    index_options: dict[str, object] = {}
    if args.index == "milvus":
        # Fail with the one-line install hint before any decoding or training.
        require("pymilvus", "milvus")
        uri = args.milvus_uri or str(args.out.resolve() / "milvus.db")
        index_options["uri"] = uri
        if args.milvus_token_env:
            index_options["token_env"] = args.milvus_token_env
    elif args.milvus_uri:
        raise ValueError("--milvus-uri needs --index milvus")
    return BuildConfig(
        catalog=str(catalog.resolve()),
        metadata_csv=str(args.metadata.resolve()) if args.metadata else None,
        id_column=args.id_column,
        image_column=args.image_column,
        product_folders=args.product_folders,
        encoder=args.encoder or DEFAULT_ENCODER,
        encoder_options=options,
        index=args.index,
        split_csv=args.split,
        label_columns=args.label_columns,
        workdir=str(args.workdir.resolve()) if args.workdir else None,
        archive=[str(folder.resolve()) for folder in args.archive] if args.archive else None,
        archive_split=args.archive_split or None,
        fit_limit=args.fit_limit or None,
        index_options=index_options,
        context_photos=[str(folder.resolve()) for folder in context] if context else None,
        context_per_item=args.context_per_item,
    )


def engine_options(args: argparse.Namespace) -> dict[str, object]:
    """``build_bundle``'s engine and device arguments from the command line."""
    if args.engine == "ray":
        # Fail with the one-line install hint before any decoding or training.
        require("ray", "ray")
    ray = RayOptions(
        address=args.ray_address,
        workers=args.workers,
        threads=args.threads_per_worker,
        batch_size=args.batch_size,
        device=args.device,
    )
    return {"engine": args.engine, "ray": ray, "device": args.device}


def cmd_build(args: argparse.Namespace) -> int:
    """Train the encoder, embed the catalog, index it, write the bundle."""
    config = build_config(args, args.catalog)
    build_bundle(config, args.out, progress=not args.quiet, **engine_options(args))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train the encoder only (resumable); `lookalike index` then builds the bundle."""
    config = build_config(args, args.catalog)
    build_bundle(
        config,
        args.out,
        progress=not args.quiet,
        reuse_trained=args.resume,
        train_only=True,
        **engine_options(args),
    )
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    """Embed + index with the encoder that `lookalike train` left in the work folder."""
    config = build_config(args, args.catalog)
    build_bundle(
        config, args.out, progress=not args.quiet, reuse_trained="required", **engine_options(args)
    )
    return 0
