"""The hybrid encoder: colour features, head training in both modes, fusion, persistence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lookalike.encoders.base import TrainingData, load_encoder
from lookalike.encoders.hybrid import (
    HybridConfig,
    HybridEncoder,
    class_probabilities,
    colour_histogram,
    encode_label_columns,
    fuse,
)

FAST = dict(input_size=224, views=1, epochs=3, batch_size=16, hidden_dim=32, head_dim=16)


def solid(colour, size=32):
    image = np.full((size, size, 3), 255, np.uint8)
    image[8:24, 8:24] = colour
    return image


def test_colour_histogram_ignores_white_background_and_separates_colours():
    red, red_big, blue = (
        solid((200, 20, 20)),
        np.full((32, 32, 3), (200, 20, 20), np.uint8),
        solid((20, 20, 200)),
    )
    hist = colour_histogram(np.stack([red, red_big, blue]), bins=4)
    assert hist.shape == (3, 64)
    np.testing.assert_allclose(np.linalg.norm(hist, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(hist[0], hist[1], atol=1e-6)  # background is not counted
    assert float(hist[0] @ hist[2]) < 0.01


def test_encode_label_columns_marks_unknown_and_skips_single_class_columns():
    encoded = encode_label_columns({"Type": ["a", "b", "", "a"], "Only": ["x", "x", "x", "x"]})
    assert list(encoded) == ["Type"]
    targets, classes = encoded["Type"]
    assert classes == ["a", "b"] and targets.tolist() == [0, 1, -1, 0]


def test_fuse_scales_and_drops_zero_weight_parts():
    a, b = np.ones((2, 3), np.float32), np.ones((2, 2), np.float32)
    fused = fuse([a, b], (2.0, 0.0))
    assert fused.shape == (2, 3) and float(fused[0, 0]) == 2.0


def test_class_probabilities_are_unit_length_per_row():
    params = {"class.Type": np.eye(4, dtype=np.float32)[:3], "w1": np.zeros((1, 1))}
    probs = class_probabilities(params, np.eye(4, dtype=np.float32)[:2], 0.1)
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(np.linalg.norm(probs, axis=1), 1.0, atol=1e-6)
    assert probs[0].argmax() == 0 and probs[1].argmax() == 1


def test_class_column_weights_set_each_columns_share_of_the_class_part():
    eye = np.eye(4, dtype=np.float32)
    z, params = eye[:2], {"class.Colour": eye[:2], "class.Type": eye[:3]}
    even = class_probabilities(params, z, 0.1)
    weighted = class_probabilities(params, z, 0.1, {"Type": 3.0})
    # Columns are concatenated in sorted order: Colour (2 classes), then Type (3).
    np.testing.assert_allclose((even[:, :2] ** 2).sum(axis=1), 0.5, atol=1e-6)
    np.testing.assert_allclose((weighted[:, 2:] ** 2).sum(axis=1), 9 / 10, atol=1e-6)
    config = HybridConfig(primary_label="Type", primary_class_weight=3.0, colour_class_weight=2.0)
    assert config.class_column_weights == {"Type": 3.0, "Colour": 2.0}


@pytest.fixture(scope="module")
def tiny_images(tiny_catalog):
    from lookalike.catalog import read_catalog
    from lookalike.imaging import load_images

    catalog = read_catalog(tiny_catalog)
    batch = load_images([item.path for item in catalog.items], 224)
    return catalog, batch.images


def test_supervised_fit_learns_labels_and_round_trips(tmp_path, tiny_images):
    catalog, images = tiny_images
    labels = {
        "ProductType": [item.metadata["ProductType"] for item in catalog.items],
        "Colour": [item.metadata["Colour"] for item in catalog.items],
    }
    encoder = HybridEncoder.fit(
        TrainingData(images, labels, tmp_path, progress=False), HybridConfig(**FAST)
    )
    assert encoder.mode == "supervised"
    tuning = json.loads((tmp_path / "hybrid" / "tuning.json").read_text())
    assert tuning["mode"] == "supervised" and len(tuning["best"]) == 5
    assert len(encoder.cfg.weights) == 5 and "w3" in encoder.head
    vectors = encoder.encode(images)
    assert vectors.shape == (len(images), encoder.dim) and np.isfinite(vectors).all()
    encoder.save(tmp_path / "saved")
    loaded = load_encoder(tmp_path / "saved")
    assert loaded.mode == "supervised" and loaded.dim == encoder.dim
    np.testing.assert_allclose(loaded.encode(images), vectors, atol=1e-4)
    # The views are cached: a second fit reuses them (no new cache file appears).
    caches = sorted((tmp_path / "hybrid").glob("views-*.npy"))
    HybridEncoder.fit(TrainingData(images, labels, tmp_path, progress=False), HybridConfig(**FAST))
    assert sorted((tmp_path / "hybrid").glob("views-*.npy")) == caches


def test_without_labels_falls_back_to_self_supervised(tmp_path, tiny_images):
    _, images = tiny_images
    encoder = HybridEncoder.fit(
        TrainingData(images, {}, tmp_path, progress=False), HybridConfig(**FAST)
    )
    assert encoder.mode == "self-supervised"
    vectors = encoder.encode(images[:4])
    assert vectors.shape == (4, encoder.dim)


def test_pca_projects_big_enough_catalogs_and_round_trips(tmp_path, tiny_images):
    _, images = tiny_images
    n = len(images)
    small = HybridConfig(**{**FAST, "pca_dim": n // 4})  # n >= 4 x dims: projected
    encoder = HybridEncoder.fit(TrainingData(images, {}, tmp_path, progress=False), small)
    vectors = encoder.encode(images)
    assert encoder.dim == n // 4 and vectors.shape == (n, n // 4)
    # The projection keeps who is near whom: each image's nearest neighbour by the full
    # fused embedding is mostly still among its 3 nearest after projecting.
    full = encoder.fused(*encoder.parts(images))

    def nearest(x):
        d = ((x[:, None] - x[None]) ** 2).sum(-1)
        np.fill_diagonal(d, np.inf)
        return np.argsort(d, axis=1)

    kept = np.mean([a[0] in b[:3] for a, b in zip(nearest(full), nearest(vectors), strict=True)])
    assert kept >= 0.8, kept
    encoder.save(tmp_path / "saved")
    assert (tmp_path / "saved" / "pca.safetensors").is_file()
    np.testing.assert_allclose(load_encoder(tmp_path / "saved").encode(images), vectors, atol=1e-4)
    # Too few items for the dims asked: every dimension is kept, no projection saved.
    big = HybridConfig(**{**FAST, "pca_dim": n // 2})
    unprojected = HybridEncoder.fit(TrainingData(images, {}, tmp_path, progress=False), big)
    assert unprojected.pca is None and unprojected.dim == full.shape[1]


def test_label_precision_skips_the_query_group_and_counts_only_the_gallery():
    from lookalike.encoders.hybrid import label_precision

    # Rows 0 and 1 are byte-identical copies (group 0); row 2 shares 0's label, row 3 does not.
    embeddings = np.array([[0.0], [0.0], [1.0], [0.5]], np.float32)
    labels = [np.array([7, 7, 7, 9])]
    groups = np.array([0, 0, 1, 2])
    everything, query = np.arange(4), np.array([0])
    # Without groups, the copy (row 1) is the free nearest hit; with them row 3 comes first.
    assert label_precision(embeddings, query, everything, labels, k=1) == (1.0, 1.0)
    assert label_precision(embeddings, query, everything, labels, k=1, groups=groups) == (0, 0)
    # A gallery without row 3 (say its label is hidden) leaves row 2, a hit.
    gallery = np.array([0, 1, 2])
    assert label_precision(embeddings, query, gallery, labels, k=1, groups=groups) == (1.0, 1.0)
    # P@1 is the first neighbour's label; P@k the share over k, jointly with a second array.
    colours = np.array([1, 1, 2, 1])
    first, joint = label_precision(embeddings, query, everything, [labels[0], colours], 2, groups)
    assert first == 0.0 and joint == (0.5 + 0.0) / 2


def test_hybrid_bundles_from_before_pooling_load_with_the_plain_average(tmp_path, tiny_images):
    _, images = tiny_images
    old = {
        "pooling": "avg",
        "precision": "fp32",
        "pca_dim": 0,
        "colour_centre_sigma": 0.0,
        "instance_dim": 0,
        "primary_class_weight": 1.0,
        "colour_class_weight": 1.0,
    }
    config = HybridConfig(**{**FAST, **old})
    encoder = HybridEncoder.fit(TrainingData(images, {}, tmp_path, progress=False), config)
    encoder.save(tmp_path / "saved")
    assert (tmp_path / "saved" / "backbone.onnx").is_file()
    payload = json.loads((tmp_path / "saved" / "encoder.json").read_text())
    for option in old:
        del payload["config"][option]  # what an old encoder.json lacks
    payload["config"]["weights"] = payload["config"]["weights"][:4]
    (tmp_path / "saved" / "encoder.json").write_text(json.dumps(payload))
    loaded = load_encoder(tmp_path / "saved")
    assert loaded.cfg.pooling == "avg" and loaded.cfg.precision == "fp32"
    assert loaded.cfg.instance_dim == 0 and len(loaded.cfg.weights) == 5
    assert loaded.cfg.class_column_weights == {"Colour": 1.0, "ProductType": 1.0}
    np.testing.assert_allclose(loaded.encode(images[:3]), encoder.encode(images[:3]), atol=1e-4)


def test_instance_recall_counts_the_target_within_each_cut():
    from lookalike.encoders.hybrid import instance_recall

    gallery = np.array([[0.0], [1.0], [2.0], [3.0]], np.float32)
    queries = np.array([[0.1], [1.2], [2.9]], np.float32)
    # Query 0 finds row 0 first; query 1's target (row 2) is its 2nd; query 2's (row 0) 4th.
    targets = np.array([0, 2, 0])
    assert instance_recall(queries, gallery, targets, ks=(1, 2, 4)) == (1 / 3, 2 / 3, 1.0)
    # With groups, any row of the target's group is a hit: rows 0 and 1 are one group, so
    # query 2 hits at its 3rd neighbour (row 1) instead of its 4th.
    groups = np.array([0, 0, 1, 2])
    assert instance_recall(queries, gallery, targets, ks=(3,)) == (2 / 3,)
    assert instance_recall(queries, gallery, targets, (1, 2, 3), groups) == (1 / 3, 2 / 3, 1.0)


def test_instance_output_learns_to_find_each_item_among_its_noisy_views():
    from lookalike.encoders.hybrid import head_outputs, head_to_numpy, train_head

    rng = np.random.default_rng(0)
    items = rng.normal(size=(64, 1, 24)).astype(np.float32)
    views = items + 0.3 * rng.normal(size=(64, 4, 24)).astype(np.float32)
    config = HybridConfig(**{**FAST, "epochs": 60, "instance_dim": 8, "contrastive_weight": 0})
    targets = {"Type": np.arange(64) % 2}  # a label that says nothing about the item
    head = head_to_numpy(train_head(views, targets, config))
    clean, instance = head_outputs(head, views[:, 0])
    noisy = head_outputs(head, views[:, 3])[1]
    assert clean.shape == (64, 16) and instance.shape == (64, 8)
    np.testing.assert_allclose(np.linalg.norm(instance, axis=1), 1.0, atol=1e-5)
    found = np.argmax(noisy @ instance.T, axis=1)
    assert (found == np.arange(64)).mean() >= 0.8
    # Without an instance output (bundles from before it) the part is empty.
    plain = head_to_numpy(train_head(views, targets, HybridConfig(**{**FAST, "instance_dim": 0})))
    assert "w3" not in plain and head_outputs(plain, views[:, 0])[1].shape == (64, 0)


def test_fusion_parts_follow_the_weights_and_skip_a_missing_instance_output():
    from lookalike.encoders.hybrid import FUSION_PARTS, fusion_parts

    descriptor = np.ones((3, 1280 + 8), np.float32)
    colour = np.ones((3, 4), np.float32)
    parts = fusion_parts(None, descriptor, colour, HybridConfig())
    assert [p.shape[1] for p in parts] == [0, 4, 1280, 0, 0]
    weights = (0.0, 0.0, 1.0, 0.0, 1.0)
    assert len(weights) == len(FUSION_PARTS)
    assert fuse(parts, weights).shape == (3, 1280)
    # Four stored weights (bundles from before the instance output) get a zero fifth.
    assert HybridConfig(weights=(1, 0, 0.25, 1)).weights == (1.0, 0.0, 0.25, 1.0, 0.0)


def test_validation_fifths_are_disjoint_seeded_and_hiding_labels_copies():
    from lookalike.encoders.hybrid import hide_labels, validation_fifth

    labelled = np.arange(3, 53)  # 50 labelled rows
    fifths = [validation_fifth(labelled, seed=1, split=s) for s in range(5)]
    assert all(len(f) == 10 and (np.diff(f) > 0).all() for f in fifths)
    assert sorted(np.concatenate(fifths).tolist()) == labelled.tolist()
    np.testing.assert_array_equal(fifths[0], validation_fifth(labelled, seed=1))
    assert not np.array_equal(fifths[0], validation_fifth(labelled, seed=2))
    targets = {"Type": np.arange(60) % 3}
    hidden = hide_labels(targets, fifths[0])
    assert (hidden["Type"][fifths[0]] == -1).all() and (targets["Type"] >= 0).all()
    rest = np.setdiff1d(np.arange(60), fifths[0])
    np.testing.assert_array_equal(hidden["Type"][rest], targets["Type"][rest])
