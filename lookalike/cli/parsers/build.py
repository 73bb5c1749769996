"""The arguments of ``lookalike build``, ``train`` and ``index``: argparse only, so ``--help``
and argument errors answer without loading the command (:mod:`lookalike.cli.build` runs it)."""

from __future__ import annotations

import argparse
from pathlib import Path

# Copies of lookalike.pipeline.ENGINES, DEFAULT_FIT_LIMIT and lookalike.encoders.device.DEVICES
# (importing those loads PyTorch); tests/cli/test_parsers.py pins them equal.
ENGINES = ("local", "ray")
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_FIT_LIMIT = 6000


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
        default=DEFAULT_FIT_LIMIT,
        help=f"fit the encoder on at most N catalog images, evenly spaced; every image is "
        f"still encoded (default {DEFAULT_FIT_LIMIT}; 0: all)",
    )
    parser.add_argument(
        "--archive",
        type=Path,
        action="append",
        help="labelled photos that are not catalog items (repeatable): a CSV with the "
        "catalog's label columns + images (e.g. ../shared/shopper-photos), or labels in "
        "another vocabulary with a type_map.csv (../shared/amateur-photos), with masks/ one "
        "photo per garment (../shared/street-photos); they teach the encoder, are never "
        "indexed or shown",
    )
    parser.add_argument(
        "--archive-split",
        default="auto",
        help="rows of the archives' split column to learn from (default: 'archive' when "
        "present, else 'train', else all; '' for all)",
    )
    parser.add_argument(
        "--context-photos",
        type=Path,
        action="append",
        metavar="DIR",
        help="photos of people or rooms, no labels needed (repeatable; a labelled folder "
        "gives its archive/train split): each labelled catalog product is pasted over a "
        "garment the garment parser finds in them, teaching the encoder every type in a "
        "shopper's context",
    )
    parser.add_argument(
        "--context-per-item",
        type=int,
        default=1,
        metavar="N",
        help="context composites per labelled catalog product (default 1)",
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


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``build``, ``train`` and ``index`` to the ``lookalike`` parser."""
    p = sub.add_parser("build", help="train + embed + index a catalog into a bundle")
    add_build_arguments(p)
    p.set_defaults(command=("build", "cmd_build"))

    p = sub.add_parser("train", help="train the encoder only (checkpoints every epoch)")
    add_build_arguments(p)
    p.add_argument(
        "--no-resume",
        dest="resume",
        action="store_false",
        help="start training from scratch instead of the last checkpoint",
    )
    p.set_defaults(command=("build", "cmd_train"))

    p = sub.add_parser("index", help="embed + index with the encoder `train` left behind")
    add_build_arguments(p)
    p.set_defaults(command=("build", "cmd_index"))
