"""Backbone poolings: the descriptor layout, the block normalisation, the graphs behind them."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.encoders.pooling import (
    LAST_CHANNELS,
    MID_CHANNELS,
    POOLINGS,
    describe,
    get_pooling,
    map_means,
    normalize_blocks,
)


def test_map_means_gives_the_average_and_the_quarters_in_cell_major_order():
    maps = np.zeros((1, 2, 4, 4), np.float32)
    maps[0, 0, :2, 2:] = 1.0  # channel 0 lives in the top-right quarter
    maps[0, 1, 2:, :2] = 3.0  # channel 1 in the bottom-left
    average, grid = map_means(maps)
    np.testing.assert_allclose(average, [[0.25, 0.75]])
    cells = grid.reshape(4, 2)  # (cell, channel)
    np.testing.assert_allclose(cells[:, 0], [0, 1, 0, 0])
    np.testing.assert_allclose(cells[:, 1], [0, 0, 3, 0])
    # Odd sides still give four non-empty cells that cover the map.
    odd = map_means(np.ones((2, 3, 7, 7), np.float32))[1]
    assert odd.shape == (2, 12) and np.allclose(odd, 1.0)


def test_multi_descriptor_layout_and_pool_values():
    rng = np.random.default_rng(0)
    maps = rng.uniform(0, 2, (3, LAST_CHANNELS, 4, 4)).astype(np.float32)
    mid = rng.uniform(0, 1, (3, MID_CHANNELS)).astype(np.float32)
    pooling = get_pooling("multi")
    out = describe(pooling, [maps, mid])
    assert out.shape == (3, pooling.dim) == (3, 7 * LAST_CHANNELS + MID_CHANNELS)
    c = LAST_CHANNELS
    np.testing.assert_allclose(out[:, :c], maps.mean(axis=(2, 3)), rtol=1e-5)
    np.testing.assert_allclose(out[:, 2 * c : 3 * c], maps.max(axis=(2, 3)), rtol=1e-5)
    np.testing.assert_allclose(out[:, -MID_CHANNELS:], mid)
    # GeM (p=3) lies between the average and the max.
    gem = out[:, c : 2 * c]
    assert (gem >= out[:, :c] - 1e-5).all() and (gem <= out[:, 2 * c : 3 * c] + 1e-5).all()


def test_normalize_blocks_gives_each_block_unit_length():
    pooling = get_pooling("multi")
    features = np.random.default_rng(1).uniform(0, 5, (2, pooling.dim)).astype(np.float32)
    out = normalize_blocks(features, pooling)
    start = 0
    for _, width, cells in pooling.blocks:
        block = out[:, start : start + width * cells]
        np.testing.assert_allclose(np.linalg.norm(block, axis=1), 1.0, atol=1e-5)
        start += width * cells
    assert start == pooling.dim
    plain = get_pooling("avg")
    np.testing.assert_allclose(
        np.linalg.norm(normalize_blocks(features[:, :LAST_CHANNELS], plain), axis=1), 1.0, atol=1e-5
    )


def test_unknown_pooling_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown backbone pooling 'nope'"):
        get_pooling("nope")
    assert set(POOLINGS) == {"avg", "multi"}


def test_multi_backbone_onnx_matches_pytorch_and_has_its_own_file(tmp_path):
    from lookalike.encoders.pretrained import BackboneRunner, backbone_file

    assert backbone_file(tmp_path, "int8", "multi").name == "backbone-multi-int8.onnx"
    assert backbone_file(tmp_path, "fp32").name == "backbone.onnx"  # old bundles' names
    images = np.full((2, 64, 64, 3), 255, np.uint8)
    images[0, 10:50, 20:40] = (200, 30, 30)
    images[1, 5:30, 5:60] = (20, 20, 90)
    onnx = BackboneRunner(
        backbone_file(tmp_path, "fp32", "multi"), input_size=64, writable=True, pooling="multi"
    )
    eager = BackboneRunner(None, input_size=64, pooling="multi")
    assert onnx.session is not None and onnx.dim == get_pooling("multi").dim
    np.testing.assert_allclose(onnx(images), eager(images), rtol=1e-3, atol=1e-3)
