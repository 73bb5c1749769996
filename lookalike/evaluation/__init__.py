"""Retrieval metrics as pure functions, and the catalog evaluation protocol (the ``test``
items of split.csv query the whole catalog minus their duplicate group; see
:mod:`lookalike.evaluation.protocol`).

A package since issue 28: ``metrics`` (P@k, mAP@k, nDCG@k, hit rate, instance recall, label
precision), ``protocol`` (the catalog protocol's search and label metrics, photos or
products as the unit), ``outside`` (outside photos: the shopper-photo and type-map metrics
and tables) and ``tables`` (the report table and files). Every name the one module had is
importable from here.
"""

from __future__ import annotations

from lookalike.evaluation.metrics import (
    average_precision_at_k,
    hit_rate_at_k,
    instance_recall,
    label_precision,
    map_at_12,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    recall_of_target,
)
from lookalike.evaluation.outside import (
    MEAN_OVER_LABELS,
    MIN_ITEMS_PER_SCORED_TYPE,
    format_mapped_table,
    format_query_set_table,
    mapped_query_metrics,
    mapped_relevance,
    query_set_metrics,
    scored_queries,
)
from lookalike.evaluation.protocol import (
    COMBINED,
    DEFAULT_COLUMNS,
    DEFAULT_PRIMARY,
    Evaluation,
    evaluate_embeddings,
    evaluate_products,
    gallery_exclusions,
    label_metrics,
    label_relevance,
    product_protocol_search,
    protocol_search,
    query_rows_for_split,
)
from lookalike.evaluation.tables import format_table, write_report

__all__ = [
    "DEFAULT_PRIMARY",
    "DEFAULT_COLUMNS",
    "COMBINED",
    "precision_at_k",
    "average_precision_at_k",
    "ndcg_at_k",
    "hit_rate_at_k",
    "recall_of_target",
    "recall_at_k",
    "map_at_12",
    "instance_recall",
    "label_precision",
    "label_relevance",
    "gallery_exclusions",
    "protocol_search",
    "product_protocol_search",
    "Evaluation",
    "evaluate_embeddings",
    "evaluate_products",
    "label_metrics",
    "MIN_ITEMS_PER_SCORED_TYPE",
    "scored_queries",
    "query_set_metrics",
    "format_query_set_table",
    "MEAN_OVER_LABELS",
    "mapped_relevance",
    "mapped_query_metrics",
    "format_mapped_table",
    "query_rows_for_split",
    "format_table",
    "write_report",
]
