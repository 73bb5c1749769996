"""lookalike.encoders.hybrid.tuning: the held-out validation fifths."""

from __future__ import annotations

import numpy as np

from lookalike.encoders.hybrid.tuning import hide_labels, validation_fifth


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
