"""The catalog evaluation protocol: the gallery minus each query's duplicate group, exact
search (photos or products), label metrics of the results, and the queries of a split.

Protocol (``../shared/fashion-images/README.md``): the ``test`` items of split.csv are the
queries; the gallery is the whole catalog minus the query itself and minus every item whose
image is identical to the query's (its duplicate group), so an identical copy is no free hit.
A result is relevant when it shares the query's label in a column (ProductType by default).

Products with several photos (:func:`evaluate_products`): the product is the unit. Every
photo of a query product is a query; results are distinct products (each at its nearest
photo); the query's own product and the products in its duplicate group are excluded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lookalike.evaluation.metrics import average_precision_at_k, precision_at_k
from lookalike.neighbours import exact_search, first_per_group

DEFAULT_PRIMARY = "ProductType"
DEFAULT_COLUMNS = ("SubCategory", "Colour", "Gender")
COMBINED = "ProductType+Colour"


def label_relevance(
    labels: np.ndarray, query_rows: np.ndarray, result_rows: np.ndarray
) -> np.ndarray:
    """bool (q, k): result has the query's label (empty labels never match; -1 rows miss)."""
    query_labels = labels[query_rows][:, None]
    result_labels = labels[np.where(result_rows >= 0, result_rows, 0)]
    return (result_labels == query_labels) & (result_rows >= 0) & (query_labels != "")


def gallery_exclusions(group_keys: Sequence[str], query_rows: np.ndarray) -> list[np.ndarray]:
    """Per query, the rows sharing its duplicate-group key (itself included)."""
    by_key: dict[str, list[int]] = {}
    for row, key in enumerate(group_keys):
        by_key.setdefault(key, []).append(row)
    return [np.array(by_key[group_keys[r]], dtype=np.int64) for r in query_rows]


def protocol_search(
    embeddings: np.ndarray, query_rows: np.ndarray, exclusions: list[np.ndarray], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact Euclidean top-k of each query row over all rows minus its exclusions.

    Returns:
        (distances float32 (q, k), rows int64 (q, k)). Memory: one (q, n) distance matrix in
        float32 per 1,024 queries.
    """
    extra = max((len(e) for e in exclusions), default=1)
    distances, rows = exact_search(embeddings, embeddings[query_rows], k + extra)
    out_d = np.full((len(query_rows), k), np.inf, np.float32)
    out_r = np.full((len(query_rows), k), -1, np.int64)
    for i, excluded in enumerate(exclusions):
        keep = ~np.isin(rows[i], excluded)
        kept_rows, kept_d = rows[i][keep][:k], distances[i][keep][:k]
        out_r[i, : len(kept_rows)] = kept_rows
        out_d[i, : len(kept_d)] = kept_d
    return out_d, out_r


def product_protocol_search(
    photo_embeddings: np.ndarray,
    photo_products: np.ndarray,
    query_vectors: np.ndarray,
    exclusions: list[np.ndarray],
    k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact top-k distinct products of each query vector (a product at its nearest photo),
    minus each query's excluded products.

    Args:
        photo_embeddings: float32 (photos, d).
        photo_products: int (photos,), each photo's product row.
        query_vectors: float32 (q, d).
        exclusions: per query, product rows that must not be returned.
        k: products per query.

    Returns:
        (distances (q, k), product rows (q, k), matched photo rows (q, k)), -1 padded.
        Memory: as :func:`protocol_search`, searching ``(k + excluded) x`` the most photos
        per product deep (enough for k products to survive, see lookalike.index.grouped).
    """
    extra = max((len(e) for e in exclusions), default=0)
    most = int(np.bincount(photo_products).max()) if len(photo_products) else 1
    depth = min(len(photo_embeddings), (k + extra) * most)
    distances, rows = exact_search(photo_embeddings, query_vectors, depth)
    d, products, photos, _ = first_per_group(distances, rows, photo_products, k + extra)
    out_d = np.full((len(query_vectors), k), np.inf, np.float32)
    out_p = np.full((len(query_vectors), k), -1, np.int64)
    out_m = np.full((len(query_vectors), k), -1, np.int64)
    for i, excluded in enumerate(exclusions):
        keep = np.flatnonzero((products[i] >= 0) & ~np.isin(products[i], excluded))[:k]
        out_d[i, : len(keep)] = d[i, keep]
        out_p[i, : len(keep)] = products[i, keep]
        out_m[i, : len(keep)] = photos[i, keep]
    return out_d, out_p, out_m


@dataclass
class Evaluation:
    """Protocol results for one set of embeddings."""

    name: str
    n_queries: int
    metrics: dict[str, float]
    result_rows: np.ndarray = field(repr=False)


def evaluate_embeddings(
    embeddings: np.ndarray,
    metadata: Sequence[dict[str, str]],
    query_rows: np.ndarray,
    group_keys: Sequence[str],
    *,
    primary: str = DEFAULT_PRIMARY,
    columns: Sequence[str] = DEFAULT_COLUMNS,
    name: str = "",
) -> Evaluation:
    """P@1/5/10 and mAP@10 on ``primary``; P@10 on each of ``columns`` and on primary AND
    Colour (when a Colour column exists).

    Args:
        embeddings: float32 (n, d), row-aligned with ``metadata``.
        metadata: per row, column -> label.
        query_rows: rows used as queries.
        group_keys: per row, a duplicate-group key (content hash); same key = same image.
        primary: the label column for P@k and mAP.
        columns: more label columns reported at P@10.
        name: a label for the report table.
    """
    k = 10
    exclusions = gallery_exclusions(group_keys, query_rows)
    _, rows = protocol_search(embeddings, query_rows, exclusions, k)
    metrics = label_metrics(metadata, query_rows, rows, exclusions, primary, columns)
    return Evaluation(name, len(query_rows), metrics, rows)


def evaluate_products(
    photo_embeddings: np.ndarray,
    photo_products: np.ndarray,
    metadata: Sequence[dict[str, str]],
    query_rows: np.ndarray,
    group_keys: Sequence[str],
    *,
    primary: str = DEFAULT_PRIMARY,
    columns: Sequence[str] = DEFAULT_COLUMNS,
    name: str = "",
) -> Evaluation:
    """The protocol with the product as the unit: each photo of each query product asks,
    the results are distinct products (:func:`product_protocol_search`), and the query's
    own product and its duplicate group (same ``group_keys``) are excluded. Metrics as
    :func:`evaluate_embeddings`, averaged over query photos.

    Args:
        photo_embeddings: float32 (photos, d).
        photo_products: int (photos,), each photo's product row.
        metadata: per product row, column -> label.
        query_rows: product rows whose photos are queries.
        group_keys: per product row, a duplicate-group key.
        primary, columns, name: as for :func:`evaluate_embeddings`.

    Returns:
        An :class:`Evaluation` whose ``n_queries`` counts query photos and whose
        ``result_rows`` are product rows (one row per query photo).
    """
    k = 10
    photo_products = np.asarray(photo_products, dtype=np.int64)
    query_photos = np.flatnonzero(np.isin(photo_products, query_rows))
    photo_query_rows = photo_products[query_photos]
    exclusions = gallery_exclusions(group_keys, photo_query_rows)
    _, rows, _ = product_protocol_search(
        photo_embeddings, photo_products, photo_embeddings[query_photos], exclusions, k
    )
    metrics = label_metrics(metadata, photo_query_rows, rows, exclusions, primary, columns)
    return Evaluation(name, len(query_photos), metrics, rows)


def label_metrics(
    metadata: Sequence[dict[str, str]],
    query_rows: np.ndarray,
    rows: np.ndarray,
    exclusions: list[np.ndarray],
    primary: str = DEFAULT_PRIMARY,
    columns: Sequence[str] = DEFAULT_COLUMNS,
) -> dict[str, float]:
    """P@1/5/10 and mAP@10 on ``primary``, P@10 on ``primary``+Colour and each of
    ``columns`` (those present) of the ranked result ``rows`` (q, 10) of ``query_rows``,
    whose galleries left out ``exclusions``."""
    k = 10
    metrics: dict[str, float] = {}

    def labels_of(column: str) -> np.ndarray:
        return np.array([m.get(column, "") for m in metadata], dtype=object)

    primary_labels = labels_of(primary)
    relevant = label_relevance(primary_labels, query_rows, rows)
    counts: dict[str, int] = {}
    for label in primary_labels:
        counts[label] = counts.get(label, 0) + 1
    n_relevant = np.array(
        [
            counts.get(primary_labels[q], 0)
            - int((primary_labels[excluded] == primary_labels[q]).sum())
            for q, excluded in zip(query_rows, exclusions, strict=True)
        ]
    )
    for cut in (1, 5, 10):
        metrics[f"P@{cut} {primary}"] = precision_at_k(relevant, cut)
    metrics[f"mAP@10 {primary}"] = average_precision_at_k(relevant, n_relevant, k)
    if any("Colour" in m for m in metadata):
        colour = label_relevance(labels_of("Colour"), query_rows, rows)
        metrics[f"P@10 {primary}+Colour"] = precision_at_k(relevant & colour, k)
    for column in columns:
        if any(column in m for m in metadata):
            metrics[f"P@10 {column}"] = precision_at_k(
                label_relevance(labels_of(column), query_rows, rows), k
            )
    return metrics


def query_rows_for_split(ids: Sequence[str], split: dict[str, str]) -> np.ndarray:
    """Rows whose id is in the ``test`` split (all rows when no split is known)."""
    if not split:
        return np.arange(len(ids), dtype=np.int64)
    return np.array([row for row, i in enumerate(ids) if split.get(i) == "test"], dtype=np.int64)
