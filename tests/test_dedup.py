"""lookalike.dedup: exact-duplicate groups and near-duplicate pairs (what `find_duplicates`
reports for added items is tested through updates in tests/test_updates.py)."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.bundle import read_bundle
from lookalike.dedup import Duplicate, duplicate_groups, find_duplicates, near_duplicate_pairs
from lookalike.index import load_index
from lookalike.pipeline import duplicate_groups as pipeline_duplicate_groups


def test_duplicate_groups_lists_only_groups_of_two_or_more():
    groups = duplicate_groups(["h1", "h2", "h1", "h3", "h1", "h3"], ["a", "b", "c", "d", "e", "f"])

    assert sorted(groups) == [["a", "c", "e"], ["d", "f"]]


def test_near_duplicate_pairs_skips_identical_files_and_far_items():
    embeddings = np.array([[0, 0], [0, 0.05], [5, 5], [5, 5.01]], np.float32)

    pairs = near_duplicate_pairs(embeddings, ["a", "b", "c", "d"], ["h1", "h2", "h3", "h3"], 0.1)

    assert [(a, b) for a, b, _ in pairs] == [("a", "b")]
    assert pairs[0][2] == pytest.approx(0.05, abs=1e-4)


def test_the_pipeline_reexports_the_dedup_helpers():
    assert pipeline_duplicate_groups is duplicate_groups


def test_find_duplicates_reports_exact_copies_among_the_added_items(tiny_bundle):
    data = read_bundle(tiny_bundle)
    index = load_index(data.index_dir)
    new = [Duplicate("n1", "", ""), Duplicate("n2", "", "")]  # anything with an `id`
    vectors = np.stack([data.embeddings[0] + 10, data.embeddings[0] + 10]).astype(np.float32)
    images = np.zeros((2, 8, 8, 3), np.uint8)

    found = find_duplicates(data, index, new, ["same", "same"], vectors, images, 8)

    assert [(d.id, d.of, d.kind) for d in found] == [("n2", "n1", "exact")]
