"""Retrieval metrics as pure functions over numpy arrays: P@k, mAP@k (and MAP@12), nDCG@k,
hit rate, recall@k, recall of a target, instance recall and label precision."""

from __future__ import annotations

import numpy as np

from lookalike.neighbours import exact_search


def precision_at_k(relevant: np.ndarray, k: int) -> float:
    """Mean over queries of the share of the first ``k`` results that are relevant.

    Args:
        relevant: bool (q, >=k), relevant[i, j] = result j of query i is relevant.
        k: cut-off.
    """
    if relevant.shape[0] == 0:
        return float("nan")
    return float(relevant[:, :k].mean(axis=1).mean())


def average_precision_at_k(relevant: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    """mAP@k: per query, sum of precision@i at each relevant rank i <= k, divided by
    min(k, number of relevant items in the gallery); queries with none relevant count 0.

    Args:
        relevant: bool (q, >=k).
        n_relevant: int (q,), relevant items in each query's gallery.
        k: cut-off.
    """
    if relevant.shape[0] == 0:
        return float("nan")
    rel = relevant[:, :k].astype(np.float64)
    precision_at_i = np.cumsum(rel, axis=1) / np.arange(1, rel.shape[1] + 1)
    denominators = np.minimum(n_relevant, k).astype(np.float64)
    ap = np.divide(
        (precision_at_i * rel).sum(axis=1),
        denominators,
        out=np.zeros(len(rel)),
        where=denominators > 0,
    )
    return float(ap.mean())


def ndcg_at_k(relevant: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    """Mean nDCG@k with binary gains (ideal = min(k, n_relevant) hits at the top)."""
    if relevant.shape[0] == 0:
        return float("nan")
    rel = relevant[:, :k].astype(np.float64)
    discounts = 1.0 / np.log2(np.arange(2, rel.shape[1] + 2))
    dcg = (rel * discounts).sum(axis=1)
    ideal_hits = np.minimum(n_relevant, k)
    ideal = np.array([discounts[:h].sum() for h in ideal_hits])
    return float(np.divide(dcg, ideal, out=np.zeros(len(dcg)), where=ideal > 0).mean())


def hit_rate_at_k(relevant: np.ndarray, k: int) -> float:
    """Share of queries with at least one relevant result in the first ``k``."""
    if relevant.shape[0] == 0:
        return float("nan")
    return float(relevant[:, :k].any(axis=1).mean())


def recall_at_k(relevant: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    """Mean over queries of the share of their relevant items found in the first ``k``
    (queries with none relevant count 0).

    Args:
        relevant: bool (q, >=k), each result relevant or not (each relevant item once).
        n_relevant: int (q,), relevant items per query.
        k: cut-off.
    """
    if relevant.shape[0] == 0:
        return float("nan")
    hits = relevant[:, :k].sum(axis=1).astype(np.float64)
    n = np.asarray(n_relevant, np.float64)
    return float(np.divide(hits, n, out=np.zeros(len(hits)), where=n > 0).mean())


def map_at_12(relevant: np.ndarray, n_relevant: np.ndarray) -> float:
    """MAP@12 as in the H&M personalised fashion recommendations competition (Kaggle, 2022):
    per customer the sum of P@i at each hit i <= 12 over min(|bought|, 12), averaged; the
    same as :func:`average_precision_at_k` at k = 12 with ``n_relevant`` = distinct items
    the customer bought in the window."""
    return average_precision_at_k(relevant, n_relevant, 12)


def recall_of_target(result_rows: np.ndarray, targets: np.ndarray, k: int) -> float:
    """Share of queries whose target row appears in the first ``k`` results."""
    if len(targets) == 0:
        return float("nan")
    return float((result_rows[:, :k] == targets[:, None]).any(axis=1).mean())


def instance_recall(
    queries: np.ndarray,
    gallery: np.ndarray,
    targets: np.ndarray,
    ks: tuple[int, ...] = (1, 10),
    groups: np.ndarray | None = None,
) -> tuple[float, ...]:
    """Per k in ``ks``, the share of ``queries`` whose target row of ``gallery`` is among their
    k nearest; with ``groups`` (a group id per gallery row) any row of the target's group
    counts, as the evaluation counts identical images."""
    _, found = exact_search(gallery, queries, max(ks))
    if groups is not None:
        found, targets = groups[found], groups[targets]
    return tuple(recall_of_target(found, targets, k) for k in ks)


def label_precision(
    embeddings: np.ndarray,
    query_rows: np.ndarray,
    gallery_rows: np.ndarray,
    labels: list[np.ndarray],
    k: int = 10,
    groups: np.ndarray | None = None,
) -> tuple[float, float]:
    """Label precision of ``query_rows`` searched among ``gallery_rows`` (the query itself
    excluded, and with ``groups`` every row of the query's group).

    Returns:
        (P@1 of the first label array, mean over label arrays of P@k); with two arrays the
        second counts only jointly with the first.
    """
    if groups is None:
        groups = np.arange(len(embeddings))
    depth = label_search_depth(gallery_rows, k, groups)
    _, found = exact_search(embeddings[gallery_rows], embeddings[query_rows], depth)
    return label_precision_of_ranking(gallery_rows[found], query_rows, labels, k, groups)


def label_search_depth(gallery_rows: np.ndarray, k: int, groups: np.ndarray) -> int:
    """Neighbours to fetch so that ``k`` survive dropping the query's group (its rows may
    all be among them): what :func:`label_precision_of_ranking` needs ranked."""
    return min(len(gallery_rows), k + int(np.bincount(groups).max()))


def label_precision_of_ranking(
    found: np.ndarray,
    query_rows: np.ndarray,
    labels: list[np.ndarray],
    k: int,
    groups: np.ndarray,
) -> tuple[float, float]:
    """:func:`label_precision` from ranked neighbours already found.

    Args:
        found: int (q, >= :func:`label_search_depth`) rows nearest first, per query row.
        query_rows, labels, k, groups: as :func:`label_precision` (``groups`` required).
    """
    found = np.array(
        [
            [r for r in row if groups[r] != groups[q]][:k]
            for row, q in zip(found, query_rows, strict=True)
        ]
    )
    score, joint = 0.0, np.ones(found.shape, bool)
    for label in labels:
        joint &= label[found] == label[query_rows][:, None]
        score += float(joint.mean())
    first = labels[0][found[:, 0]] == labels[0][query_rows]
    return float(first.mean()), score / len(labels)
