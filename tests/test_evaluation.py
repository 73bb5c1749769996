"""lookalike.evaluation: retrieval metrics on hand-made matrices and the protocol."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lookalike import evaluation as ev
from lookalike.evaluation import (
    Evaluation,
    average_precision_at_k,
    evaluate_embeddings,
    format_mapped_table,
    format_query_set_table,
    format_table,
    gallery_exclusions,
    hit_rate_at_k,
    instance_recall,
    label_precision,
    label_relevance,
    mapped_query_metrics,
    mapped_relevance,
    ndcg_at_k,
    precision_at_k,
    protocol_search,
    query_set_metrics,
    recall_of_target,
    scored_queries,
    write_report,
)
from tests.tolerances import approx

# Three queries, four results each; n_relevant = relevant items in each query's gallery.
RELEVANT = np.array(
    [
        [1, 0, 1, 0],
        [0, 0, 0, 0],
        [0, 1, 1, 1],
    ],
    dtype=bool,
)
N_RELEVANT = np.array([2, 0, 5])
EMPTY = np.zeros((0, 4), dtype=bool)


# --- metrics ----------------------------------------------------------------------------------
def test_precision_at_k():
    assert precision_at_k(RELEVANT, 1) == pytest.approx(1 / 3)
    assert precision_at_k(RELEVANT, 2) == pytest.approx((1 / 2 + 0 + 1 / 2) / 3)
    assert precision_at_k(RELEVANT, 4) == pytest.approx((2 / 4 + 0 + 3 / 4) / 3)


def test_average_precision_at_k():
    # q0: hits at ranks 1 and 3 -> (1/1 + 2/3) / min(2, 4); q1: none relevant -> 0;
    # q2: hits at ranks 2, 3, 4 -> (1/2 + 2/3 + 3/4) / min(5, 4).
    expected = ((1 + 2 / 3) / 2 + 0 + (1 / 2 + 2 / 3 + 3 / 4) / 4) / 3
    assert average_precision_at_k(RELEVANT, N_RELEVANT, 4) == pytest.approx(expected)
    # At k=1 only q0 scores: 1 / min(2, 1).
    assert average_precision_at_k(RELEVANT, N_RELEVANT, 1) == pytest.approx(1 / 3)


def test_average_precision_is_one_when_every_relevant_item_comes_first():
    relevant = np.array([[1, 1, 0, 0]], dtype=bool)

    assert average_precision_at_k(relevant, np.array([2]), 4) == pytest.approx(1.0)
    # A relevant item the ranking missed lowers it: (1 + 1) / 3.
    assert average_precision_at_k(relevant, np.array([3]), 4) == pytest.approx(2 / 3)


def test_ndcg_at_k():
    d = [1 / math.log2(r + 1) for r in (1, 2, 3, 4)]
    q0 = (d[0] + d[2]) / (d[0] + d[1])  # ideal: 2 hits at the top
    q2 = (d[1] + d[2] + d[3]) / sum(d)  # ideal: min(5, 4) hits
    assert ndcg_at_k(RELEVANT, N_RELEVANT, 4) == pytest.approx((q0 + 0 + q2) / 3)


def test_ndcg_of_a_perfect_ranking_is_one():
    relevant = np.array([[1, 1, 1, 0]], dtype=bool)

    assert ndcg_at_k(relevant, np.array([3]), 4) == pytest.approx(1.0)


def test_hit_rate_at_k():
    assert hit_rate_at_k(RELEVANT, 1) == pytest.approx(1 / 3)
    assert hit_rate_at_k(RELEVANT, 2) == pytest.approx(2 / 3)
    assert hit_rate_at_k(RELEVANT, 4) == pytest.approx(2 / 3)


def test_recall_of_target():
    rows = np.array([[5, 3, 1], [2, 7, 9], [4, -1, -1]])
    targets = np.array([3, 4, 4])

    assert recall_of_target(rows, targets, 1) == pytest.approx(1 / 3)
    assert recall_of_target(rows, targets, 2) == pytest.approx(2 / 3)
    assert recall_of_target(rows, targets, 3) == pytest.approx(2 / 3)


def test_metrics_of_no_queries_are_nan():
    none = np.zeros(0, dtype=int)
    assert math.isnan(precision_at_k(EMPTY, 1))
    assert math.isnan(average_precision_at_k(EMPTY, none, 1))
    assert math.isnan(ndcg_at_k(EMPTY, none, 1))
    assert math.isnan(hit_rate_at_k(EMPTY, 1))
    assert math.isnan(recall_of_target(np.zeros((0, 3), int), none, 1))


# --- relevance and exclusions -----------------------------------------------------------------
def test_label_relevance_ignores_padding_and_empty_labels():
    labels = np.array(["a", "b", "a", "", ""], dtype=object)
    query_rows = np.array([0, 3])
    # -1 is padding: it must not count even though row 0 (what it would index) is an "a".
    result_rows = np.array([[2, 1, -1], [4, 0, -1]])

    relevant = label_relevance(labels, query_rows, result_rows)

    assert relevant.tolist() == [[True, False, False], [False, False, False]]


def test_gallery_exclusions_are_the_query_duplicate_group():
    keys = ["h1", "h2", "h1", "h3", "h1"]

    exclusions = gallery_exclusions(keys, np.array([0, 1, 4]))

    assert [e.tolist() for e in exclusions] == [[0, 2, 4], [1], [0, 2, 4]]


def brute_force(embeddings, query_rows, exclusions, k):
    rows, dists = [], []
    for q, excluded in zip(query_rows, exclusions, strict=True):
        d = np.linalg.norm(embeddings - embeddings[q], axis=1)
        d[excluded] = np.inf
        order = [int(r) for r in np.argsort(d, kind="stable") if np.isfinite(d[r])][:k]
        rows.append(order + [-1] * (k - len(order)))
        dists.append([d[r] for r in order] + [np.inf] * (k - len(order)))
    return np.array(dists), np.array(rows)


def test_protocol_search_excludes_the_duplicate_group_and_matches_brute_force():
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(40, 6)).astype(np.float32)
    embeddings[7] = embeddings[3]  # an identical image: same key, same vector
    embeddings[21] = embeddings[3]
    keys = [f"h{i}" for i in range(40)]
    keys[7] = keys[21] = "h3"
    query_rows = np.array([3, 7, 10, 39])
    exclusions = gallery_exclusions(keys, query_rows)

    distances, rows = protocol_search(embeddings, query_rows, exclusions, 5)

    expected_d, expected_rows = brute_force(embeddings, query_rows, exclusions, 5)
    assert rows.shape == (4, 5) and rows.dtype == np.int64
    assert rows.tolist() == expected_rows.tolist()
    np.testing.assert_allclose(distances, expected_d, rtol=1e-4, atol=1e-4)
    assert not {3, 7, 21} & (set(rows[0].tolist()) | set(rows[1].tolist()))


def test_protocol_search_pads_when_the_gallery_is_smaller_than_k():
    embeddings = np.array([[0.0], [1.0], [3.0]], np.float32)
    query_rows = np.array([0])

    distances, rows = protocol_search(embeddings, query_rows, [np.array([0])], 4)

    assert rows.tolist() == [[1, 2, -1, -1]]
    assert distances[0, :2].tolist() == pytest.approx([1.0, 3.0])
    assert np.isinf(distances[0, 2:]).all()


# --- the protocol on a dataset with a known answer -------------------------------------------
def known_dataset():
    """3 product types x (Red, Red, Blue, Blue); vectors = one-hot type + 0.1 * one-hot colour."""
    metadata, vectors = [], []
    for t, kind in enumerate(("Shirt", "Shoe", "Hat")):
        for colour in ("Red", "Red", "Blue", "Blue"):
            metadata.append({"ProductType": kind, "Colour": colour})
            vector = np.zeros(5, np.float32)
            vector[t] = 1.0
            vector[3 + (colour == "Blue")] = 0.1
            vectors.append(vector)
    return np.array(vectors), metadata


def test_evaluate_embeddings_on_a_dataset_with_a_known_answer():
    embeddings, metadata = known_dataset()
    keys = [f"h{i}" for i in range(12)]

    evaluation = evaluate_embeddings(embeddings, metadata, np.arange(12), keys, name="one-hot")

    m = evaluation.metrics
    assert evaluation.name == "one-hot" and evaluation.n_queries == 12
    assert m["P@1 ProductType"] == pytest.approx(1.0)
    # 3 same-type items, then the nearest other-type items.
    assert m["P@5 ProductType"] == pytest.approx(3 / 5)
    assert m["P@10 ProductType"] == pytest.approx(3 / 10)
    assert m["mAP@10 ProductType"] == pytest.approx(1.0)
    # Top 10 of a red shirt: 1 red shirt, 2 blue shirts, 4 red others, 3 blue others.
    assert m["P@10 ProductType+Colour"] == pytest.approx(1 / 10)
    assert m["P@10 Colour"] == pytest.approx(5 / 10)
    # Columns the metadata lacks are not reported.
    assert "P@10 Gender" not in m and "P@10 SubCategory" not in m
    assert evaluation.result_rows.shape == (12, 10)


def test_an_identical_copy_is_no_free_hit():
    embeddings, metadata = known_dataset()
    keys = [f"h{i}" for i in range(12)]
    keys[1] = keys[0]  # rows 0 and 1 are the same image

    evaluation = evaluate_embeddings(embeddings, metadata, np.array([0, 1, 4]), keys)

    rows = evaluation.result_rows
    assert 1 not in rows[0] and 0 not in rows[1]
    # Rows 0 and 1 each see only 2 other shirts; row 4 (a shoe) still sees 3 other shoes.
    assert evaluation.metrics["P@5 ProductType"] == pytest.approx((2 / 5 + 2 / 5 + 3 / 5) / 3)
    assert evaluation.metrics["mAP@10 ProductType"] == pytest.approx(1.0)


def test_random_vectors_score_worse_than_the_known_answer():
    embeddings, metadata = known_dataset()
    noise = np.random.default_rng(1).normal(size=embeddings.shape).astype(np.float32)
    keys = [f"h{i}" for i in range(12)]

    good = evaluate_embeddings(embeddings, metadata, np.arange(12), keys)
    bad = evaluate_embeddings(noise, metadata, np.arange(12), keys)

    assert bad.metrics["mAP@10 ProductType"] < good.metrics["mAP@10 ProductType"]


def test_query_rows_for_split():
    # Called through the module: a bare import would be collected by pytest as a test.
    ids = ["1", "2", "3", "4"]

    assert ev.query_rows_for_split(ids, {"2": "test", "3": "train", "4": "test"}).tolist() == [1, 3]
    assert ev.query_rows_for_split(ids, {}).tolist() == [0, 1, 2, 3]


# --- reporting --------------------------------------------------------------------------------
def test_format_table_has_one_row_per_evaluation_and_the_union_of_metrics():
    rows = np.zeros((1, 1), np.int64)
    evaluations = [
        Evaluation("ours", 5, {"P@1 X": 0.5, "mAP@10 X": 0.25}, rows),
        Evaluation("baseline", 5, {"P@1 X": 0.12345, "P@10 Colour": 1.0}, rows),
    ]

    table = format_table(evaluations).splitlines()

    assert table[0] == "| features | P@1 X | mAP@10 X | P@10 Colour |"
    assert table[1] == "|---|---|---|---|"
    assert table[2] == "| ours | 0.500 | 0.250 |  |"
    assert table[3] == "| baseline | 0.123 |  | 1.000 |"
    assert format_table(evaluations, digits=1).splitlines()[2] == "| ours | 0.5 | 0.2 |  |"
    assert format_table([]) == ""


def test_write_report_writes_markdown_and_json(tmp_path):
    evaluation = Evaluation("ours", 3, {"P@1 X": 0.75}, np.zeros((3, 1), np.int64))

    md, js = write_report(tmp_path / "out", [evaluation], {"queries": 3}, "## extra")

    payload = json.loads(js.read_text())
    assert payload["queries"] == 3
    assert payload["results"] == [{"name": "ours", "queries": 3, "metrics": {"P@1 X": 0.75}}]
    text = md.read_text()
    assert "- queries: 3" in text and "| ours | 0.750 |" in text and "## extra" in text
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.json", "report.md"]


def test_label_precision_skips_the_query_group_and_counts_only_the_gallery():
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
    assert first == approx(0.0) and joint == approx((0.5 + 0.0) / 2)


def test_instance_recall_counts_the_target_within_each_cut():
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


# --- outside photos (the shopper-photo protocol) -----------------------------------------


def test_scored_queries_need_enough_catalog_items_of_their_type():
    catalog = ["Tops"] * 3 + ["Heels"] * 2 + ["Jeans"]
    scored = scored_queries(["Tops", "Heels", "Jeans", "Kurtas", ""], catalog, min_items=2)
    assert scored.tolist() == [True, True, False, False, False]


def test_query_set_metrics_overall_and_per_group():
    query_labels = {"ProductType": ["Tops", "Heels"], "Colour": ["Red", "Black"]}
    result_labels = {
        "ProductType": np.array([["Tops", "Jeans"], ["Flats", "Heels"]], dtype=object),
        "Colour": np.array([["Red", "Red"], ["Black", ""]], dtype=object),
    }
    out = query_set_metrics(query_labels, result_labels, ["Apparel", "Footwear"], k=2)

    assert list(out) == ["all", "Apparel", "Footwear"]
    assert out["all"]["queries"] == 2
    assert out["all"]["P@1 ProductType"] == approx(0.5)
    assert out["all"]["P@2 ProductType"] == approx(0.5)
    assert out["Apparel"]["P@2 Colour"] == approx(1.0)
    assert out["Footwear"]["P@2 Colour"] == approx(0.5)
    # type AND colour: only Tops/Red in Apparel, Heels with an empty colour never counts
    assert out["Apparel"]["P@2 ProductType+Colour"] == approx(0.5)
    assert out["Footwear"]["P@2 ProductType+Colour"] == approx(0.0)
    table = format_query_set_table({"hybrid": out})
    assert "| hybrid | Apparel | 1 | 1.000 |" in table


def test_query_set_metrics_missing_results_are_misses():
    out = query_set_metrics(
        {"ProductType": ["Tops"]},
        {"ProductType": np.array([["Tops", ""]], dtype=object)},
        ["Apparel"],
        k=2,
    )
    assert out["all"]["P@2 ProductType"] == approx(0.5) and "P@2 Colour" not in out["all"]


# --- products with several photos (issue 18) --------------------------------------------------
def test_product_protocol_search_excludes_the_own_product_and_returns_distinct_products():
    from lookalike.evaluation import product_protocol_search

    photos = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [9.0]], np.float32)
    products = np.array([0, 0, 1, 1, 1, 2])

    d, rows, matched = product_protocol_search(photos, products, photos[:1], [np.array([0])], 3)

    assert rows.tolist() == [[1, 2, -1]] and matched.tolist() == [[2, 5, -1]]
    assert d[0, :2] == pytest.approx([0.2, 9.0])


def test_evaluate_products_equals_the_photo_protocol_for_one_photo_per_product():
    from lookalike.evaluation import evaluate_embeddings, evaluate_products

    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(30, 8)).astype(np.float32)
    metadata = [{"ProductType": "ab"[i % 2], "Colour": "xyz"[i % 3]} for i in range(30)]
    keys = [str(i // 2 if i < 6 else i) for i in range(30)]  # 3 duplicate pairs
    queries = np.arange(0, 30, 3)

    photo = evaluate_embeddings(vectors, metadata, queries, keys)
    product = evaluate_products(vectors, np.arange(30), metadata, queries, keys)

    assert product.metrics == pytest.approx(photo.metrics)
    assert product.n_queries == len(queries)


def test_evaluate_products_asks_with_every_photo_of_a_query_product():
    from lookalike.evaluation import evaluate_products

    # Products 0 and 1 have two photos each; each photo's nearest other product is the other.
    photos = np.array([[0.0], [0.2], [0.5], [0.7], [10.0]], np.float32)
    products = np.array([0, 0, 1, 1, 2])
    metadata = [{"ProductType": "a"}, {"ProductType": "a"}, {"ProductType": "b"}]

    result = evaluate_products(photos, products, metadata, np.array([0]), ["0", "1", "2"])

    assert result.n_queries == 2
    assert result.result_rows[:, :2].tolist() == [[1, 2], [1, 2]]
    assert result.metrics["P@1 ProductType"] == approx(1.0)


def test_mapped_relevance_hits_any_answering_type_and_never_padding():
    types = np.array([["A", "B", ""], ["C", "", ""]], dtype=object)
    hits = mapped_relevance(types, [{"A", "C"}, {"C", ""}])
    assert hits.tolist() == [[True, False, False], [True, False, False]]


def test_mapped_query_metrics_per_label_and_mean_over_labels():
    # Three queries of label x (answers {A, B}), one of label y (answers {C}), k = 2.
    types = np.array(
        [["A", "B"], ["B", "Z"], ["Z", "A"], ["C", "C"]],
        dtype=object,
    )
    answers = [{"A", "B"}] * 3 + [{"C"}]
    labels = ["x", "x", "x", "y"]
    groups = ["top", "top", "bottom", "bottom"]

    metrics = mapped_query_metrics(types, answers, labels, groups, k=2)

    assert list(metrics["labels"]) == ["x", "y"]  # most queries first
    x, y = metrics["labels"]["x"], metrics["labels"]["y"]
    assert x["queries"] == 3 and y["queries"] == 1
    assert x["P@1 ProductType"] == approx(2 / 3)  # hit, hit, miss
    assert x["P@2 ProductType"] == approx((1.0 + 0.5 + 0.5) / 3)
    assert y["P@1 ProductType"] == approx(1.0) and y["P@2 ProductType"] == approx(1.0)
    overall = metrics["all"]
    assert overall["queries"] == 4
    assert overall["P@1 ProductType"] == approx(3 / 4)
    assert overall["P@2 ProductType"] == approx((1.0 + 0.5 + 0.5 + 1.0) / 4)
    mean = metrics["mean over labels"]
    assert mean["labels"] == 2
    assert mean["P@1 ProductType"] == approx((2 / 3 + 1.0) / 2)
    assert mean["P@2 ProductType"] == approx((2 / 3 + 1.0) / 2)
    assert metrics["groups"]["top"]["P@2 ProductType"] == approx(0.75)
    assert metrics["groups"]["bottom"]["P@1 ProductType"] == approx(0.5)
    table = format_mapped_table(metrics)
    assert "| mean over labels | 2 labels |" in table and "| label: x | 3 |" in table


def test_mapped_query_metrics_without_queries_are_nan():
    metrics = mapped_query_metrics(np.zeros((0, 10), object), [], [])
    assert metrics["all"]["queries"] == 0 and np.isnan(metrics["all"]["P@10 ProductType"])
    assert metrics["labels"] == {} and metrics["groups"] == {}
    assert np.isnan(metrics["mean over labels"]["P@10 ProductType"])


def test_map_at_12_and_recall_at_k_as_in_the_kaggle_competition():
    # customer 1 bought {a, b} and got [a, x, b, ...]: (1/1 + 2/3) / 2; customer 2 bought 20
    # items and got 1 hit at rank 12: (1/12) / min(20, 12); customer 3: no hit
    relevant = np.zeros((3, 12), bool)
    relevant[0, [0, 2]] = True
    relevant[1, 11] = True
    n_relevant = np.array([2, 20, 1])
    assert ev.map_at_12(relevant, n_relevant) == approx(((1 + 2 / 3) / 2 + 1 / 144) / 3)
    assert ev.recall_at_k(relevant, n_relevant, 12) == approx((1 + 1 / 20) / 3)
    assert ev.recall_at_k(relevant, n_relevant, 2) == approx(0.5 / 3)
    assert math.isnan(ev.recall_at_k(np.zeros((0, 12), bool), np.zeros(0), 12))
