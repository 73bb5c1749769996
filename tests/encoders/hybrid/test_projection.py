"""lookalike.encoders.hybrid.projection: the head's input projection and its folding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lookalike.encoders.hybrid.config import HybridConfig
from lookalike.encoders.hybrid.head import head_outputs, head_to_numpy, train_head
from lookalike.encoders.hybrid.projection import (
    ProjectedViews,
    fold_projection,
    head_input_views,
    principal_directions,
    project_views,
)
from tests.encoders.hybrid.conftest import FAST


def planted_views(n: int = 200, views: int = 3, width: int = 40, rank: int = 4, seed: int = 0):
    """Views whose variance lies in a ``rank``-dim subspace (plus a little noise), and that
    subspace's orthonormal basis (rank, width)."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(width, rank)))[0].T
    codes = rng.normal(size=(n, views, rank)) * np.array([8.0, 6.0, 4.0, 2.0])[:rank]
    noise = 0.01 * rng.normal(size=(n, views, width))
    return (codes @ basis + noise + 3.0).astype(np.float16), basis


def test_principal_directions_are_orthonormal_and_span_the_planted_subspace():
    view_feats, basis = planted_views()
    mean, components = principal_directions(view_feats, 4, seed=0)
    assert mean.shape == (40,) and components.shape == (4, 40)
    assert mean.dtype == np.float32 and components.dtype == np.float32
    np.testing.assert_allclose(components @ components.T, np.eye(4), atol=1e-4)
    # Each planted direction lies inside the found span (its projection keeps its length).
    np.testing.assert_allclose(np.linalg.norm(basis @ components.T, axis=1), 1.0, atol=1e-3)
    # The mean is a sample's (12 rows): off by planted variance only, inside the subspace.
    offset = mean - 3.0
    np.testing.assert_allclose(offset - (offset @ basis.T) @ basis, 0.0, atol=0.05)


def test_principal_directions_are_seeded_and_never_more_than_the_sample_allows():
    view_feats, _ = planted_views(n=5, views=1)
    a = principal_directions(view_feats, 3, seed=1)
    b = principal_directions(view_feats, 3, seed=1)
    np.testing.assert_array_equal(a[1], b[1])
    # 5 rows, centred: at most 4 informative directions, whatever is asked.
    assert len(principal_directions(view_feats, 30, seed=0)[1]) <= 4


def test_project_views_is_the_centred_views_times_the_directions():
    view_feats, _ = planted_views(n=50)
    projected = project_views(view_feats, 4, seed=0)
    assert projected.features.shape == (50, 3, 4) and projected.features.dtype == np.float16
    assert projected.in_dim == 40
    expected = (view_feats.astype(np.float32) - projected.mean) @ projected.components.T
    # float16 storage: relative error 2^-11 of values up to ~30.
    np.testing.assert_allclose(projected.features, expected, atol=0.05)


def test_fold_projection_gives_the_layer_over_the_raw_views():
    view_feats, _ = planted_views(n=20, views=1)
    projected = project_views(view_feats, 4, seed=0)
    torch.manual_seed(0)
    layer = nn.Linear(4, 6)
    folded = fold_projection(layer, projected)
    assert folded.in_features == 40 and folded.out_features == 6
    raw = torch.from_numpy(view_feats[:, 0].astype(np.float32))
    small = torch.from_numpy(projected.features[:, 0].astype(np.float32))
    with torch.no_grad():
        np.testing.assert_allclose(folded(raw).numpy(), layer(small).numpy(), atol=0.02)


def test_a_head_trained_on_projected_views_reads_raw_views_and_learns_the_classes():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 48)) * 3
    labels = np.arange(90) % 3
    view_feats = (centres[labels][:, None] + rng.normal(size=(90, 2, 48))).astype(np.float16)
    config = HybridConfig(**{**FAST, "epochs": 30, "instance_dim": 0})
    projected = project_views(view_feats, 8, seed=0)

    head = head_to_numpy(train_head(projected, {"Type": labels}, config))

    assert head["w1"].shape == (FAST["hidden_dim"], 48)  # folded over the raw 48 dims
    z, _ = head_outputs(head, view_feats[:, 0].astype(np.float32))
    predicted = np.argmax(z @ head["class.Type"].T, axis=1)
    assert (predicted == labels).mean() >= 0.9


def test_head_input_dim_must_not_be_negative():
    with pytest.raises(ValueError, match="head_input_dim"):
        HybridConfig(head_input_dim=-1)
    assert isinstance(project_views(planted_views(n=10)[0], 2, 0), ProjectedViews)


def test_head_input_views_keeps_the_raw_views_when_nothing_is_to_project():
    view_feats, _ = planted_views(n=30)
    assert head_input_views(view_feats, 0, seed=0) is view_feats  # off
    assert head_input_views(view_feats, 40, seed=0) is view_feats  # not narrower
    assert isinstance(head_input_views(view_feats, 4, seed=0), ProjectedViews)
    same = np.ones((6, 2, 40), np.float16)  # every row alike: no direction varies
    assert len(principal_directions(same, 4, seed=0)[1]) == 0
    assert head_input_views(same, 4, seed=0) is same
