"""Pieces every ``lookalike`` command shares: usage errors, ``KEY=VALUE`` parsing, the
reference catalog's location and how results are printed or drawn."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookalike.catalog import REFERENCE_CATALOG, reference_catalog
from lookalike.grid import GridRow, load_tile_image

if TYPE_CHECKING:  # only for annotations: this module stays light (see lookalike.cli.main())
    from lookalike.recommend import QueryResult, Recommender

#: The reference catalog, ``../shared/fashion-images`` beside the checkout.
SHARED_CATALOG = REFERENCE_CATALOG
#: The reference catalog when it is here, else None (the CLI's name for it).
default_catalog = reference_catalog
DEMO_BUNDLES = Path("bundles")


class UsageError(Exception):
    """A mistake in the command line; printed without a traceback."""


def parse_key_values(pairs: Sequence[str] | None, what: str) -> dict[str, list[str]]:
    """``["Gender=Women", "Colour=Red,Blue"]`` -> {"Gender": ["Women"], "Colour": [...]}."""
    result: dict[str, list[str]] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{what} must look like COLUMN=VALUE, got {pair!r}")
        values = [v.strip() for v in value.split(",") if v.strip()]
        result.setdefault(key.strip(), []).extend(values)
    return result


def parse_options(pairs: Sequence[str] | None) -> dict[str, object]:
    """``--set epochs=5 --set lr=0.001`` -> typed dict (JSON values where they parse)."""
    options: dict[str, object] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"--set must look like OPTION=VALUE, got {pair!r}")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def format_table(result: QueryResult, columns: Sequence[str]) -> str:
    """Results as an aligned text table: rank, id, distance, then ``columns``; when a result
    has several photos, a ``photo`` column after the distance (matched photo / photos)."""
    photos = any(len(r.photos) > 1 for r in result.results)
    header = ["rank", "id", "distance", *(["photo"] if photos else []), *columns]
    rows = [
        [
            str(r.rank),
            r.id,
            f"{r.distance:.4f}",
            *([f"{r.photo}/{len(r.photos)}"] if photos else []),
            *(r.metadata.get(c, "") for c in columns),
        ]
        for r in result.results
    ]
    widths = [
        max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
        for i, h in enumerate(header)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def display_columns(recommender: Recommender, limit: int = 5) -> list[str]:
    """Metadata columns worth printing, most useful first."""
    preferred = ["ProductTitle", "ProductType", "Colour", "Gender", "SubCategory"]
    columns = recommender.metadata_columns
    ordered = [c for c in preferred if c in columns] + [c for c in columns if c not in preferred]
    return ordered[:limit]


def grid_rows_for(
    recommender: Recommender, results: Sequence[QueryResult], query_images: Sequence[Any]
) -> list[GridRow]:
    """Grid rows (query tile + result tiles with captions) for ``results``."""
    rows = []
    for result, query_image in zip(results, query_images, strict=True):
        if result.error:
            continue
        captions = [
            f"{r.id}  d={r.distance:.3f}\n{r.metadata.get('ProductType', '')} "
            f"{r.metadata.get('Colour', '')}".strip()
            for r in result.results
        ]
        rows.append(
            GridRow(
                query=query_image,
                query_caption=f"query\n{Path(result.query).name}",
                results=[load_tile_image(r.path) for r in result.results],
                captions=captions,
            )
        )
    return rows
