"""`lookalike evaluate`: run the protocol on a bundle, baselines and other bundles; write the
report (Markdown + JSON) and result grids. The metrics themselves live in
:mod:`lookalike.evaluation`; this package only gathers the pieces and files.

A package since issue 28: ``catalog`` (duplicate-group keys, baselines, other bundles,
degraded-copy recall), ``outside`` (outside photos: the shopper-photo and ``type_map.csv``
protocols), ``street`` (the street-photo protocol and shop the look), ``folders`` (a query
folder's protocol and report section), ``grids`` (result grids) and ``evaluate``
(:func:`evaluate_bundle`, the whole report). Every name the one module had is importable
from here.
"""

from __future__ import annotations

from lookalike.report.catalog import (
    ROBUSTNESS_QUERIES,
    aligned_embeddings,
    degraded_copy_recall,
    group_keys_for,
    raw_pixel_embeddings,
)
from lookalike.report.evaluate import evaluate_bundle
from lookalike.report.folders import evaluate_queries_folder, query_protocol, query_set_markdown
from lookalike.report.grids import result_grids
from lookalike.report.outside import (
    KIDS_COLUMN,
    MAPPED_LABEL_COLUMN,
    MASKS_PROTOCOL,
    QUERY_BATCH,
    QUERY_GROUP_COLUMN,
    SHOPPER_PROTOCOL,
    TYPE_MAP_PROTOCOL,
    evaluate_mapped_photos,
    evaluate_query_photos,
    is_true,
    label_groups,
    read_query_photos,
    recommend_in_batches,
    result_types,
)
from lookalike.report.street import (
    LOOK_MIN_IOU,
    MASK_ANNOTATION,
    evaluate_masked_photos,
    shop_the_look,
    worn_garments,
)

__all__ = [
    "ROBUSTNESS_QUERIES",
    "QUERY_GROUP_COLUMN",
    "QUERY_BATCH",
    "group_keys_for",
    "raw_pixel_embeddings",
    "aligned_embeddings",
    "degraded_copy_recall",
    "read_query_photos",
    "evaluate_query_photos",
    "evaluate_queries_folder",
    "SHOPPER_PROTOCOL",
    "TYPE_MAP_PROTOCOL",
    "MASKS_PROTOCOL",
    "MAPPED_LABEL_COLUMN",
    "KIDS_COLUMN",
    "MASK_ANNOTATION",
    "LOOK_MIN_IOU",
    "query_protocol",
    "label_groups",
    "result_types",
    "recommend_in_batches",
    "is_true",
    "evaluate_mapped_photos",
    "worn_garments",
    "shop_the_look",
    "evaluate_masked_photos",
    "query_set_markdown",
    "result_grids",
    "evaluate_bundle",
]
