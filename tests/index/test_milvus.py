"""MilvusIndex on Milvus Lite: exact results, filters inside the search, escaping, updates.

The expression tests need nothing; the rest run against a Milvus Lite file per module
(``pip install 'lookalike[milvus]'``; skipped without it).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from lookalike.index import build_index, create_index, load_index, milvus
from lookalike.index.milvus import _field_names, filter_expression, string_literal
from lookalike.index.registry import release_index
from lookalike.neighbours import exact_search

INJECTION = 'x" or row >= 0 or m_Colour == "'


def test_string_literals_escape_quotes_and_backslashes():
    assert string_literal('x" or id != "') == '"x\\" or id != \\""'
    assert string_literal("a\\b") == '"a\\\\b"'
    assert json.loads(string_literal(INJECTION)) == INJECTION


def test_filter_expression_ands_columns_and_ors_values():
    fields = {"Colour": "m_Colour", "Gender": "m_Gender"}
    expr = filter_expression({"Colour": ["Red", "Blue"], "Gender": ["Women"]}, fields)
    assert expr == 'm_Colour in ["Red", "Blue"] and m_Gender in ["Women"]'
    with pytest.raises(ValueError, match="no Milvus field"):
        filter_expression({"Size": ["M"]}, fields)


def test_field_names_are_valid_and_unique():
    names = _field_names(["Product Title", "Product-Title", "Gender"])
    assert names == {
        "Product Title": "m_Product_Title",
        "Product-Title": "m_Product_Title_2",
        "Gender": "m_Gender",
    }


pytest.importorskip("pymilvus", reason="the milvus extra is not installed")
pytest.importorskip("milvus_lite", reason="the milvus extra is not installed")

COLOURS = ["Red", "Blue", "Green", INJECTION]


@pytest.fixture(scope="module")
def uri(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("milvus") / "test.db")


def _data(n: int = 200, dim: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    rows = [
        (f"item-{i}", {"Colour": COLOURS[i % 4], "Gender": "Women" if i % 3 else "Men"})
        for i in range(n)
    ]
    return vectors, rows


@pytest.fixture(scope="module")
def filled(uri):
    vectors, rows = _data()
    index = build_index(vectors, kind="milvus", uri=uri, rows=rows)
    return index, vectors, rows


def test_search_equals_exact_search(filled):
    index, vectors, _ = filled
    queries = vectors[:10] + 0.01
    distances, rows = index.search(queries, 10)
    ref_d, ref_rows = exact_search(vectors, queries, 10)
    np.testing.assert_array_equal(rows, ref_rows)
    np.testing.assert_allclose(distances, ref_d, rtol=1e-4, atol=1e-4)  # Euclidean, not squared


def test_many_queries_are_searched_in_bounded_batches(filled, monkeypatch):
    index, vectors, _ = filled
    monkeypatch.setattr(milvus, "MAX_SEARCH_ROWS", 7)  # 50 queries: 8 calls, the last short
    calls = []
    search = index.client.search
    monkeypatch.setattr(
        index.client, "search", lambda *a, **kw: calls.append(len(kw["data"])) or search(*a, **kw)
    )

    distances, rows = index.search(vectors[:50], 5)

    assert calls == [7] * 7 + [1]
    ref_d, ref_rows = exact_search(vectors, vectors[:50], 5)
    np.testing.assert_array_equal(rows, ref_rows)
    np.testing.assert_allclose(distances, ref_d, rtol=1e-4, atol=1e-4)


def test_search_batch_rows_keep_one_call_within_the_budget():
    assert milvus.search_batch_rows(2906, 1280) * 2906 * 1280 * 4 <= milvus.SEARCH_BUDGET_BYTES
    assert milvus.search_batch_rows(10_000_000, 1280) == 1
    assert milvus.search_batch_rows(10, 16) == milvus.MAX_SEARCH_ROWS


def test_filters_run_inside_the_search_and_return_full_k(filled):
    index, vectors, rows = filled
    distances, found = index.search(vectors[:3], 20, filters={"Colour": ["Red"], "Gender": ["Men"]})
    allowed = [i for i, (_, m) in enumerate(rows) if m["Colour"] == "Red" and m["Gender"] == "Men"]
    assert len(allowed) >= 16
    want = min(20, len(allowed))
    for q in range(3):
        got = found[q][found[q] >= 0]
        assert len(got) == want and set(got) <= set(allowed)
        ref = exact_search(vectors[allowed], vectors[q : q + 1], want)[1][0]
        assert list(got) == [allowed[r] for r in ref]


def test_a_quoted_value_is_a_value_never_expression_text(filled):
    index, vectors, rows = filled
    _, found = index.search(vectors[:1], 100, filters={"Colour": [INJECTION]})
    got = found[0][found[0] >= 0]
    assert len(got) == 50  # exactly the items whose colour is that odd string, not all 200
    assert all(rows[r][1]["Colour"] == INJECTION for r in got)
    _, found = index.search(vectors[:1], 10, filters={"Colour": ['nothing" or row >= 0 or "']})
    assert (found == -1).all()


def test_allowed_rows_filter_too(filled):
    index, vectors, _ = filled
    _, found = index.search(vectors[:2], 5, allowed=np.array([3, 7, 11]))
    assert sorted(found[0][:3]) == [3, 7, 11] and (found[:, 3:] == -1).all()


def test_save_load_and_copy_on_write_updates(filled, tmp_path):
    index, vectors, rows = filled
    index.save(tmp_path / "v1")
    config = json.loads((tmp_path / "v1" / "index.json").read_text())
    assert config["params"]["collection"] == index.collection and config["ntotal"] == 200
    loaded = load_index(tmp_path / "v1")
    assert loaded.ntotal == 200 and loaded.collection == index.collection
    assert loaded.item_ids(np.array([0, 5])) == ["item-0", "item-5"]
    # Changing a loaded index never touches the live collection: it works on a copy.
    assert loaded.remove(np.array([0, 1, 999])) == 2
    new = np.random.default_rng(5).standard_normal((1, 16)).astype(np.float32)
    loaded.add(new, np.array([200]), rows=[("new", {"Colour": "Red", "Gender": "Men"})])
    assert loaded.collection != index.collection
    assert loaded.ntotal == 199 and index.ntotal == 200
    _, found = loaded.search(vectors[:2], 199)
    assert 0 not in found and 1 not in found  # removed items never come back
    _, found = loaded.search(new, 1, filters={"Colour": ["Red"]})
    assert found[0][0] == 200
    loaded.save(tmp_path / "v2")
    assert release_index(tmp_path / "v2") == loaded.collection
    with pytest.raises(ValueError, match="is not at"):
        load_index(tmp_path / "v2")
    assert load_index(tmp_path / "v1").ntotal == 200


def test_bad_params_are_clear_errors(uri):
    with pytest.raises(ValueError, match="needs a uri"):
        create_index("milvus", 4)
    with pytest.raises(ValueError, match="no param"):
        create_index("milvus", 4, uri=uri, nlist=3)
    with pytest.raises(ValueError, match="prefix"):
        create_index("milvus", 4, uri=uri, prefix="bad name")
