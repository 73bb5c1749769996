"""lookalike.encoders.hybrid: every name the single-module hybrid had stays importable."""

from __future__ import annotations

import importlib

import lookalike.encoders.hybrid as hybrid
from lookalike import evaluation
from lookalike.encoders import encoder_class

# Where each public name of the former lookalike/encoders/hybrid.py lives now.
HOMES = {
    "colour": ["WHITE", "colour_histogram"],
    "config": ["FUSION_PARTS", "HYBRID_LEGACY_OPTIONS", "PCA_MIN_ITEMS_PER_DIM", "HybridConfig"],
    "encoder": ["HybridEncoder"],
    "fusion": ["fuse", "fusion_parts", "split_parts"],
    "head": [
        "Head",
        "class_probabilities",
        "encode_label_columns",
        "head_outputs",
        "head_to_numpy",
        "instance_contrastive",
        "train_head",
    ],
    "tuning": ["INSTANCE_WEIGHT", "hide_labels", "validation_fifth"],
}


def test_old_names_are_the_new_modules_objects():
    for module, names in HOMES.items():
        home = importlib.import_module(f"lookalike.encoders.hybrid.{module}")
        for name in names:
            assert getattr(hybrid, name) is getattr(home, name), name
            assert name in hybrid.__all__


def test_metrics_come_from_evaluation():
    assert hybrid.instance_recall is evaluation.instance_recall
    assert hybrid.label_precision is evaluation.label_precision


def test_the_registry_finds_the_hybrid_encoder():
    assert encoder_class("hybrid") is hybrid.HybridEncoder
