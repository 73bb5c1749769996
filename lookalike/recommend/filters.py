"""Metadata filters over a bundle's item table: which product rows a filter allows.

A filter maps a metadata column to the values wanted (any of them); values compare
stripped and case-insensitively, and rows must match every column. Plain functions over the
items' metadata and NumPy arrays; :class:`lookalike.recommend.Recommender` caches their results
per bundle version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

Filters = dict[str, Sequence[str]]


class FilterError(ValueError):
    """A filter names a metadata column the bundle does not have."""


def filter_values(values: str | Iterable[object]) -> set[str]:
    """A filter's wanted values as compared with the metadata: stripped, lower case (one
    value or several)."""
    return {str(v).strip().lower() for v in ([values] if isinstance(values, str) else values)}


def active_filters(filters: Filters | None) -> Filters:
    """The filters that restrict something (columns with at least one value)."""
    return {k: v for k, v in (filters or {}).items() if v}


def metadata_columns(metadata: Sequence[dict[str, str]]) -> list[str]:
    """The metadata columns of the items, in first-seen order."""
    seen: dict[str, None] = {}
    for meta in metadata:
        seen.update(dict.fromkeys(meta))
    return list(seen)


def column_values(metadata: Sequence[dict[str, str]], name: str) -> np.ndarray:
    """Every item's value of column ``name`` (``""`` where missing), as an object array."""
    return np.array([meta.get(name, "") for meta in metadata], dtype=object)


def rows_by_value(column: np.ndarray) -> dict[str, np.ndarray]:
    """Lower-cased value -> the rows (int64) holding it, for one column's values."""
    groups: dict[str, list[int]] = {}
    for row, value in enumerate(column):
        groups.setdefault(str(value).lower(), []).append(row)
    return {v: np.array(r, np.int64) for v, r in groups.items()}


def allowed_rows(
    filters: Filters | None,
    n_rows: int,
    columns: Sequence[str],
    rows_of: Callable[[str], dict[str, np.ndarray]],
) -> np.ndarray | None:
    """Rows matching every filter (any of the values per column); None = no filter.

    Args:
        filters: metadata column -> wanted values.
        n_rows: number of item rows.
        columns: the metadata columns the items have.
        rows_of: column name -> its :func:`rows_by_value`.

    Raises:
        FilterError: a filter names a column not in ``columns``.
    """
    filters = active_filters(filters)
    if not filters:
        return None
    mask = np.ones(n_rows, dtype=bool)
    known = set(columns)
    for name, values in filters.items():
        if name not in known:
            raise FilterError(
                f"unknown filter column {name!r}; columns: {', '.join(sorted(known))}"
            )
        by_value = rows_of(name)
        matching = np.zeros(n_rows, dtype=bool)
        for value in filter_values(values):
            matching[by_value.get(value, [])] = True
        mask &= matching
    return np.flatnonzero(mask).astype(np.int64)


def exact_filter_values(
    filters: Filters | None, column: Callable[[str], np.ndarray]
) -> dict[str, list[str]]:
    """column -> the stored values that match the filter's (case-insensitively), for indexes
    that filter on their own copy of the metadata; ``column`` gives a column's values."""
    out: dict[str, list[str]] = {}
    for name, values in active_filters(filters).items():
        wanted = filter_values(values)
        stored = {str(v) for v in column(name)}
        out[name] = sorted(v for v in stored if v.lower() in wanted)
    return out
