"""Personalisation: profile math, exclusions, dislikes, diversity, collaborative blend."""

from __future__ import annotations

import numpy as np
import pytest

import lookalike
from lookalike.personal import (
    InteractionLog,
    Profile,
    collaborative_scores,
    mmr_select,
    read_interactions,
    recommend_profile,
    rrf_scores,
)
from tests.tolerances import approx


def test_rrf_sums_reciprocal_ranks_and_honours_negative_weights():
    scores = rrf_scores([np.array([5, 7, -1]), np.array([7, 9])], weights=[1.0, -0.5], k0=1)
    assert scores[5] == pytest.approx(1 / 2)
    assert scores[7] == pytest.approx(1 / 3 - 0.5 / 2)
    assert scores[9] == pytest.approx(-0.5 / 3)
    assert -1 not in scores


def test_mmr_zero_diversity_is_plain_ranking():
    embeddings = np.eye(4, dtype=np.float32)
    rows = mmr_select(np.array([0, 1, 2, 3]), np.array([0.1, 0.9, 0.5, 0.3]), embeddings, 3, 0)
    assert rows.tolist() == [1, 2, 3]


def test_mmr_diversity_skips_near_duplicates():
    # rows 0 and 1 are near-identical and most relevant; 2 is different.
    embeddings = np.array([[1, 0], [0.999, 0.01], [0, 1]], np.float32)
    relevance = np.array([1.0, 0.95, 0.5])
    assert mmr_select(np.arange(3), relevance, embeddings, 2, 0.0).tolist() == [0, 1]
    assert mmr_select(np.arange(3), relevance, embeddings, 2, 0.7).tolist() == [0, 2]
    with pytest.raises(ValueError):
        mmr_select(np.arange(3), relevance, embeddings, 2, 1.5)


def test_collaborative_scores_follow_similar_users():
    matrix = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 0, 1]], np.float32)
    scores = collaborative_scores(
        matrix, np.array([1, 1, 0, 0], np.float32), n_neighbors=2, exclude_user=0
    )
    assert scores[2] > 0 and scores[3] == approx(0.0)  # user 1 is similar and liked item 2
    assert not collaborative_scores(matrix, np.zeros(4, np.float32)).any()


def test_read_interactions_weights_events_and_reports_bad_rows(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(
        "user_id,item_id,event\nu1,a,purchase\nu1,a,view\nu2,b,like\nu2,zzz,like\nu3,a,teleport\n"
    )
    log = read_interactions(path, {"a": 0, "b": 1})
    assert log.users == ["u1", "u2"]
    assert log.matrix[0, 0] == approx(6.0) and log.matrix[1, 1] == approx(3.0)
    assert len(log.problems) == 2 and log.user_row("nobody") is None


@pytest.fixture(scope="module")
def rec(tiny_bundle):
    return lookalike.load(tiny_bundle)


def rows_of(rec, results):
    return [rec.row(r.id) for r in results]


def test_profile_never_recommends_liked_or_disliked_items(rec):
    liked, disliked = [0, 5], [9]
    for method in ("fusion", "mean"):
        results = recommend_profile(rec, Profile(liked, disliked), 10, method=method)
        assert len(results) == 10
        assert not set(rows_of(rec, results)) & {0, 5, 9}


def test_fusion_covers_two_unrelated_tastes(rec):
    reds = [
        r
        for r, m in enumerate(rec.items.metadata)
        if m["Colour"] == "Red" and m["ProductType"] == "Circle"
    ]
    blues = [
        r
        for r, m in enumerate(rec.items.metadata)
        if m["Colour"] == "Blue" and m["ProductType"] == "Triangle"
    ]
    results = recommend_profile(rec, Profile([reds[0], blues[0]]), 6, method="fusion")
    near = {(rec.items.metadata[r]["ProductType"]) for r in rows_of(rec, results)[:4]}
    assert len(near) >= 2  # both tastes are served, not only the average


def test_dislike_pushes_its_lookalikes_down(rec):
    liked = [0]
    plain = rows_of(rec, recommend_profile(rec, Profile(liked), 5))
    disliked = plain[0]
    pushed = rows_of(rec, recommend_profile(rec, Profile(liked, [disliked]), 23))
    neighbour_of_dislike = rec.search(rec.embeddings[[disliked]], 2, exclude_rows=[[disliked]])[0][
        0
    ].id
    assert disliked not in pushed
    if rec.row(neighbour_of_dislike) in plain[:3] and rec.row(neighbour_of_dislike) in pushed:
        assert pushed.index(rec.row(neighbour_of_dislike)) > plain.index(
            rec.row(neighbour_of_dislike)
        )


def test_collaborative_cold_start_falls_back_to_visual(rec):
    empty = InteractionLog(["u"], np.zeros((1, len(rec.items)), np.float32))
    visual = rows_of(rec, recommend_profile(rec, Profile([3]), 8))
    blended = rows_of(rec, recommend_profile(rec, Profile([3], user="new"), 8, interactions=empty))
    assert blended == visual


def test_collaborative_blend_brings_in_what_similar_shoppers_liked(rec):
    n = len(rec.items)
    far = rows_of(rec, recommend_profile(rec, Profile([0]), n - 2))[-1]  # visually farthest
    matrix = np.zeros((3, n), np.float32)
    matrix[:, 0] = 3
    matrix[:, far] = 3
    log = InteractionLog(["a", "b", "c"], matrix)
    results = rows_of(
        rec,
        recommend_profile(
            rec, Profile([0], user="me"), 5, interactions=log, collaborative_weight=0.6
        ),
    )
    assert far in results


def test_profile_needs_a_like(rec):
    with pytest.raises(ValueError, match="liked"):
        recommend_profile(rec, Profile([], [1]), 5)
