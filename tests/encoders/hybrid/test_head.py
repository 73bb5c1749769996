"""lookalike.encoders.hybrid.head: label encoding, class probabilities, head training."""

from __future__ import annotations

import numpy as np

from lookalike.encoders.hybrid.config import HybridConfig
from lookalike.encoders.hybrid.head import (
    class_probabilities,
    encode_label_columns,
    head_outputs,
    head_to_numpy,
    train_head,
)
from tests.encoders.hybrid.conftest import FAST


def test_encode_label_columns_marks_unknown_and_skips_single_class_columns():
    encoded = encode_label_columns({"Type": ["a", "b", "", "a"], "Only": ["x", "x", "x", "x"]})
    assert list(encoded) == ["Type"]
    targets, classes = encoded["Type"]
    assert classes == ["a", "b"] and targets.tolist() == [0, 1, -1, 0]


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


def test_instance_output_learns_to_find_each_item_among_its_noisy_views():
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


def test_partial_labels_name_their_classes_and_teach_one_of_them():
    import numpy as np

    from lookalike.encoders.hybrid.head import encode_label_columns, partial_label_sets

    values = ["A", "B", "B;C", "", "A;C"]
    [(index, classes)] = encode_label_columns({"T": values}).values()
    assert classes == ["A", "B", "C"] and index.tolist() == [0, 1, -1, -1, -1]
    rows, allowed = partial_label_sets(values, classes)
    assert rows.tolist() == [2, 4]
    assert allowed.tolist() == [[False, True, True], [True, False, True]]
    assert partial_label_sets(["A", "B"], ["A", "B"])[0].shape == (0,)
    assert np.asarray(allowed).dtype == bool


def test_bf16_head_precision_learns_like_fp32_and_bad_names_are_refused():
    import contextlib

    import pytest

    from lookalike.encoders.hybrid.head import cpu_has_bf16, head_autocast

    rng = np.random.default_rng(0)
    items = rng.normal(size=(64, 1, 24)).astype(np.float32)
    views = items + 0.3 * rng.normal(size=(64, 4, 24)).astype(np.float32)
    targets = {"Type": (items[:, 0, 0] > 0).astype(np.int64)}  # a label the features carry
    accuracy = {}
    for precision in ("fp32", "bf16"):
        config = HybridConfig(**{**FAST, "epochs": 40, "head_precision": precision})
        head = head_to_numpy(train_head(views, targets, config))
        scores = head_outputs(head, views[:, 0])[0] @ head["class.Type"].T
        accuracy[precision] = float((scores.argmax(1) == targets["Type"]).mean())
    assert accuracy["fp32"] >= 0.9 and accuracy["bf16"] >= 0.9
    assert isinstance(head_autocast("fp32", "cpu"), contextlib.nullcontext)
    if not cpu_has_bf16():
        assert isinstance(head_autocast("bf16", "cpu"), contextlib.nullcontext)
    with pytest.raises(ValueError, match="head_precision"):
        HybridConfig(head_precision="fp16")
