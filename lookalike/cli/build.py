"""``lookalike build``, ``train`` and ``index``: a catalog into a bundle."""

from __future__ import annotations

import argparse
from pathlib import Path

from lookalike.cli.common import UsageError, parse_options
from lookalike.distributed import RayOptions
from lookalike.encoders.device import DEVICES
from lookalike.extras import require
from lookalike.pipeline import DEFAULT_ENCODER, ENGINES, BuildConfig, build_bundle


def add_build_arguments(parser: argparse.ArgumentParser, needs_catalog: bool = True) -> None:
    """The options every build-like command takes (catalog, encoder, metadata, index...)."""
    if needs_catalog:
        parser.add_argument(
            "catalog",
            type=Path,
            help="folder of product images (any tree), or a manifest CSV/Parquet "
            "(image path or URI + metadata columns)",
        )
    parser.add_argument("--out", type=Path, required=True, help="bundle folder to write")
    parser.add_argument(
        "--encoder",
        default=None,
        help="encoder: hybrid (default), cae (the paper's auto-encoder), efficientnet-lite0",
    )
    parser.add_argument("--metadata", type=Path, help="metadata CSV (default: fashion.csv)")
    parser.add_argument("--id-column", help="CSV column holding the item id")
    parser.add_argument("--image-column", help="CSV column holding the image file name")
    parser.add_argument(
        "--product-folders",
        action="store_true",
        default=None,
        help="the catalog holds a folder per product (CATALOG/<id>/*.jpg: its photos); "
        "detected when the metadata CSV's ids name the folders or, without a CSV, when "
        "file names (front.jpg, back.jpg) repeat across the folders",
    )
    parser.add_argument(
        "--split",
        help="CSV of id,split: labels of 'test' items are never trained on "
        "(default: CATALOG/split.csv if present; '' to use every label)",
    )
    parser.add_argument(
        "--label-column",
        action="append",
        dest="label_columns",
        help="metadata column the encoder may learn from (repeatable; default: all categorical)",
    )
    parser.add_argument(
        "--index",
        default="auto",
        choices=["auto", "flat", "hnsw", "ivfpq", "milvus"],
        help="index type (auto: exact below the measured threshold, approximate above; "
        "milvus: a Milvus collection, see --milvus-uri)",
    )
    parser.add_argument(
        "--milvus-uri",
        help="with --index milvus: a Milvus server (http://host:19530) or a Milvus Lite file "
        "(path/to/x.db; default BUNDLE/milvus.db)",
    )
    parser.add_argument(
        "--milvus-token-env",
        metavar="NAME",
        help="environment variable holding the Milvus token (user:password or API key)",
    )
    parser.add_argument(
        "--engine",
        choices=list(ENGINES),
        default="local",
        help="where photos are decoded and encoded: local (in-process) or ray (Ray Data)",
    )
    parser.add_argument(
        "--ray-address", help="an existing Ray cluster (default: start a local Ray)"
    )
    parser.add_argument("--workers", type=int, help="Ray encoder actors (default: CPUs or GPUs)")
    parser.add_argument(
        "--threads-per-worker",
        type=int,
        help="CPUs each Ray CPU actor decodes and encodes on (default: CPUs / workers)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=64, help="images per Ray batch (default 64)"
    )
    parser.add_argument(
        "--device",
        choices=list(DEVICES),
        default="auto",
        help="training and batch encoding: auto (CUDA when PyTorch sees a GPU), cpu, cuda",
    )
    parser.add_argument(
        "--fit-limit",
        type=int,
        help="fit the encoder on at most N images, evenly spaced (default: all)",
    )
    parser.add_argument(
        "--archive",
        type=Path,
        help="labelled photos that are not catalog items (a CSV with the catalog's label "
        "columns + images, e.g. ../shared/shopper-photos): they teach the encoder, are never "
        "indexed or shown",
    )
    parser.add_argument(
        "--archive-split",
        default="auto",
        help="rows of the archive's split column to learn from (default: 'archive' when "
        "present, else all; '' for all)",
    )
    parser.add_argument("--epochs", type=int, help="training epochs (cae: 30 by default)")
    parser.add_argument("--input-size", type=int, help="model input side in pixels")
    parser.add_argument(
        "--set",
        action="append",
        metavar="OPTION=VALUE",
        help="any other encoder option, e.g. --set lr=0.001 --set denoise_std=0.1",
    )
    parser.add_argument("--workdir", type=Path, help="cache/checkpoint folder (default: OUT/work)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def build_config(args: argparse.Namespace, catalog: Path) -> BuildConfig:
    """The BuildConfig the build options ask for."""
    if args.archive is not None and not args.archive.is_dir():
        raise UsageError(f"archive folder not found: {args.archive}")
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
        archive=str(args.archive.resolve()) if args.archive else None,
        archive_split=args.archive_split or None,
        fit_limit=args.fit_limit,
        index_options=index_options,
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


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``build``, ``train`` and ``index`` to the ``lookalike`` parser."""
    p = sub.add_parser("build", help="train + embed + index a catalog into a bundle")
    add_build_arguments(p)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("train", help="train the encoder only (checkpoints every epoch)")
    add_build_arguments(p)
    p.add_argument(
        "--no-resume",
        dest="resume",
        action="store_false",
        help="start training from scratch instead of the last checkpoint",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("index", help="embed + index with the encoder `train` left behind")
    add_build_arguments(p)
    p.set_defaults(func=cmd_index)
