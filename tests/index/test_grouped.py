"""lookalike.index.grouped: k distinct groups over an index of members, for every kind, with
filters large enough for the approximate kinds' own filtered search (issue 18)."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.index import build_index, search_groups
from lookalike.index.grouped import (
    exact_scan_vectors,
    gather_groups,
    group_bounds,
    search_groups_exact,
    stored_vectors,
)
from tests.tolerances import ATOL, RTOL

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
    np.testing.assert_allclose(d, plain_d, rtol=RTOL, atol=ATOL)


# --- search_groups_exact: centroid bounds first, then the photos of the products that can win ---
def csr(groups: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    counts = np.bincount(groups, minlength=n_groups)
    return np.concatenate([[0], np.cumsum(counts)]), np.argsort(groups, kind="stable")


def brute_force_groups(vectors, groups, queries, k, allowed=None):
    """Each group's nearest member by a full float64 scan; the k nearest groups."""
    dist = np.linalg.norm(vectors[None].astype(np.float64) - queries[:, None], axis=2)
    n_groups = int(groups.max()) + 1
    out = []
    for row in dist:
        best = np.full(n_groups, np.inf)
        np.minimum.at(best, groups, row)
        if allowed is not None:
            best[np.setdiff1d(np.arange(n_groups), allowed)] = np.inf
        order = np.argsort(best, kind="stable")[:k]
        out.append([(int(g), best[g]) for g in order if np.isfinite(best[g])])
    return out


@pytest.mark.parametrize("spread", [0.05, 0.5, 3.0])  # tight products ... photos all over
@pytest.mark.parametrize("dim", [16, 160])  # 160: the head-space bound runs first
def test_exact_grouped_search_is_the_brute_force_per_group_minimum(spread, dim):
    rng = np.random.default_rng(int(spread * 100))
    n_groups = 400
    groups = rng.integers(0, n_groups, 1500)
    groups[:n_groups] = np.arange(n_groups)  # 1 to ~10 members each
    centres = rng.normal(size=(n_groups, dim))
    vectors = (centres[groups] + spread * rng.normal(size=(1500, dim))).astype(np.float32)
    offsets, members = csr(groups, n_groups)
    bounds = group_bounds(vectors, offsets, members)
    assert (bounds.heads is not None) == (dim == 160)
    queries = np.concatenate([vectors[:5] + 0.01, rng.normal(size=(15, dim))]).astype(np.float32)
    allowed = np.flatnonzero(rng.random(n_groups) < 0.2)

    for ok in (None, allowed):
        d, g, m = search_groups_exact(vectors, bounds, queries, 10, ok)
        truth = brute_force_groups(vectors, groups, queries, 10, ok)
        for row in range(len(queries)):
            assert g[row].tolist() == [t[0] for t in truth[row]]
            assert d[row] == pytest.approx([t[1] for t in truth[row]], rel=1e-6)
            assert (groups[m[row]] == g[row]).all()  # the matched member is the group's
            member_d = np.linalg.norm(vectors[m[row]] - queries[row], axis=1)
            assert member_d == pytest.approx(d[row], rel=1e-5)


def test_exact_grouped_search_equals_search_groups_on_a_flat_index(photos):
    vectors, groups = photos
    offsets, members = csr(groups, 3000)
    bounds = group_bounds(vectors, offsets, members)
    index = build_index(vectors, kind="flat")
    queries = vectors[7::300] + 0.02
    for allowed in (None, np.arange(0, 3000, 7)):
        allowed_photos = None if allowed is None else np.flatnonzero(np.isin(groups, allowed))
        want = search_groups(index, queries, 10, groups, max_per_group=3, allowed=allowed_photos)
        got = search_groups_exact(vectors, bounds, queries, 10, allowed)
        assert np.array_equal(got[1], want[1]) and np.array_equal(got[2], want[2])
        assert np.allclose(got[0], want[0], rtol=1e-5)


def test_a_group_with_very_many_members_is_searched_through_the_csr_too():
    rng = np.random.default_rng(5)
    groups = np.concatenate([np.arange(300), np.zeros(700, np.int64)])  # group 0: 701 members
    vectors = rng.normal(size=(1000, 8)).astype(np.float32)
    offsets, members = csr(groups, 300)
    bounds = group_bounds(vectors, offsets, members)
    assert bounds.table is None  # a padded table would be 300 x 701
    queries = rng.normal(size=(10, 8)).astype(np.float32)
    d, g, m = search_groups_exact(vectors, bounds, queries, 5)
    truth = brute_force_groups(vectors, groups, queries, 5)
    for row in range(len(queries)):
        assert g[row].tolist() == [t[0] for t in truth[row]]
        assert d[row] == pytest.approx([t[1] for t in truth[row]], rel=1e-6)
        assert (groups[m[row]] == g[row]).all()


def test_exact_grouped_search_pads_and_skips_empty_and_unknown_groups():
    vectors = np.array([[0, 0], [1, 0], [5, 0], [9, 9]], np.float32)
    # group 0: rows 0, 1; group 1: none; group 2: row 2; row 3 in no group
    bounds = group_bounds(vectors, np.array([0, 2, 2, 3]), np.array([0, 1, 2]))
    assert bounds.radii[1] < 0 and bounds.radii[0] == pytest.approx(0.5)

    d, g, m = search_groups_exact(vectors, bounds, np.array([[4.0, 0]]), 4)
    assert g.tolist() == [[2, 0, -1, -1]] and m.tolist() == [[2, 1, -1, -1]]
    assert d[0, :2].tolist() == pytest.approx([1, 3]) and np.isinf(d[0, 2:]).all()
    _, g, _ = search_groups_exact(vectors, bounds, np.array([[4.0, 0]]), 2, np.array([1, 0, 7]))
    assert g.tolist() == [[0, -1]]
    _, g, _ = search_groups_exact(vectors, bounds, np.zeros((0, 2)), 2)
    assert g.shape == (0, 2)
    with pytest.raises(ValueError, match="offsets"):
        group_bounds(vectors, np.array([0, 5]), np.array([0, 1]))


def test_equal_distances_put_the_lower_member_first():
    vectors = np.array([[1, 0], [1, 0], [0, 1], [-1, 0]], np.float32)  # rows 0, 1 identical
    bounds = group_bounds(vectors, np.array([0, 1, 2, 4]), np.array([1, 0, 2, 3]))
    d, g, m = search_groups_exact(vectors, bounds, np.array([[1.0, 0]]), 3)
    assert g.tolist() == [[1, 0, 2]] and m.tolist() == [[0, 1, 2]]


def test_which_searches_are_exact_over_the_stored_vectors(photos):
    vectors, _ = photos
    flat = build_index(vectors[:500], kind="flat")
    hnsw = build_index(vectors[:500], kind="hnsw")
    sq8 = build_index(vectors[:500], kind="ivfpq", nlist=4)
    raw = build_index(vectors[:500], kind="ivfpq", nlist=4, refine="flat")
    assert exact_scan_vectors(flat, None) and exact_scan_vectors(flat, 10_000)
    assert not exact_scan_vectors(hnsw, None) and exact_scan_vectors(hnsw, 100)
    assert exact_scan_vectors(sq8, 100) and not exact_scan_vectors(sq8, None)
    assert not exact_scan_vectors(object(), 10)
    # flat and hnsw store the vectors unchanged; ivfpq's are read back from its refine store
    assert stored_vectors(hnsw, vectors) is vectors
    rows = np.array([3, 1, 400])
    assert np.array_equal(stored_vectors(raw, vectors)[rows], vectors[rows])
    rounded = stored_vectors(sq8, vectors)[rows]  # sq8: close, not equal
    assert np.allclose(rounded, vectors[rows], atol=0.1) and not np.array_equal(
        rounded, vectors[rows]
    )


def test_exact_grouped_search_over_ivfpq_stored_vectors_matches_its_exact_scan(photos):
    vectors, groups = photos
    index = build_index(vectors, kind="ivfpq", nlist=16)  # refine sq8: rounded vectors
    offsets, members = csr(groups, 3000)
    stored = stored_vectors(index, vectors)
    bounds = group_bounds(stored, offsets, members)
    allowed = np.arange(0, 3000, 5)  # 1,800 photos: scanned exactly by the index
    queries = vectors[11::500] + 0.02
    want = search_groups(
        index,
        queries,
        10,
        groups,
        max_per_group=3,
        allowed=np.flatnonzero(np.isin(groups, allowed)),
    )
    got = search_groups_exact(stored, bounds, queries, 10, allowed)
    assert np.array_equal(got[1], want[1]) and np.array_equal(got[2], want[2])
    assert np.allclose(got[0], want[0], rtol=1e-5)


@pytest.mark.parametrize("spread", [0.1, 2.0])
def test_the_head_space_and_centroid_bounds_never_exceed_a_groups_nearest_member(spread):
    from lookalike.index.grouped import _head_lower_bounds, _lower_bounds

    rng = np.random.default_rng(7)
    n_groups, dim = 300, 192
    groups = np.concatenate([np.arange(n_groups), rng.integers(0, n_groups, 600)])
    # variance falling off with the coordinate, as in a PCA-headed embedding
    scale = np.linspace(3.0, 0.1, dim)
    centres = rng.normal(size=(n_groups, dim)) * scale
    vectors = (centres[groups] + spread * rng.normal(size=(len(groups), dim))).astype(np.float32)
    bounds = group_bounds(vectors, *csr(groups, n_groups))
    queries = np.concatenate([vectors[:10] + 0.001, 2 * rng.normal(size=(10, dim)) * scale])
    queries = queries.astype(np.float32)
    nearest = np.array([b for b in brute_force_all(vectors, groups, queries)])

    head = _head_lower_bounds(queries, bounds.heads, None, bounds.radii)
    full = _lower_bounds(queries, bounds.centroids, bounds.centroid_norms, bounds.radii)
    assert (head <= nearest).all() and (full <= nearest).all()
    assert (head > 0).mean() > 0.5  # and they are not vacuous


def brute_force_all(vectors, groups, queries):
    dist = np.linalg.norm(vectors[None].astype(np.float64) - queries[:, None], axis=2)
    for row in dist:
        best = np.full(int(groups.max()) + 1, np.inf)
        np.minimum.at(best, groups, row)
        yield best


def test_gather_groups_is_the_concatenated_slices():
    offsets = np.array([0, 2, 2, 5, 6])
    members = np.array([7, 3, 9, 1, 4, 8])
    for groups in ([2, 0], [1], [3, 3, 0], []):
        want = [m for g in groups for m in members[offsets[g] : offsets[g + 1]]]
        assert gather_groups(offsets, members, np.array(groups, np.int64)).tolist() == want
