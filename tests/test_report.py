"""lookalike.report: the pieces of `lookalike evaluate` (the whole report is tested through
the CLI in tests/cli/test_evaluate.py and on the shared catalog in tests/test_integration.py)."""

from __future__ import annotations

import numpy as np
import pytest

import lookalike
from lookalike.bundle import read_bundle
from lookalike.report import (
    aligned_embeddings,
    degraded_copy_recall,
    group_keys_for,
    raw_pixel_embeddings,
)
from tests.tolerances import approx


@pytest.fixture(scope="module")
def rec(tiny_bundle):
    return lookalike.load(tiny_bundle)


def test_group_keys_use_duplicates_csv_groups_else_content_hashes(rec, tmp_path):
    first = rec.items.ids[0]
    (tmp_path / "duplicates.csv").write_text(f"ProductId,duplicate_group\n{first},g1\n")

    keys = group_keys_for(rec, tmp_path)

    assert keys[0] == "group:g1"
    assert keys[1] == f"hash:{rec.items.content_hashes[1]}"
    assert group_keys_for(rec, None)[0] == f"hash:{rec.items.content_hashes[0]}"


def test_raw_pixel_embeddings_are_flattened_pixels_and_zero_for_unreadable_files(rec, tmp_path):
    junk = tmp_path / "junk.jpg"
    junk.write_text("not an image")

    vectors = raw_pixel_embeddings([rec.items.paths[0], str(junk)], size=8)

    assert vectors.shape == (2, 8 * 8 * 3) and vectors.dtype == np.float32
    assert 0.0 <= vectors[0].min() and vectors[0].max() <= 1.0 and vectors[0].any()
    assert not vectors[1].any()


def test_aligned_embeddings_follow_the_given_ids(tiny_bundle):
    data = read_bundle(tiny_bundle)
    ids = list(reversed(data.items.ids))

    _, vectors = aligned_embeddings(tiny_bundle, ids)

    assert np.array_equal(vectors, data.embeddings[::-1])
    with pytest.raises(ValueError, match="lacks 1 items"):
        aligned_embeddings(tiny_bundle, [*ids, "no-such-id"])


def test_degraded_copy_recall_gives_a_rate_per_degradation_and_their_mean(rec):
    keys = group_keys_for(rec, None)

    recall = degraded_copy_recall(rec, np.arange(len(rec.items.ids)), keys)

    assert "mean" in recall and len(recall) > 2
    for rates in recall.values():
        assert 0.0 <= rates["recall@1"] <= rates["recall@10"] <= 1.0


def test_outside_photos_are_scored_by_the_catalog_labels(rec, tiny_catalog, tmp_path):
    from lookalike.report import evaluate_queries_folder
    from tests.test_labelled import make_labelled_folder

    # Exact copies of catalog photos: the nearest item is the photo itself, so P@1 is 1.
    ids = ["101", "104", "110", "113", "118", "121"]
    folder = make_labelled_folder(tmp_path / "q", tiny_catalog, ids, ["dev"] * 5 + ["archive"])

    out = evaluate_queries_folder(rec, folder, "auto", min_type_items=1)

    assert out["split"] == "dev" and out["photos"] == 5 and out["scored"] == 5
    metrics = out["metrics"]
    assert metrics["all"]["P@1 ProductType"] == approx(1.0)
    assert set(metrics) == {"all", "Apparel", "Footwear"}
    assert metrics["Apparel"]["queries"] + metrics["Footwear"]["queries"] == 5
    assert 0.0 <= metrics["all"]["P@10 ProductType+Colour"] <= metrics["all"]["P@10 Colour"]
    # Types with too few catalog items are left out (8 per shape here).
    assert evaluate_queries_folder(rec, folder, None, min_type_items=9)["scored"] == 0
