"""lookalike.index.grouped: k distinct groups over an index of members, for every kind, with
filters large enough for the approximate kinds' own filtered search (issue 18)."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.index import build_index, search_groups

KINDS = ("flat", "hnsw", "ivfpq")


@pytest.fixture(scope="module")
def photos():
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(3000, 16)).astype(np.float32)
    # 3 photos per product, close to each other: a plain search returns a product 3 times.
    vectors = np.repeat(centres, 3, axis=0) + 0.05 * rng.normal(size=(9000, 16))
    return vectors.astype(np.float32), np.repeat(np.arange(3000), 3)


@pytest.mark.parametrize("kind", KINDS)
def test_k_distinct_allowed_products_under_a_filter_the_index_runs_itself(photos, kind):
    vectors, groups = photos
    index = build_index(vectors, kind=kind, **({"nlist": 16} if kind == "ivfpq" else {}))
    allowed = np.flatnonzero(groups % 2 == 0)  # 4,500 photos: more than an exact scan takes
    queries = vectors[1::450]

    plain_d, plain_ids = index.search(queries, 10)
    d, g, m = search_groups(index, queries, 10, groups, max_per_group=3, allowed=allowed)

    assert any(len(set(groups[row].tolist())) < 10 for row in plain_ids)  # repeats without
    for row in range(len(queries)):
        assert len(set(g[row].tolist())) == 10 and (g[row] % 2 == 0).all()
        assert (groups[m[row]] == g[row]).all() and np.all(np.diff(d[row]) >= 0)


def test_without_groups_it_is_the_plain_search(photos):
    vectors, _ = photos
    index = build_index(vectors, kind="flat")
    d, g, m = search_groups(index, vectors[:5], 7, None)
    plain_d, plain_ids = index.search(vectors[:5], 7)
    assert np.array_equal(g, plain_ids) and np.array_equal(m, plain_ids)
    assert np.array_equal(d, plain_d)
