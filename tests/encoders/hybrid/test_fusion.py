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
