"""The head's input projection: cached views on their top principal directions.

The head's first layer maps ~9,600 backbone + colour dims to its hidden layer and is most of
a training step's cost. Trained on the views' top principal directions instead (a fixed,
unsupervised projection, fitted once per fit), each step is 3-4x cheaper, and the trained
layer folds back into one over the raw features (:func:`fold_projection`): the bundle, its
files and a query's cost are the same as without it. The tuning splits' heads train on it
by default (``tune_input_dim``); the bundle's own head on the raw views (``head_input_dim``
0: on photos of people it read lower, docs/performance.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

#: Sampled view rows per projected dim: the directions come from the eigenvectors of the
#: sample's (rows x rows) Gram matrix, whose cost grows with the cube of the rows.
ROWS_PER_DIM = 3
#: Items projected at a time: bounds the float32 copy of their views (1,024 items x 4 views x
#: 9,584 dims x 4 bytes = 157 MB).
CHUNK_ROWS = 1024


@dataclass
class ProjectedViews:
    """Views projected for the head's training.

    Attributes:
        features: float16 (n, views, dim), the projected views.
        mean: float32 (in_dim,), the views' mean the projection subtracts.
        components: float32 (dim, in_dim), orthonormal rows: the top principal directions.
    """

    features: np.ndarray
    mean: np.ndarray
    components: np.ndarray

    @property
    def in_dim(self) -> int:
        """Width of the raw views the projection reads."""
        return int(self.components.shape[1])


def principal_directions(
    view_feats: np.ndarray, dim: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and top ``dim`` principal directions of a seeded sample of the views' rows.

    Args:
        view_feats: (n, views, in_dim) numeric (float16 from the view cache).
        dim: directions wanted, >= 1; fewer come back when the sample has fewer rows.
        seed: fixes the sample (``ROWS_PER_DIM`` x dim rows over every view of every item).

    Returns:
        (float32 (in_dim,) mean, float32 (k, in_dim) orthonormal rows), k <= dim.
        Computed from the sample's Gram matrix (rows x rows): on a wide sample (3,072 x
        9,584) that is ~7 s on 2 cores, a numpy SVD ~30 s.
    """
    flat = view_feats.reshape(-1, view_feats.shape[-1])
    rng = np.random.default_rng(seed)
    size = min(len(flat), ROWS_PER_DIM * dim)
    rows = np.sort(rng.choice(len(flat), size=size, replace=False))
    sample = torch.from_numpy(np.asarray(flat[rows], np.float32))
    mean = sample.mean(0)
    sample -= mean
    eigenvalues, vectors = torch.linalg.eigh(sample @ sample.T)
    keep = min(dim, size - 1)
    eigenvalues, vectors = eigenvalues.flip(0)[:keep], vectors.flip(1)[:, :keep]
    # Directions of (near) zero variance would divide by ~0, and below ~1e-6 of the top one
    # a float32 Gram matrix's eigenvalues are rounding: keep the informative ones (none
    # when every sampled row is the same).
    top = float(eigenvalues[0]) if keep else 0.0
    keep = int((eigenvalues > top * 1e-6).sum()) if top > 0 else 0
    components = (sample.T @ vectors[:, :keep]) / eigenvalues[:keep].sqrt()
    return mean.numpy(), np.ascontiguousarray(components.T.numpy())


def project_views(view_feats: np.ndarray, dim: int, seed: int) -> ProjectedViews:
    """The views on their top ``dim`` principal directions (:func:`principal_directions`),
    projected ``CHUNK_ROWS`` items at a time into float16 (memory: n x views x dim x 2 bytes
    beside the raw views)."""
    mean, components = principal_directions(view_feats, dim, seed)
    n, views, _ = view_feats.shape
    out = np.empty((n, views, len(components)), np.float16)
    c, m = torch.from_numpy(components), torch.from_numpy(mean)
    for start in range(0, n, CHUNK_ROWS):
        chunk = torch.from_numpy(np.asarray(view_feats[start : start + CHUNK_ROWS], np.float32))
        out[start : start + CHUNK_ROWS] = ((chunk - m) @ c.T).numpy()
    return ProjectedViews(out, mean, components)


def head_input_views(view_feats: np.ndarray, dim: int, seed: int) -> np.ndarray | ProjectedViews:
    """What a head trains on: ``view_feats`` projected on ``dim`` principal directions
    (:func:`project_views`), or ``view_feats`` themselves when ``dim`` is 0, not below their
    width, or when the views vary in no direction."""
    if 0 < dim < view_feats.shape[2]:
        projected = project_views(view_feats, dim, seed)
        if projected.features.shape[2]:
            return projected
    return view_feats


def fold_projection(layer: nn.Linear, projected: ProjectedViews) -> nn.Linear:
    """A linear layer over the raw views equal to ``layer`` after the projection:
    ``W' = W C`` and ``b' = b - W C mean`` (float64 products, float32 result)."""
    weight = layer.weight.detach().double() @ torch.from_numpy(projected.components).double()
    bias = layer.bias.detach().double() - weight @ torch.from_numpy(projected.mean).double()
    folded = nn.Linear(projected.in_dim, layer.out_features)
    with torch.no_grad():
        folded.weight.copy_(weight.float())
        folded.bias.copy_(bias.float())
    return folded
