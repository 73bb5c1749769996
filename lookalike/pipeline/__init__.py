"""Build a bundle: catalog -> images -> encoder -> embeddings -> index -> bundle.

This is the one place that wires the pure pieces together with files on disk; the CLI and
the Python API both call :func:`build_bundle`.

The encode step is a seam with two engines and one output: ``local`` decodes the catalog
into memory and encodes it on in-process threads (as always); ``ray`` fits the encoder on
the driver the same way, then decodes and encodes every photo on Ray Data actors
(:mod:`lookalike.distributed`) and returns the same rows, hashes and embeddings.

The package's parts: :mod:`~lookalike.pipeline.config` (:class:`BuildConfig`, the catalog,
split and label columns it names), :mod:`~lookalike.pipeline.decoding` (photos decoded into
item and photo tables), :mod:`~lookalike.pipeline.training` (the fit sample, reusing a
trained encoder, archives) and :mod:`~lookalike.pipeline.build` (:func:`build_bundle`, the
build report). Every public name is importable from ``lookalike.pipeline``, as it was when
this was one module.
"""

from __future__ import annotations

from lookalike.bundle import BUILD_REPORT
from lookalike.dedup import duplicate_groups, near_duplicate_pairs
from lookalike.pipeline.build import build_bundle, read_build_report
from lookalike.pipeline.config import (
    DEFAULT_ENCODER,
    DEFAULT_FIT_LIMIT,
    ENGINES,
    MAX_LABEL_CLASSES,
    BuildConfig,
    choose_label_columns,
    hidden_label_ids,
    load_catalog,
    training_labels,
)
from lookalike.pipeline.decoding import (
    decode_catalog,
    decode_items,
    item_table,
    items_from_encoded,
    photo_items,
    product_duplicate_groups,
    product_tables,
)
from lookalike.pipeline.training import (
    archive_folders,
    fingerprint_path,
    fit_sample_rows,
    load_archive,
    load_trained,
    training_fingerprint,
)

__all__ = [
    "BUILD_REPORT",
    "DEFAULT_ENCODER",
    "DEFAULT_FIT_LIMIT",
    "ENGINES",
    "MAX_LABEL_CLASSES",
    "BuildConfig",
    "archive_folders",
    "build_bundle",
    "choose_label_columns",
    "decode_catalog",
    "decode_items",
    "duplicate_groups",
    "fingerprint_path",
    "fit_sample_rows",
    "hidden_label_ids",
    "item_table",
    "items_from_encoded",
    "load_archive",
    "load_catalog",
    "load_trained",
    "near_duplicate_pairs",
    "photo_items",
    "product_duplicate_groups",
    "product_tables",
    "read_build_report",
    "training_fingerprint",
    "training_labels",
]
