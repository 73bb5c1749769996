"""Public names stay importable from the paths the README and older code use.

Modules were split into packages (``lookalike.index``, ``lookalike.encoders.hybrid``,
``lookalike.cli``, ``lookalike.server``, ``lookalike.bundle``, ``lookalike.recommend``,
``lookalike.report``, ``lookalike.evaluation``) and pieces moved (the writer lock to
``lookalike.bundle``, duplicate detection to ``lookalike.dedup``, metrics to
``lookalike.evaluation``, exact search to ``lookalike.neighbours``); the old import paths
re-export them, and this test pins that.
"""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "lookalike": ["load", "__version__"],
    "lookalike.index": [
        "FLAT_MAX_ITEMS", "HNSW_MAX_ITEMS", "EXACT_SCAN_MAX_ALLOWED", "SELECTIVE_FRACTION",
        "FILTER_EF_MAX", "INDEX_FILE", "CONFIG_FILE", "FORMAT_VERSION", "VectorIndex",
        "exact_search", "set_threads", "FlatIndex", "REMOVED_FILE", "HNSWIndex", "REFINE_FILE",
        "RERANK_SHARE", "MIN_K_FACTOR", "MAX_NLIST", "IVFPQIndex", "default_nlist",
        "INDEX_KINDS", "create_index", "load_index", "choose_index_kind", "build_index",
    ],
    "lookalike.encoders": ["load_encoder"],
    # A package since issue 28 (model, training, encoder): every name the one module had
    # stays importable from here.
    "lookalike.encoders.cae": [
        "ACCURACY_TOLERANCE", "HISTORY_CSV", "CURVES_PNG", "CHECKPOINT", "CAEConfig",
        "ConvAutoEncoder", "pixel_accuracy", "mean_image_loss", "write_history", "plot_history",
        "EMBEDDING_ONLY_FIELDS", "training_fingerprint", "train_cae", "CAEEncoder",
    ],
    # Its per-product bounds moved to lookalike.index.bounds (issue 28).
    "lookalike.index.grouped": [
        "search_groups", "search_groups_exact", "exact_scan_vectors", "stored_vectors",
        "GroupBounds", "HeadSpace", "group_bounds", "gather_groups", "first_per_group",
    ],
    "lookalike.encoders.hybrid": [
        "WHITE", "HYBRID_LEGACY_OPTIONS", "FUSION_PARTS", "PCA_MIN_ITEMS_PER_DIM",
        "HybridConfig", "colour_histogram", "Head", "head_to_numpy", "head_outputs",
        "class_probabilities", "encode_label_columns", "instance_contrastive", "train_head",
        "split_parts", "fusion_parts", "fuse", "INSTANCE_WEIGHT", "instance_recall",
        "label_precision", "validation_fifth", "hide_labels", "HybridEncoder",
    ],
    "lookalike.updates": [
        "LOCK_FILE", "IMAGES_DIR", "UPDATE_REPORT", "BUILD_REPORT", "SLOW_ENV", "NEAR_HAMMING",
        "AHASH_FACTOR", "NEAR_NEIGHBOURS", "NEAR_FRACTION", "NEIGHBOUR_SAMPLE", "MAX_ID_LENGTH",
        "LOCK_TIMEOUT", "UpdateError", "BundleBusyError", "NewItem", "Skipped", "Duplicate",
        "UpdateReport", "bundle_lock", "check_item_id", "add_items", "add_new_items",
        "typical_neighbour_distance", "find_duplicates", "remove_items",
    ],
    "lookalike.pipeline": [
        "MAX_LABEL_CLASSES", "BUILD_REPORT", "DEFAULT_ENCODER", "BuildConfig", "load_catalog",
        "hidden_label_ids", "choose_label_columns", "training_labels", "decode_catalog",
        "duplicate_groups", "near_duplicate_pairs", "fingerprint_path", "training_fingerprint",
        "load_trained", "build_bundle", "read_build_report", "ENGINES", "decode_items",
        "item_table", "photo_items", "product_tables", "product_duplicate_groups",
        "fit_sample_rows", "items_from_encoded", "load_archive", "archive_folders",
    ],
    "lookalike.cli": [
        "SHARED_CATALOG", "DEMO_BUNDLES", "UsageError", "default_catalog", "parse_key_values",
        "parse_options", "display_columns", "grid_rows_for", "main",
    ],
    # A package since issue 28 (metrics, protocol, outside, tables): every name the one
    # module had stays importable from here.
    "lookalike.evaluation": [
        "DEFAULT_PRIMARY", "DEFAULT_COLUMNS", "COMBINED", "precision_at_k",
        "average_precision_at_k", "ndcg_at_k", "hit_rate_at_k", "recall_of_target",
        "instance_recall", "label_precision", "label_relevance", "gallery_exclusions",
        "protocol_search", "product_protocol_search", "Evaluation", "evaluate_embeddings",
        "evaluate_products", "label_metrics", "MIN_ITEMS_PER_SCORED_TYPE", "scored_queries",
        "query_set_metrics", "format_query_set_table", "MEAN_OVER_LABELS", "mapped_relevance",
        "mapped_query_metrics", "format_mapped_table", "query_rows_for_split", "format_table",
        "write_report",
    ],
    # A package since issue 28 (format, tables, writer, reading, garbage): every name the
    # one module had stays importable from here.
    "lookalike.bundle": [
        "FORMAT_VERSION", "CURRENT", "VERSIONS", "MANIFEST", "CONFIG", "ITEMS", "PHOTOS",
        "EMBEDDINGS", "INDEX_DIR", "ENCODER_DIR", "TRAINING_DIR", "KEEP_VERSIONS",
        "BUILD_REPORT", "LOCK_FILE", "LOCK_TIMEOUT", "IMAGES_DIR", "THUMBNAILS_DIR",
        "STALE_TEMP_S", "BUNDLE_LIBRARIES", "BundleError", "UpdateError", "BundleBusyError",
        "ItemTable", "PhotoTable", "library_versions", "bundle_lock", "current_version_dir",
        "BundleWriter", "prune_versions", "BundleData", "read_bundle", "check_bundle",
        "thumbnail_source_key", "GarbageReport", "kept_image_paths", "find_orphans",
        "collect_garbage", "sha256_file",
    ],
    "lookalike.imaging": [
        "DEFAULT_MAX_PIXELS", "IMAGE_EXTENSIONS", "ImageSource", "ImageDecodeError", "open_rgb",
        "letterbox", "load_image", "BatchResult", "load_images", "iter_image_batches",
        "cached_images", "image_content_hash", "average_hash", "hamming",
        "Crop", "CropError", "check_crop", "crop_image", "parse_crop",
    ],
    # A package since issue 28 (items, metadata, manifest, folders, layout): every name the
    # one module had stays importable from here.
    "lookalike.catalog": [
        "KAGGLE_CSV", "ID_COLUMN_CANDIDATES", "IMAGE_COLUMN_CANDIDATES", "Item", "Catalog",
        "CatalogError", "read_csv_rows", "find_images", "read_catalog", "item_sort_key",
        "read_split", "read_duplicate_groups", "IMAGE_EXTENSIONS", "REFERENCE_CATALOG",
        "reference_catalog", "pick_column", "MANIFEST_SUFFIXES", "is_uri",
        "read_location_bytes", "read_manifest", "add_photo", "looks_like_product_folders",
        "with_valid_ids",
    ],
    # A package since issue 28 (recommender, photos, filters, products, results): every name
    # the one module had stays importable from here.
    "lookalike.recommend": [
        "Filters", "MAX_K", "COMBINE_METHODS", "UnknownItemError", "FilterError",
        "Recommendation", "QueryResult", "Recommender", "MATCH_CLOSE", "MATCH_SIMILAR",
        "NEAR_COLLAPSE_FRACTION", "NEAR_COLLAPSE_NEIGHBOURS", "EXPANSION_MIN_PHOTOS",
        "decode_each", "per_source_crops", "filter_values", "join_groups", "merge_nearest",
        "product_vectors",
    ],
    # A package since issue 28 (catalog, outside, street, folders, grids, evaluate): every
    # name the one module had stays importable from here.
    "lookalike.report": [
        "ROBUSTNESS_QUERIES", "QUERY_GROUP_COLUMN", "QUERY_BATCH", "group_keys_for",
        "raw_pixel_embeddings", "aligned_embeddings", "degraded_copy_recall",
        "read_query_photos", "evaluate_query_photos", "evaluate_queries_folder",
        "SHOPPER_PROTOCOL", "TYPE_MAP_PROTOCOL", "MASKS_PROTOCOL", "MAPPED_LABEL_COLUMN",
        "KIDS_COLUMN", "MASK_ANNOTATION", "LOOK_MIN_IOU", "query_protocol", "label_groups",
        "result_types", "is_true", "evaluate_mapped_photos", "worn_garments", "shop_the_look",
        "evaluate_masked_photos", "query_set_markdown", "result_grids", "evaluate_bundle",
    ],
    "lookalike.server.app": ["create_app", "API_KEY_ENV", "configured_api_key"],
    "lookalike.server.profile_api": ["use_interactions"],
    # The CSR type and its helpers moved to lookalike.csr (events.py had reached 500 lines).
    "lookalike.events": [
        "Csr", "csr_from_coo", "transpose", "gather_rows", "gather_rows_sparse", "co_occurrence",
        "EventLog", "read_events", "event_matrix", "age_decay", "log_from_arrays",
    ],
}  # fmt: skip

CASES = [(module, name) for module, names in PUBLIC.items() for name in names]


@pytest.mark.parametrize(("module", "name"), CASES)
def test_public_name_is_importable_from_its_documented_path(module, name):
    assert hasattr(importlib.import_module(module), name), f"{module}.{name} is gone"


def test_moved_names_are_the_same_objects():
    from lookalike import bundle, dedup, evaluation, index, neighbours, updates
    from lookalike.encoders import hybrid

    assert updates.bundle_lock is bundle.bundle_lock
    assert updates.find_duplicates is dedup.find_duplicates
    assert index.exact_search is neighbours.exact_search
    assert hybrid.instance_recall is evaluation.instance_recall
    assert hybrid.label_precision is evaluation.label_precision
    from lookalike import csr, events

    assert events.Csr is csr.Csr and events.co_occurrence is csr.co_occurrence


def test_split_modules_are_reexported_as_the_same_objects():
    """lookalike.recommend and lookalike.bundle became packages; the old paths name the
    objects of the new modules, not copies."""
    from lookalike import recommend
    from lookalike.recommend import filters, products, recommender, results

    assert recommend.Recommender is recommender.Recommender
    assert recommend.UnknownItemError is recommender.UnknownItemError
    assert recommend.FilterError is filters.FilterError
    assert recommend.Recommendation is results.Recommendation
    assert recommend.merge_nearest is results.merge_nearest
    assert recommend.product_vectors is products.product_vectors


def test_report_and_evaluation_packages_reexport_the_same_objects():
    """lookalike.report and lookalike.evaluation became packages (issue 28); the old paths
    name the objects of the new modules."""
    from lookalike import evaluation, report
    from lookalike.evaluation import metrics, outside, protocol, tables
    from lookalike.report import catalog, folders, grids, street
    from lookalike.report import evaluate as evaluate_module
    from lookalike.report import outside as report_outside

    assert evaluation.precision_at_k is metrics.precision_at_k
    assert evaluation.Evaluation is protocol.Evaluation
    assert evaluation.mapped_query_metrics is outside.mapped_query_metrics
    assert evaluation.write_report is tables.write_report
    assert report.degraded_copy_recall is catalog.degraded_copy_recall
    assert report.evaluate_mapped_photos is report_outside.evaluate_mapped_photos
    assert report.shop_the_look is street.shop_the_look
    assert report.evaluate_queries_folder is folders.evaluate_queries_folder
    assert report.result_grids is grids.result_grids
    assert report.evaluate_bundle is evaluate_module.evaluate_bundle
