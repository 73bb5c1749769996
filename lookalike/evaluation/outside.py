"""Label precision of outside photos (queries that are not catalog items): the
shopper-photo protocol's metrics (labels in the catalog's vocabulary) and those of photos
labelled in another vocabulary (a type map), with their Markdown tables."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from lookalike.evaluation.metrics import precision_at_k
from lookalike.evaluation.protocol import DEFAULT_PRIMARY

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
