"""lookalike.encoders.hybrid.config: options, fusion part names, what old bundles lack."""

from __future__ import annotations

import dataclasses

from lookalike.encoders.hybrid.config import FUSION_PARTS, HYBRID_LEGACY_OPTIONS, HybridConfig


def test_default_weights_name_every_fusion_part_and_short_ones_are_padded():
    assert len(HybridConfig().weights) == len(FUSION_PARTS) == 5
    # Three stored weights (bundles from before class probabilities) get zeros after them.
    assert HybridConfig(weights=(1, 0.5, 0.25)).weights == (1.0, 0.5, 0.25, 0.0, 0.0)


def test_legacy_options_are_hybrid_options():
    fields = {f.name for f in dataclasses.fields(HybridConfig)}
    assert set(HYBRID_LEGACY_OPTIONS) <= fields
    old = HybridConfig(**HYBRID_LEGACY_OPTIONS)
    assert old.pca_dim == 0 and old.instance_dim == 0 and old.pooling == "avg"
    assert old.class_column_weights == {"Colour": 1.0, "ProductType": 1.0}
