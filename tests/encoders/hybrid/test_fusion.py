"""lookalike.encoders.hybrid.fusion: parts and their weighting."""

from __future__ import annotations

import numpy as np

from lookalike.encoders.hybrid.config import FUSION_PARTS, HybridConfig
from lookalike.encoders.hybrid.fusion import fuse, fusion_parts
from tests.tolerances import approx


def test_fuse_scales_and_drops_zero_weight_parts():
    a, b = np.ones((2, 3), np.float32), np.ones((2, 2), np.float32)
    fused = fuse([a, b], (2.0, 0.0))
    assert fused.shape == (2, 3) and float(fused[0, 0]) == approx(2.0)


def test_fusion_parts_follow_the_weights_and_skip_a_missing_instance_output():
    descriptor = np.ones((3, 1280 + 8), np.float32)
    colour = np.ones((3, 4), np.float32)
    parts = fusion_parts(None, descriptor, colour, HybridConfig())
    assert [p.shape[1] for p in parts] == [0, 4, 1280, 0, 0]
    weights = (0.0, 0.0, 1.0, 0.0, 1.0)
    assert len(weights) == len(FUSION_PARTS)
    assert fuse(parts, weights).shape == (3, 1280)
    # Four stored weights (bundles from before the instance output) get a zero fifth.
    assert HybridConfig(weights=(1, 0, 0.25, 1)).weights == (1.0, 0.0, 0.25, 1.0, 0.0)


def test_fused_distances_are_the_weighted_sum_of_per_part_distances():
    from lookalike.encoders.hybrid.fusion import fused_sq_distances, part_sq_distances

    rng = np.random.default_rng(0)
    widths = [5, 0, 7, 3, 4]  # an empty part, as without an instance output
    gallery = [rng.normal(size=(30, w)).astype(np.float32) for w in widths]
    queries = [rng.normal(size=(6, w)).astype(np.float32) for w in widths]
    part_d2 = part_sq_distances(queries, gallery)
    assert part_d2.shape == (5, 6, 30) and (part_d2 >= 0).all()
    for weights in [(1.0, 0.5, 0.25, 0.0, 2.0), (0.0, 1.0, 1.0, 1.0, 0.0)]:
        a, b = fuse(queries, weights), fuse(gallery, weights)
        expected = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)
        np.testing.assert_allclose(
            fused_sq_distances(part_d2, weights), expected, rtol=1e-4, atol=1e-4
        )
