"""Fusion-weight tuning of the hybrid encoder: a grid of weightings scored on held-out
fifths of the labelled items, each with a head trained without that fifth's labels.

Score: the mean of P@1 type, P@10 type and P@10 type AND colour, + ``INSTANCE_WEIGHT`` x the
mean of degraded-copy recall@1 and @10 (a byte-identical copy of the item counting as it,
as the evaluation counts it). Each weighting's distances are a weighted sum of per-part
distances computed once per split (:func:`~lookalike.encoders.hybrid.fusion.part_sq_distances`),
so a weighting costs a sum and a ranking, not a kNN over the fused ~10k dims.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
from tqdm.auto import tqdm

from lookalike.encoders.hybrid.config import FUSION_PARTS, HybridConfig
from lookalike.encoders.hybrid.fusion import (
    fused_sq_distances,
    fusion_parts,
    part_sq_distances,
    split_parts,
)
from lookalike.encoders.hybrid.head import head_to_numpy, train_head
from lookalike.encoders.hybrid.projection import ProjectedViews
from lookalike.evaluation.metrics import label_precision_of_ranking, label_search_depth
from lookalike.neighbours import smallest_per_row

# Weight of the degraded-copy recall next to the label precision in the tuning score.
INSTANCE_WEIGHT = 0.5
# Weight of the held-out archive photos' label precision (outside photos querying the
# catalog, e.g. on-model shots) in the tuning score, when the head learns from an archive.
ARCHIVE_WEIGHT = 1.0


def validation_fifth(labelled: np.ndarray, seed: int, split: int = 0) -> np.ndarray:
    """Sorted rows of the ``split``-th of five disjoint fifths of ``labelled`` (a seeded
    permutation): the items fusion tuning holds out with ``seed``."""
    order = np.random.default_rng(seed + 1).permutation(labelled)
    fifth = max(1, len(labelled) // 5)
    return np.sort(order[split * fifth : (split + 1) * fifth])


def tuning_sample(labelled: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """The labelled rows fusion tuning scores: all of them, or ``limit`` drawn with ``seed``
    (sorted), so each weighting's kNN evaluation costs the same on any catalog size."""
    if limit < 10:
        raise ValueError(f"tune_max_items must be >= 10, got {limit}")
    if len(labelled) <= limit:
        return labelled
    return np.sort(np.random.default_rng(seed + 7).choice(labelled, limit, replace=False))


def hide_labels(targets: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """A copy of ``targets`` with the labels of ``rows`` unknown (-1)."""
    hidden = {c: t.copy() for c, t in targets.items()}
    for t in hidden.values():
        t[rows] = -1
    return hidden


def tune_fusion_weights(
    view_feats: np.ndarray,
    targets: dict[str, np.ndarray],
    config: HybridConfig,
    progress: bool,
    n_catalog: int | None = None,
    head_inputs: np.ndarray | ProjectedViews | None = None,
) -> tuple[tuple[float, ...], dict]:
    """Grid-search the fusion weights on ``tune_splits`` disjoint fifths of the labelled
    items (scores averaged), each scored with a head trained without that fifth's labels.

    Rows from ``n_catalog`` on (an archive's photos) train the heads, except for a fifth of
    them per split, held out like the catalog's fifth: those query the catalog's labelled
    rows, and their label precision (as for catalog items) joins the score at
    ``ARCHIVE_WEIGHT``, so the weighting also serves photos unlike the catalog's.
    ``head_inputs`` (default ``view_feats``) is what the heads train on: the same views,
    projected (:class:`ProjectedViews`) when the config asks for it."""
    primary = targets.get(config.primary_label)
    if primary is None:
        primary = next(iter(targets.values()))
    labelled = np.flatnonzero(primary >= 0)
    archive = np.zeros(0, np.int64)
    if n_catalog is not None:
        labelled, archive = labelled[labelled < n_catalog], labelled[labelled >= n_catalog]
    labelled = tuning_sample(labelled, config.tune_max_items, config.seed)
    clean = np.asarray(view_feats[:, 0], np.float32)
    # Label precision is measured as the evaluation protocol does: among items whose label
    # is known (a neighbour with a hidden label is neither hit nor miss), never counting
    # a byte-identical copy of the query (same clean-view features).
    _, groups = np.unique(clean, axis=0, return_inverse=True)
    label_sets = [primary]
    if "Colour" in targets:
        label_sets.append(targets["Colour"])
    steps = (0.0, 0.25, 0.5, 1.0)
    instance_steps = (0.0, 0.5, 1.0) if config.instance_dim else (0.0,)
    grid = list(itertools.product((1.0,), steps, steps, (0.0, 0.5, 1.0, 2.0), instance_steps))
    per_split = []
    splits = max(1, min(config.tune_splits, 5))
    for split in range(splits):
        val = validation_fifth(labelled, config.seed, split)
        archive_val = validation_fifth(archive, config.seed, split) if len(archive) else archive
        held_out = (val, labelled, groups, label_sets, archive_val)
        description = f"tuning fusion weights ({split + 1}/{splits})" if progress else ""
        per_split.append(
            score_fusion_grid(
                view_feats, clean, targets, config, held_out, grid, description, head_inputs
            )
        )
    details = {w: tuple(np.mean([d[w] for d in per_split], axis=0)) for w in grid}
    # P@1 counts once, label P@10 (type; type AND colour) twice: the mean of the three.
    scores = {
        w: (d[0] + 2 * d[1]) / 3
        + INSTANCE_WEIGHT * (d[2] + d[3]) / 2
        + (ARCHIVE_WEIGHT * (d[4] + 2 * d[5]) / 3 if len(d) > 4 else 0.0)
        for w, d in details.items()
    }
    best = max(scores, key=scores.get)
    if progress:
        print(
            f"fusion weights ({', '.join(FUSION_PARTS)}) tuned on {len(per_split)} x "
            f"{len(val)} validation items: {best} (P@1 {{:.3f}}, label P@10 {{:.3f}}, "
            "degraded-copy recall@1/@10 {:.3f}/{:.3f})".format(*details[best])
        )
    return best, {
        "validation_items": int(len(val)),
        "validation_splits": len(per_split),
        "score": f"mean(P@1, P@10 x 2) + {INSTANCE_WEIGHT} x mean degraded recall@1, @10"
        + (f" + {ARCHIVE_WEIGHT} x archive mean(P@1, P@10 x 2)" if len(archive) else ""),
        "columns": ["P@1", "label P@10", "recall@1", "recall@10"]
        + (["archive P@1", "archive label P@10"] if len(archive) else []),
        "archive_validation_items": int(len(archive) // 5) if len(archive) else 0,
        "scores": {str(k): [round(v, 4) for v in details[k]] for k in scores},
        "best": list(best),
    }


def score_fusion_grid(
    view_feats: np.ndarray,
    clean: np.ndarray,
    targets: dict[str, np.ndarray],
    config: HybridConfig,
    held_out: tuple,
    grid: list[tuple[float, ...]],
    progress: str = "",
    head_inputs: np.ndarray | ProjectedViews | None = None,
) -> dict[tuple[float, ...], tuple[float, ...]]:
    """Per fusion weighting in ``grid``: (P@1, label P@10, degraded-copy recall@1, @10)
    of the validation rows, with a head trained without their labels.

    Args:
        view_feats, clean: the cached views and their clean view as float32.
        held_out: (validation rows, gallery rows, duplicate group per row, label arrays
            for :func:`label_precision`[, held-out archive rows, which query the gallery
            too: two more values per weighting, their P@1 and label P@10]).
        progress: description of a progress bar (none when empty).
        head_inputs: what the head trains on (default ``view_feats``; see
            :func:`~lookalike.encoders.hybrid.head.train_head`).
    """
    val, gallery, groups, label_sets = held_out[:4]
    archive_val = held_out[4] if len(held_out) > 4 else np.zeros(0, np.int64)
    hidden = hide_labels(targets, np.concatenate([val, archive_val]))
    head_config = dataclasses.replace(config, epochs=config.tune_epochs or config.epochs)
    inputs = view_feats if head_inputs is None else head_inputs
    head = train_head(inputs, hidden, head_config, bool(progress), f"{progress}: head")
    params = head_to_numpy(head)
    parts = fusion_parts(params, *split_parts(clean, config), config)
    # Degraded copies of the validation items (one augmented view each) must still find
    # their item: without this term the tuning drops the instance-level parts and the
    # embedding stops telling apart two items of the same type and colour.
    degraded_view = 2 + np.arange(len(val)) % max(1, view_feats.shape[1] - 2)
    degraded = view_feats[val, np.minimum(degraded_view, view_feats.shape[1] - 1)]
    degraded_parts = fusion_parts(params, *split_parts(degraded, config), config)
    # Every weighting's distances are a weighted sum of these per-part ones: one GEMM per
    # part here instead of an exact kNN over the fused ~10k dims per weighting.
    queries = np.concatenate([val, archive_val])
    label_d2 = part_sq_distances([p[queries] for p in parts], [p[gallery] for p in parts])
    degraded_d2 = part_sq_distances(degraded_parts, parts)
    depth = label_search_depth(gallery, 10, groups)
    details = {}
    for weights in tqdm(grid, desc=progress, unit="mix", disable=not progress):
        found = gallery[smallest_per_row(fused_sq_distances(label_d2, weights), depth)]
        details[weights] = (
            *label_precision_of_ranking(found[: len(val)], val, label_sets, 10, groups),
            *target_recall(fused_sq_distances(degraded_d2, weights), val, groups, (1, 10)),
        )
        if len(archive_val):
            details[weights] += label_precision_of_ranking(
                found[len(val) :], archive_val, label_sets, 10, groups
            )
    return details


def target_recall(
    d2: np.ndarray, targets: np.ndarray, groups: np.ndarray, ks: tuple[int, ...]
) -> tuple[float, ...]:
    """Per k, the share of rows of ``d2`` (distances to every gallery row) whose target
    ranks within the first k, any row of the target's group (byte-identical copies) counting
    as it: :func:`lookalike.evaluation.instance_recall` with groups, without the search.
    A row outside the group at the same distance as the group's nearest ranks after it."""
    in_group = groups[None, :] == groups[targets][:, None]
    group_d2 = np.where(in_group, d2, np.inf).min(axis=1, keepdims=True)
    rank = ((d2 < group_d2) & ~in_group).sum(axis=1)
    return tuple(float((rank < k).mean()) for k in ks)
