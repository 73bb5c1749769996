"""lookalike.dedup: exact-duplicate groups and near-duplicate pairs (what `find_duplicates`
reports for added items is tested through updates in tests/test_updates.py)."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.bundle import read_bundle
from lookalike.dedup import (
    Duplicate,
    duplicate_groups,
    exact_group_numbers,
    find_duplicates,
    match_word,
    near_duplicate_groups,
    near_duplicate_pairs,
)
from lookalike.index import build_index, load_index
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


def test_near_duplicate_groups_join_close_photos_and_measure_the_typical_distance():
    # Two tight pairs far apart, and eight items a distance 1 apart: the median
    # nearest-neighbour distance is 1, the pairs (0.01 apart) join, the others stay alone.
    pairs = [[0, 0], [0, 0.01], [50, 0], [50, 0.01]]
    others = [[10 + i, 10] for i in range(8)]
    embeddings = np.array(pairs + others, np.float32)
    index = build_index(embeddings, kind="flat")
    exact = exact_group_numbers([f"h{i}" for i in range(len(embeddings))])

    groups, typical = near_duplicate_groups(embeddings, exact, index)

    assert groups[0] == groups[1] and groups[2] == groups[3]
    assert len(set(groups.tolist())) == 2 + len(others)
    assert typical == pytest.approx(1.0)


def test_exact_group_numbers_share_a_number_per_identical_file():
    assert exact_group_numbers(["h1", "h2", "h1"]).tolist() == [0, 1, 0]


@pytest.mark.parametrize(
    ("ratio", "word"), [(0.1, "same"), (1.0, "close"), (1.5, "similar"), (2.0, "distant")]
)
def test_match_words_are_ratios_of_the_typical_distance(ratio, word):
    assert match_word(ratio * 2.0, 2.0) == word
    assert match_word(0.0, 0.0) == "same"
