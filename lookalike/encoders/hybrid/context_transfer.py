"""Catalog shots given an archive photo's context, in feature space.

An archive photo (a garment on a person or on a bed) differs from its type's catalog shots
by what surrounds and deforms the garment. Its residual, the photo's clean view minus the
mean clean view of the catalog shots of its type, carries that difference; added to the
views of a catalog shot of any type, it gives a row that reads like that type in an
archive photo's setting. Types no archive photo shows (a retailer's new type) then reach
the head in such settings too.
"""

from __future__ import annotations

import numpy as np

from lookalike.encoders.hybrid.head import encode_label_columns

# Residuals are added a chunk of rows at a time: float32 temporaries stay small.
CHUNK_ROWS = 512


def catalog_class_means(clean_views: np.ndarray, classes: np.ndarray) -> dict[int, np.ndarray]:
    """Mean clean view of each class.

    Args:
        clean_views: (n, dim) clean views of labelled catalog photos (any float dtype).
        classes: (n,) int class per row; negative = unknown, skipped.

    Returns:
        class -> float32 (dim,) mean over that class's rows.
    """
    means = {}
    for label in np.unique(classes[classes >= 0]):
        means[int(label)] = clean_views[classes == label].astype(np.float32).mean(axis=0)
    return means


def transfer_context(
    catalog_views: np.ndarray,
    catalog_classes: np.ndarray,
    archive_clean: np.ndarray,
    archive_classes: np.ndarray,
    per_row: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows that put catalog shots in archive photos' context.

    Each synthetic row is a labelled catalog row's views (every view) plus the residual of
    one archive photo drawn at random: its clean view minus the mean clean view of the
    catalog shots of its class. Archive photos whose class has no catalog shot (or is
    unknown) give no residual.

    Args:
        catalog_views: (n, views, dim) catalog rows' views, clean view first.
        catalog_classes: (n,) class per catalog row; negative = unknown (never a source).
        archive_clean: (m, dim) the archive photos' clean views.
        archive_classes: (m,) their classes; negative = unknown or partial.
        per_row: synthetic rows per labelled catalog row (0.5: every other one, drawn).
        seed: fixes which rows and residuals are drawn.

    Returns:
        (views (k, views, dim) in ``catalog_views``' dtype, the catalog row each came from
        (k,) int64); empty when nothing can be drawn.
    """
    if per_row < 0:
        raise ValueError(f"per_row must be >= 0, got {per_row}")
    empty = (np.zeros((0, *catalog_views.shape[1:]), catalog_views.dtype), np.zeros(0, np.int64))
    labelled = np.flatnonzero(catalog_classes >= 0)
    if per_row == 0 or not len(labelled):
        return empty
    means = catalog_class_means(catalog_views[labelled, 0], catalog_classes[labelled])
    sources = np.array([i for i, c in enumerate(archive_classes) if int(c) in means], np.int64)
    if not len(sources):
        return empty
    rng = np.random.default_rng(seed)
    count = int(round(per_row * len(labelled)))
    rows = np.sort(rng.choice(labelled, size=count, replace=count > len(labelled)))
    donors = rng.choice(sources, size=count)
    out = np.empty((count, *catalog_views.shape[1:]), catalog_views.dtype)
    for start in range(0, count, CHUNK_ROWS):
        part = slice(start, start + CHUNK_ROWS)
        chunk_donors = donors[part]
        residual = archive_clean[chunk_donors].astype(np.float32) - np.stack(
            [means[int(archive_classes[d])] for d in chunk_donors]
        )
        base = catalog_views[rows[part]].astype(np.float32)
        out[part] = base + residual[:, None, :]
    return out, rows


def add_transferred_rows(
    view_feats: np.ndarray,
    labels: dict[str, list[str]],
    n_catalog: int,
    primary: str,
    per_row: float,
    seed: int,
) -> tuple[np.ndarray, dict[str, list[str]]]:
    """The fit's rows plus :func:`transfer_context`'s, which carry their catalog row's
    ``primary`` label only (a residual also shifts colour and the like).

    Args:
        view_feats: (n, views, dim) catalog rows first (``n_catalog`` of them), then the
            archive photos' rows.
        labels: column -> one value per row ("" unknown; ``A;B`` partial).
        n_catalog: how many rows are the catalog's.
        primary: the label column the synthetic rows keep.
        per_row: synthetic rows per labelled catalog row (0 = none).
        seed: fixes the draw.

    Returns:
        (views, labels) with the synthetic rows appended (unchanged when none).
    """
    values = labels.get(primary)
    if per_row <= 0 or values is None or n_catalog >= len(view_feats):
        return view_feats, labels
    encoded = encode_label_columns({primary: values})
    if primary not in encoded:
        return view_feats, labels
    classes = encoded[primary][0]
    synthetic, rows = transfer_context(
        view_feats[:n_catalog],
        classes[:n_catalog],
        view_feats[n_catalog:, 0],
        classes[n_catalog:],
        per_row,
        seed,
    )
    if not len(rows):
        return view_feats, labels
    out = {
        c: list(v) + [values[r] if c == primary else "" for r in rows] for c, v in labels.items()
    }
    return np.concatenate([view_feats, synthetic]), out
