"""lookalike.encoders.hybrid.tuning: the held-out validation fifths."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.encoders.hybrid.tuning import hide_labels, validation_fifth
from tests.tolerances import approx


def test_validation_fifths_are_disjoint_seeded_and_hiding_labels_copies():
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


def test_archive_rows_train_but_a_fifth_of_them_is_scored_against_the_catalog(monkeypatch):
    from lookalike.encoders.hybrid import tuning
    from lookalike.encoders.hybrid.config import HybridConfig

    seen = []

    def fake_grid(view_feats, clean, targets, config, held_out, grid, progress="", inputs=None):
        val, gallery, _, _, archive_val = held_out
        seen.append((val, gallery, archive_val))
        # the archive's P@1 / label P@10 favour the mix with the highest colour weight
        return {w: (0.5, 0.5, 0.9, 0.9, w[1], w[1]) for w in grid}

    monkeypatch.setattr(tuning, "score_fusion_grid", fake_grid)
    features = np.zeros((60, 3, 8 + 8**3), np.float16)
    targets = {"ProductType": np.arange(60) % 3}
    config = HybridConfig(tune_splits=2)

    best, info = tuning.tune_fusion_weights(features, targets, config, False, n_catalog=50)

    for val, gallery, archive_val in seen:
        assert (val < 50).all() and (gallery < 50).all() and len(gallery) == 50
        assert len(archive_val) == 2 and (archive_val >= 50).all()
    assert best[1] == approx(1.0) and "archive P@1" in info["columns"]
    # Without archive rows the score and its columns are as before.
    catalog_only = {"ProductType": targets["ProductType"][:50]}
    _, plain = tuning.tune_fusion_weights(features[:50], catalog_only, config, False)
    assert plain["columns"] == ["P@1", "label P@10", "recall@1", "recall@10"]


def test_tuning_scores_a_bounded_sample_of_a_large_catalog(monkeypatch):
    from lookalike.encoders.hybrid import tuning
    from lookalike.encoders.hybrid.config import HybridConfig

    seen = []

    def fake_grid(view_feats, clean, targets, config, held_out, grid, progress="", inputs=None):
        val, gallery = held_out[0], held_out[1]
        seen.append((val, gallery))
        return {w: (0.5, 0.5, 0.9, 0.9) for w in grid}

    monkeypatch.setattr(tuning, "score_fusion_grid", fake_grid)
    features = np.zeros((300, 3, 8 + 8**3), np.float16)
    targets = {"ProductType": np.arange(300) % 3}
    # 300 labelled items, at most 100 scored: each split's gallery is the same seeded sample.
    tuning.tune_fusion_weights(features, targets, HybridConfig(tune_max_items=100), False)
    first, second = seen
    assert len(first[1]) == 100 and np.array_equal(first[1], second[1])
    assert len(first[0]) == 20 and np.isin(first[0], first[1]).all()
    assert np.array_equal(tuning.tuning_sample(np.arange(50), 100, seed=0), np.arange(50))
    sample = tuning.tuning_sample(np.arange(1000), 100, seed=0)
    assert len(np.unique(sample)) == 100 and (np.diff(sample) > 0).all()
    assert not np.array_equal(sample, tuning.tuning_sample(np.arange(1000), 100, seed=1))


def test_grid_scores_from_per_part_distances_match_a_kNN_per_weighting(monkeypatch):
    """score_fusion_grid's weighted per-part distances give the scores that fusing each
    weighting and searching it exactly gives (label precision, degraded-copy recall)."""
    from lookalike.encoders.hybrid import tuning
    from lookalike.encoders.hybrid.config import HybridConfig
    from lookalike.encoders.hybrid.fusion import fuse
    from lookalike.evaluation import instance_recall, label_precision

    rng = np.random.default_rng(3)
    n, widths = 80, [4, 6, 5, 3, 4]
    # Parts of every row are a function of its clean / degraded view's first value, so the
    # stubbed head below gives each view its own random parts; rows 1 and 2 are duplicates.
    table = {}

    def fake_parts(params, descriptor, colour, config):
        keys = descriptor[:, 0].round(3)
        for key in keys:
            table.setdefault(key, [rng.normal(size=w).astype(np.float32) for w in widths])
        return [np.stack([table[key][p] for key in keys]) for p in range(len(widths))]

    monkeypatch.setattr(tuning, "train_head", lambda *a, **k: None)
    monkeypatch.setattr(tuning, "head_to_numpy", lambda head: {})
    monkeypatch.setattr(tuning, "fusion_parts", fake_parts)
    config = HybridConfig(colour_bins=2)
    views = np.zeros((n, 3, 3 + 8), np.float32)
    views[:, :, 0] = np.arange(n * 3).reshape(n, 3)
    views[2] = views[1]
    targets = {"ProductType": rng.integers(0, 3, n), "Colour": rng.integers(0, 2, n)}
    groups = np.arange(n)
    groups[2] = 1
    labelled, val, archive_val = np.arange(60), np.arange(1, 60, 5), np.arange(60, 70)
    label_sets = [targets["ProductType"], targets["Colour"]]
    grid = [(1.0, 0.0, 0.5, 1.0, 0.0), (1.0, 1.0, 0.25, 0.0, 1.0), (0.0, 0.5, 1.0, 2.0, 0.5)]
    held_out = (val, labelled, groups, label_sets, archive_val)

    details = tuning.score_fusion_grid(views, views[:, 0], targets, config, held_out, grid)

    parts = fake_parts(None, views[:, 0], None, config)
    degraded = fake_parts(None, views[val, 2], None, config)
    for weights in grid:
        embeddings = fuse(parts, weights)
        expected = (
            *label_precision(embeddings, val, labelled, label_sets, 10, groups),
            *instance_recall(fuse(degraded, weights), embeddings, val, groups=groups),
            *label_precision(embeddings, archive_val, labelled, label_sets, 10, groups),
        )
        assert details[weights] == approx(expected)


@pytest.mark.parametrize(("tune_epochs", "expected"), [(20, 20), (0, 40)])
def test_tuning_heads_train_tune_epochs_and_the_bundle_head_epochs(
    monkeypatch, tune_epochs, expected
):
    from lookalike.encoders.hybrid import tuning
    from lookalike.encoders.hybrid.config import HybridConfig

    seen = []

    def stop(features, targets, config, *args, **kwargs):
        seen.append(config.epochs)
        raise StopIteration

    monkeypatch.setattr(tuning, "train_head", stop)
    config = HybridConfig(epochs=40, tune_epochs=tune_epochs)
    held_out = (np.arange(2), np.arange(10), np.arange(10), [np.zeros(10, int)])
    with pytest.raises(StopIteration):
        tuning.score_fusion_grid(np.zeros((10, 2, 4)), None, {}, config, held_out, [])
    assert seen == [expected] and config.epochs == 40
    with pytest.raises(ValueError, match="tune_epochs"):
        HybridConfig(tune_epochs=-1)
