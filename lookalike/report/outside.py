"""Outside photos in the catalog's vocabulary (the shopper-photo protocol) and in another
vocabulary mapped to catalog types (the ``type_map.csv`` protocol), with the helpers the
street-photo protocol shares: the protocols' names, batched photo queries, result types."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.evaluation import (
    DEFAULT_PRIMARY,
    MIN_ITEMS_PER_SCORED_TYPE,
    mapped_query_metrics,
    query_set_metrics,
    scored_queries,
)
from lookalike.labelled import LabelledPhotos, read_labelled_photos

#: The column outside photos are reported by (``Apparel`` on-model photos, ``Footwear``).
QUERY_GROUP_COLUMN = "Category"
QUERY_BATCH = 64

#: The protocols a query folder may follow (:func:`query_protocol`).
SHOPPER_PROTOCOL = "shopper"
TYPE_MAP_PROTOCOL = "type_map"
MASKS_PROTOCOL = "street_masks"
#: The label column of a type-mapped folder, and the column saying a row is a kids' garment.
MAPPED_LABEL_COLUMN = "label"
KIDS_COLUMN = "kids"


def read_query_photos(folder: Path, split: str | None, recommender) -> LabelledPhotos:
    """The labelled photos of ``folder`` (``split`` only), label columns spelled as the
    bundle's metadata columns (and ``Category``, the column results are grouped by)."""
    columns = [*recommender.metadata_columns, QUERY_GROUP_COLUMN]
    return read_labelled_photos(folder, split=split, columns=columns)


def evaluate_query_photos(
    recommender,
    photos: LabelledPhotos,
    *,
    primary: str = DEFAULT_PRIMARY,
    k: int = 10,
    group_column: str = QUERY_GROUP_COLUMN,
    min_type_items: int = MIN_ITEMS_PER_SCORED_TYPE,
    **query_options: Any,
) -> dict[str, Any]:
    """The shopper-photo protocol: each photo whose ``primary`` type has at least 20
    catalog items is a query (``recommend_images``, k results from the whole catalog), scored
    by :func:`lookalike.evaluation.query_set_metrics`, overall and per ``group_column``.

    Args:
        min_type_items: catalog items a type needs to be scored.
        query_options: passed to ``recommend_images`` (e.g. ``crop``).

    Returns:
        {"photos", "scored", "unreadable", "metrics": group -> metrics, "result_ids"}.
    """
    scored = scored_queries(
        photos.labels(primary), recommender.column(primary).tolist(), min_type_items
    )
    chosen = [item for item, keep in zip(photos.items, scored, strict=True) if keep]
    results = []
    for start in range(0, len(chosen), QUERY_BATCH):
        batch = [str(item.path) for item in chosen[start : start + QUERY_BATCH]]
        results += recommender.recommend_images(batch, k, **query_options)
    unreadable = [r.query for r in results if r.error]
    kept = [(item, r) for item, r in zip(chosen, results, strict=True) if not r.error]
    columns = [primary, "Colour"]
    result_labels = {
        column: np.array(
            [
                [r.metadata.get(column, "") for r in result.results]
                + [""] * (k - len(result.results))
                for _, result in kept
            ],
            dtype=object,
        ).reshape(len(kept), k)
        for column in columns
    }
    query_labels = {c: [item.metadata.get(c, "") for item, _ in kept] for c in columns}
    groups = [item.metadata.get(group_column, "") or "other" for item, _ in kept]
    metrics = query_set_metrics(query_labels, result_labels, groups, primary=primary, k=k)
    return {
        "photos": len(photos),
        "scored": len(kept),
        "unreadable": unreadable,
        "metrics": metrics,
        "result_ids": {item.id: [r.id for r in result.results] for item, result in kept},
    }


def label_groups(
    recommender,
    type_map: dict[str, list[str]],
    primary: str = DEFAULT_PRIMARY,
    group_column: str = QUERY_GROUP_COLUMN,
) -> dict[str, str]:
    """Per mapped label, the ``group_column`` value (e.g. Apparel / Footwear) most catalog
    items of its types have; empty when the catalog has no such column."""
    if group_column not in recommender.metadata_columns:
        return {}
    types, groups = recommender.column(primary), recommender.column(group_column)
    out = {}
    for label, answers in type_map.items():
        chosen = groups[np.isin(types, list(answers))]
        values, counts = np.unique(
            np.array([g or "other" for g in chosen], dtype=object), return_counts=True
        )
        out[label] = str(values[np.argmax(counts)]) if len(values) else "other"
    return out


def result_types(results: Sequence, primary: str, k: int) -> np.ndarray:
    """object (q, k): each query result's ``primary`` labels, '' padded."""
    return np.array(
        [
            [r.metadata.get(primary, "") for r in result.results[:k]]
            + [""] * (k - len(result.results[:k]))
            for result in results
        ],
        dtype=object,
    ).reshape(len(results), k)


def labelled_result_metrics(
    recommender,
    results: Sequence,
    labels: Sequence[str],
    type_map: dict[str, list[str]],
    primary: str,
    k: int,
) -> dict[str, Any]:
    """:func:`lookalike.evaluation.mapped_query_metrics` of query ``results`` whose queries
    carry ``labels`` in ``type_map``'s vocabulary (grouped by :func:`label_groups`)."""
    groups = label_groups(recommender, type_map, primary)
    return mapped_query_metrics(
        result_types(results, primary, k),
        [type_map[label] for label in labels],
        labels,
        [groups[label] for label in labels] if groups else None,
        primary=primary,
        k=k,
    )


def recommend_in_batches(
    recommender, paths: Sequence[str], k: int, crops=None, **options: Any
) -> list:
    """``recommend_images`` over ``paths`` in batches (``crops``: one per path, or None)."""
    out = []
    for start in range(0, len(paths), QUERY_BATCH):
        part = {} if crops is None else {"crop": list(crops[start : start + QUERY_BATCH])}
        out += recommender.recommend_images(
            list(paths[start : start + QUERY_BATCH]), k, **part, **options
        )
    return out


def is_true(value: str) -> bool:
    """A CSV flag: True, true, 1, yes."""
    return str(value).strip().lower() in ("true", "1", "yes")


def evaluate_mapped_photos(
    recommender,
    photos: LabelledPhotos,
    type_map: dict[str, list[str]],
    *,
    primary: str = DEFAULT_PRIMARY,
    k: int = 10,
    label_column: str = MAPPED_LABEL_COLUMN,
    **query_options: Any,
) -> dict[str, Any]:
    """The type-map protocol (``../shared/amateur-photos/README.md``): photos labelled in
    another vocabulary; each photo whose label has a ``type_map`` row and that is not a kids'
    garment queries the whole catalog (``recommend_images``, k results); a result is a hit
    when its ``primary`` type is one of the label's types
    (:func:`lookalike.evaluation.mapped_query_metrics`).

    Args:
        photos: the labelled photos (one split).
        type_map: label -> catalog types (:func:`lookalike.labelled.read_type_map`).
        label_column: the photos' label column.
        query_options: passed to ``recommend_images`` (e.g. ``focus``, ``expand``).

    Returns:
        {"protocol", "photos", "scored", "unmapped" (photos whose label has no row), "kids",
        "unreadable", "metrics", "result_ids"}.
    """
    kids = [is_true(item.metadata.get(KIDS_COLUMN, "")) for item in photos.items]
    mapped = [item.metadata.get(label_column, "") in type_map for item in photos.items]
    chosen = [
        item for item, child, known in zip(photos.items, kids, mapped, strict=True)
        if known and not child
    ]  # fmt: skip
    results = recommend_in_batches(
        recommender, [str(item.path) for item in chosen], k, **query_options
    )
    kept = [(item, r) for item, r in zip(chosen, results, strict=True) if not r.error]
    labels = [item.metadata[label_column] for item, _ in kept]
    metrics = labelled_result_metrics(
        recommender, [r for _, r in kept], labels, type_map, primary, k
    )
    return {
        "protocol": TYPE_MAP_PROTOCOL,
        "photos": len(photos),
        "scored": len(kept),
        "unmapped": int(sum(not known for known in mapped)),
        "kids": int(sum(child and known for child, known in zip(kids, mapped, strict=True))),
        "unreadable": [r.query for r in results if r.error],
        "metrics": metrics,
        "result_ids": {item.id: [r.id for r in result.results] for item, result in kept},
    }
