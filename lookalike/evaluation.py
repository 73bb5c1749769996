"""Retrieval metrics as pure functions, and the catalog evaluation protocol.

Protocol (``../shared/fashion-images/README.md``): the ``test`` items of split.csv are the
queries; the gallery is the whole catalog minus the query itself and minus every item whose
image is identical to the query's (its duplicate group), so an identical copy is no free hit.
A result is relevant when it shares the query's label in a column (ProductType by default).

Products with several photos (:func:`evaluate_products`): the product is the unit. Every
photo of a query product is a query; results are distinct products (each at its nearest
photo); the query's own product and the products in its duplicate group are excluded.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.files import atomic_write_with
from lookalike.neighbours import exact_search, first_per_group

DEFAULT_PRIMARY = "ProductType"
DEFAULT_COLUMNS = ("SubCategory", "Colour", "Gender")
COMBINED = "ProductType+Colour"


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
    # Enough candidates that k survive dropping the query's group (its rows may all be there).
    reach = min(len(gallery_rows), k + int(np.bincount(groups).max()))
    _, found = exact_search(embeddings[gallery_rows], embeddings[query_rows], reach)
    found = gallery_rows[found]
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


#: Query types with fewer catalog items than this are not scored (the shopper-photo
#: protocol of ``../shared/shopper-photos/README.md``).
MIN_ITEMS_PER_SCORED_TYPE = 20


def scored_queries(
    query_types: Sequence[str],
    catalog_types: Sequence[str],
    min_items: int = MIN_ITEMS_PER_SCORED_TYPE,
) -> np.ndarray:
    """bool (q,): the query's type has at least ``min_items`` catalog items (fair to score)."""
    counts: dict[str, int] = {}
    for label in catalog_types:
        counts[label] = counts.get(label, 0) + 1
    return np.array([bool(t) and counts.get(t, 0) >= min_items for t in query_types], bool)


def query_set_metrics(
    query_labels: dict[str, Sequence[str]],
    result_labels: dict[str, np.ndarray],
    groups: Sequence[str],
    *,
    primary: str = DEFAULT_PRIMARY,
    colour: str = "Colour",
    k: int = 10,
) -> dict[str, dict[str, float]]:
    """Label precision of outside photos (queries that are not catalog items), overall and
    per group (e.g. ``Apparel`` / ``Footwear``).

    Args:
        query_labels: column -> per query label (``primary`` and ``colour``).
        result_labels: column -> object array (q, k) of the results' labels ('' pads missing
            results, which never match).
        groups: per query, the group it is reported under.
        primary, colour: the type and colour columns.
        k: cut-off of P@k.

    Returns:
        group name (``all`` first) -> {"queries", "P@1 <primary>", "P@10 <primary>",
        "P@10 <colour>", "P@10 <primary>+<colour>"}.
    """

    def hits(column: str) -> np.ndarray:
        wanted = np.array(list(query_labels[column]), dtype=object)[:, None]
        found = result_labels[column]
        return (found == wanted) & (found != "") & (wanted != "")

    type_hits = hits(primary)
    colour_hits = hits(colour) if colour in query_labels else None
    groups = np.array(list(groups), dtype=object)
    out: dict[str, dict[str, float]] = {}
    for name in ["all", *sorted(set(groups.tolist()))]:
        rows = np.ones(len(groups), bool) if name == "all" else groups == name
        metrics: dict[str, float] = {"queries": int(rows.sum())}
        metrics[f"P@1 {primary}"] = precision_at_k(type_hits[rows], 1)
        metrics[f"P@{k} {primary}"] = precision_at_k(type_hits[rows], k)
        if colour_hits is not None:
            metrics[f"P@{k} {colour}"] = precision_at_k(colour_hits[rows], k)
            metrics[f"P@{k} {primary}+{colour}"] = precision_at_k(
                type_hits[rows] & colour_hits[rows], k
            )
        out[name] = metrics
    return out


def format_query_set_table(results: dict[str, dict[str, dict[str, float]]], digits: int = 3) -> str:
    """A Markdown table of :func:`query_set_metrics` outputs: one row per (features, group)."""
    keys: list[str] = []
    for groups in results.values():
        for metrics in groups.values():
            keys += [key for key in metrics if key not in keys and key != "queries"]
    lines = [
        "| features | photos | queries | " + " | ".join(keys) + " |",
        "|---|---|---|" + "---|" * len(keys),
    ]
    for name, groups in results.items():
        for group, metrics in groups.items():
            cells = [f"{metrics[key]:.{digits}f}" if key in metrics else "" for key in keys]
            lines.append(
                f"| {name} | {group} | {int(metrics['queries'])} | " + " | ".join(cells) + " |"
            )
    return "\n".join(lines)


#: The group name of the mean over labels in :func:`mapped_query_metrics`.
MEAN_OVER_LABELS = "mean over labels"


def mapped_relevance(result_types: np.ndarray, answers: Sequence[Collection[str]]) -> np.ndarray:
    """bool (q, k): result j of query i has a type among query i's answers (the catalog
    types that answer its label, e.g. from a folder's ``type_map.csv``).

    Args:
        result_types: object (q, k), the results' types ('' pads missing results, never a hit).
        answers: per query, the types that count as right.
    """
    result_types = np.asarray(result_types, dtype=object)
    if result_types.ndim != 2 or len(result_types) != len(answers):
        raise ValueError(f"expected ({len(answers)}, k) result types, got {result_types.shape}")
    out = np.zeros(result_types.shape, bool)
    for i, right in enumerate(answers):
        right = set(right) - {""}
        out[i] = [t in right for t in result_types[i]]
    return out


def mapped_query_metrics(
    result_types: np.ndarray,
    answers: Sequence[Collection[str]],
    labels: Sequence[str],
    groups: Sequence[str] | None = None,
    *,
    primary: str = DEFAULT_PRIMARY,
    k: int = 10,
) -> dict[str, Any]:
    """Type precision of queries labelled in another vocabulary: a result is a hit when its
    type is among its query's ``answers`` (:func:`mapped_relevance`); overall, per group,
    per label and the mean over labels (labels are unbalanced: each counts once).

    Args:
        result_types: object (q, k) of the results' ``primary`` labels ('' pads).
        answers: per query, the ``primary`` values that answer it.
        labels: per query, its label (the unit of the mean over labels).
        groups: per query, a group it is also reported under (e.g. Apparel / Footwear).
        primary: the catalog's type column (names the metrics).
        k: cut-off of P@k.

    Returns:
        {"all": metrics, "mean over labels": metrics with "labels" (how many) instead of
        "queries", "groups": group -> metrics, "labels": label -> metrics (most queries
        first)}, where metrics = {"queries", "P@1 <primary>", "P@<k> <primary>"}.
    """
    hits = mapped_relevance(result_types, answers)
    p1, pk = f"P@1 {primary}", f"P@{k} {primary}"

    def metrics(rows: np.ndarray) -> dict[str, float]:
        return {
            "queries": int(rows.sum()),
            p1: precision_at_k(hits[rows], 1),
            pk: precision_at_k(hits[rows], k),
        }

    labels = np.array(list(labels), dtype=object)
    counts: dict[str, int] = {}
    for label in labels.tolist():
        counts[label] = counts.get(label, 0) + 1
    per_label = {
        label: metrics(labels == label)
        for label in sorted(counts, key=lambda name: (-counts[name], name))
    }
    mean = {
        "labels": len(per_label),
        p1: float(np.mean([m[p1] for m in per_label.values()])) if per_label else float("nan"),
        pk: float(np.mean([m[pk] for m in per_label.values()])) if per_label else float("nan"),
    }
    by_group: dict[str, dict[str, float]] = {}
    if groups is not None:
        group_of = np.array(list(groups), dtype=object)
        by_group = {g: metrics(group_of == g) for g in sorted(set(group_of.tolist()))}
    return {
        "all": metrics(np.ones(len(labels), bool)),
        MEAN_OVER_LABELS: mean,
        "groups": by_group,
        "labels": per_label,
    }


def format_mapped_table(metrics: dict[str, Any], digits: int = 3) -> str:
    """A Markdown table of :func:`mapped_query_metrics`: overall, the mean over labels, each
    group, then each label."""
    rows = [("all", metrics["all"]), (MEAN_OVER_LABELS, metrics[MEAN_OVER_LABELS])]
    rows += list(metrics.get("groups", {}).items())
    rows += [(f"label: {name}", m) for name, m in metrics.get("labels", {}).items()]
    keys = [key for key in metrics["all"] if key != "queries"]
    lines = [
        "| queries of | queries | " + " | ".join(keys) + " |",
        "|---|---|" + "---|" * len(keys),
    ]
    for name, values in rows:
        count = f"{int(values['queries'])}" if "queries" in values else f"{values['labels']} labels"
        cells = [f"{values[key]:.{digits}f}" if key in values else "" for key in keys]
        lines.append(f"| {name} | {count} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def query_rows_for_split(ids: Sequence[str], split: dict[str, str]) -> np.ndarray:
    """Rows whose id is in the ``test`` split (all rows when no split is known)."""
    if not split:
        return np.arange(len(ids), dtype=np.int64)
    return np.array([row for row, i in enumerate(ids) if split.get(i) == "test"], dtype=np.int64)


def format_table(evaluations: Sequence[Evaluation], digits: int = 3) -> str:
    """A Markdown table: one row per evaluation, one column per metric."""
    if not evaluations:
        return ""
    keys = list(evaluations[0].metrics)
    for evaluation in evaluations[1:]:
        keys += [key for key in evaluation.metrics if key not in keys]
    lines = [
        "| features | " + " | ".join(keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for evaluation in evaluations:
        cells = [
            f"{evaluation.metrics[key]:.{digits}f}" if key in evaluation.metrics else ""
            for key in keys
        ]
        lines.append(f"| {evaluation.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(
    out_dir: Path,
    evaluations: Sequence[Evaluation],
    context: dict[str, Any],
    extra_markdown: str = "",
) -> tuple[Path, Path]:
    """``report.md`` + ``report.json`` in ``out_dir`` (written atomically)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        **context,
        "results": [
            {"name": e.name, "queries": e.n_queries, "metrics": e.metrics} for e in evaluations
        ],
    }
    lines = ["# lookalike evaluation", ""]
    lines += [f"- {key}: {value}" for key, value in context.items()]
    lines += ["", format_table(evaluations), "", extra_markdown]
    md_path, json_path = out_dir / "report.md", out_dir / "report.json"
    for path, text in ((md_path, "\n".join(lines)), (json_path, json.dumps(payload, indent=2))):
        atomic_write_with(path, lambda tmp, text=text: tmp.write_text(text))
    return md_path, json_path
