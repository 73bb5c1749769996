"""Tests for lookalike.index: every kind against a numpy brute-force reference."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lookalike import index as ix

N, DIM, NQ = 5000, 64, 40

# "ivfpq-flat" is ivfpq with raw-float re-ranking: exact distances on returned ids.
CONFIGS = {
    "flat": ("flat", {}),
    "hnsw": ("hnsw", {}),
    "ivfpq": ("ivfpq", {}),
    "ivfpq-flat": ("ivfpq", {"refine": "flat"}),
}
ALL = list(CONFIGS)


def clustered(n: int, dim: int, seed: int, clusters: int = 50) -> np.ndarray:
    """Gaussian blobs: closer to real embeddings than iid noise, where ANN is meaningless."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, dim)) * 3.0
    return (centers[rng.integers(clusters, size=n)] + rng.normal(size=(n, dim))).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return clustered(N, DIM, seed=0), clustered(NQ, DIM, seed=1)


def build(name: str, x: np.ndarray, ids: np.ndarray | None = None):
    kind, params = CONFIGS[name]
    return ix.build_index(x, ids, kind=kind, **params)


@pytest.fixture(scope="module")
def built(data):
    """One read-only index per config (tests that mutate build their own)."""
    x, _ = data
    return {name: build(name, x) for name in ALL}


def brute(x: np.ndarray, q: np.ndarray, k: int, subset: np.ndarray | None = None):
    """Reference (distances, ids) via the full distance matrix, optionally over a subset."""
    ids = np.arange(len(x)) if subset is None else np.sort(subset)
    d = np.linalg.norm(q[:, None, :].astype(np.float64) - x[ids][None, :, :], axis=2)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, order, axis=1), ids[order]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)])


# -- exactness -----------------------------------------------------------------------


def test_exact_search_matches_full_distance_matrix(data):
    x, q = data
    d, pos = ix.exact_search(x, q, 10)
    ref_d, ref_pos = brute(x, q, 10)
    np.testing.assert_array_equal(pos, ref_pos)
    np.testing.assert_allclose(d, ref_d, rtol=1e-5)
    assert d.dtype == np.float32 and pos.dtype == np.int64


def test_exact_search_pads_when_k_exceeds_n(data):
    x, q = data
    d, pos = ix.exact_search(x[:3], q[:2], 5)
    assert (pos[:, 3:] == -1).all() and np.isinf(d[:, 3:]).all()
    assert sorted(pos[0, :3]) == [0, 1, 2]


def test_flat_equals_brute_force_euclidean(built, data):
    x, q = data
    d, ids = built["flat"].search(q, 10)
    ref_d, ref_ids = brute(x, q, 10)
    np.testing.assert_array_equal(ids, ref_ids)
    # Euclidean, not squared: compare against the norm of the actual difference.
    np.testing.assert_allclose(d, ref_d, rtol=1e-4)
    np.testing.assert_allclose(d[0, 0], np.linalg.norm(x[ids[0, 0]] - q[0]), rtol=1e-4)


def test_hnsw_recall_at_10(built, data):
    x, q = data
    _, ids = built["hnsw"].search(q, 10)
    assert recall(ids, brute(x, q, 10)[1]) >= 0.95


@pytest.mark.parametrize("name", ["ivfpq", "ivfpq-flat"])
def test_ivfpq_recall_at_10(built, data, name):
    x, q = data
    d, ids = built[name].search(q, 10)
    assert recall(ids, brute(x, q, 10)[1]) >= 0.8
    # Re-ranked distances are true distances of the returned ids (up to SQ8 error).
    true = np.linalg.norm(x[ids] - q[:, None, :], axis=2)
    np.testing.assert_allclose(d, true, rtol=1e-2 if name == "ivfpq" else 1e-4)


# -- filtering -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["exact-fallback", "in-search-selector"])
@pytest.mark.parametrize("name", ALL)
def test_allowed_filter_matches_brute_force_over_subset(built, data, name, path, monkeypatch):
    if path == "in-search-selector":
        # 1/3 of 5000 ids is below the exact-scan threshold; lower it to exercise the
        # faiss IDSelector path of each kind.
        monkeypatch.setattr(ix, "EXACT_SCAN_MAX_ALLOWED", 0)
    x, q = data
    allowed = np.arange(0, N, 3)
    d, ids = built[name].search(q, 10, allowed=allowed)
    ref_d, ref_ids = brute(x, q, 10, subset=allowed)
    assert (ids >= 0).all(), "k allowed ids exist, so k results must come back"
    assert np.isin(ids, allowed).all()
    if name == "flat" or path == "exact-fallback" and name != "ivfpq":
        np.testing.assert_array_equal(ids, ref_ids)
        np.testing.assert_allclose(d, ref_d, rtol=1e-4)
    else:
        assert recall(ids, ref_ids) >= (0.9 if name == "hnsw" else 0.75)


@pytest.mark.parametrize("name", ALL)
def test_very_selective_filter_is_exact_and_complete(built, data, name):
    x, q = data
    allowed = np.array([4999, 17, 2500, 123, 3333])  # 0.1% of the index, unsorted
    d, ids = built[name].search(q, 3, allowed=allowed)
    ref_d, ref_ids = brute(x, q, 3, subset=allowed)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(d, ref_d, rtol=1e-2 if name == "ivfpq" else 1e-4)
    # Fewer allowed than k: all of them, then padding.
    d, ids = built[name].search(q, 10, allowed=allowed)
    assert all(set(row[:5]) == set(allowed.tolist()) for row in ids)
    assert (ids[:, 5:] == -1).all() and np.isinf(d[:, 5:]).all() and np.isfinite(d[:, :5]).all()


@pytest.mark.parametrize("name", ["hnsw", "ivfpq"])
def test_short_approximate_rows_are_completed(built, data, name, monkeypatch):
    # Force the in-search selector even for 5 allowed ids: HNSW's beam and IVF's
    # probed lists then miss most of them, and the completion pass must fill the rows.
    monkeypatch.setattr(ix, "EXACT_SCAN_MAX_ALLOWED", 0)
    monkeypatch.setattr(ix, "SELECTIVE_FRACTION", 0.0)
    x, q = data
    allowed = np.array([4999, 17, 2500, 123, 3333])
    _, ids = built[name].search(q, 5, allowed=allowed)
    assert all(set(row) == set(allowed.tolist()) for row in ids)


@pytest.mark.parametrize("name", ALL)
def test_allowed_ignores_unknown_ids_and_empty_filter_pads(built, data, name):
    _, q = data
    d, ids = built[name].search(q[:3], 4, allowed=np.array([7, 10**9, 10**9 + 1]))
    assert (ids[:, 0] == 7).all() and (ids[:, 1:] == -1).all()
    d, ids = built[name].search(q[:3], 4, allowed=np.array([], dtype=np.int64))
    assert (ids == -1).all() and np.isinf(d).all()


def test_padding_when_fewer_than_k_items(data):
    x, q = data
    for kind in ("flat", "hnsw"):
        index = ix.build_index(x[:3], np.array([10, 20, 30]), kind=kind)
        d, ids = index.search(q[:4], 5)
        assert ids.shape == (4, 5) and d.dtype == np.float32 and ids.dtype == np.int64
        assert all(sorted(row[:3]) == [10, 20, 30] for row in ids)
        assert (ids[:, 3:] == -1).all() and np.isinf(d[:, 3:]).all()
        empty = ix.create_index(kind, DIM)
        d, ids = empty.search(q[:2], 3)
        assert (ids == -1).all() and np.isinf(d).all()


# -- removal -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_removed_ids_never_returned(data, name):
    x, _ = data
    index = build(name, x)
    gone = np.arange(0, N, 10)
    assert index.remove(gone) == len(gone)
    assert index.ntotal == N - len(gone)
    assert index.remove(np.concatenate([gone[:5], [10**9]])) == 0  # already gone / unknown
    # Each removed vector is its own nearest neighbour: the strongest temptation.
    _, ids = index.search(x[gone], 10)
    assert not np.isin(ids, gone).any()
    assert (ids >= 0).all()
    _, ids = index.search(x[gone[:20]], 10, allowed=np.concatenate([gone, [1, 2, 3]]))
    assert set(np.unique(ids)) <= {1, 2, 3, -1}
    # Surviving ids still map to their own vectors (ivfpq keeps ids native for this).
    keep = np.array([1, 2, 4999])
    d, ids = index.search(x[keep], 1)
    np.testing.assert_array_equal(ids[:, 0], keep)
    # ~0 up to SQ8 error (~0.2 here), while true neighbours are ~11 apart in this data.
    assert (d[:, 0] < 1.0).all()


def test_hnsw_heavy_tombstones_still_fills_k(data):
    x, q = data
    index = build("hnsw", x)
    alive = np.arange(0, N, 40)
    index.remove(np.setdiff1d(np.arange(N), alive))
    d, ids = index.search(q, 10)
    ref_d, ref_ids = brute(x, q, 10, subset=alive)
    assert (ids >= 0).all() and np.isin(ids, alive).all()
    assert recall(ids, ref_ids) >= 0.95


def test_hnsw_rejects_reusing_removed_ids(data):
    x, _ = data
    index = build("hnsw", x[:100])
    index.remove(np.array([5]))
    with pytest.raises(ValueError, match="already used"):
        index.add(x[:1], np.array([5]))


def test_flat_allows_reusing_removed_ids(data):
    x, _ = data
    index = build("flat", x[:100])
    index.remove(np.array([5]))
    index.add(x[50:51], np.array([5]))
    _, ids = index.search(x[50:51], 2)
    assert set(ids[0]) == {5, 50}


# -- persistence ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_save_load_round_trip(tmp_path, data, name):
    x, q = data
    index = build(name, x, ids=np.arange(N) + 1000)
    index.remove(np.arange(1000, 1100))
    index.save(tmp_path / "idx")
    loaded = ix.load_index(tmp_path / "idx")
    assert type(loaded) is type(index)
    assert (loaded.kind, loaded.dim, loaded.ntotal) == (index.kind, DIM, N - 100)
    assert loaded.params() == index.params()
    allowed = np.arange(1000, 1000 + N, 2)
    for kwargs in ({}, {"allowed": allowed}, {"allowed": allowed[:40]}):
        d0, i0 = index.search(q, 10, **kwargs)
        d1, i1 = loaded.search(q, 10, **kwargs)
        np.testing.assert_array_equal(i0, i1)
        np.testing.assert_array_equal(d0, d1)
    assert not np.isin(i1, np.arange(1000, 1100)).any()
    config = json.loads((tmp_path / "idx" / "index.json").read_text())
    assert config["kind"] == index.kind and config["dim"] == DIM
    assert (tmp_path / "idx" / "index.faiss").is_file()
    assert not list((tmp_path / "idx").glob("*.tmp-*")), "temporary files left behind"
    # Same directory again: replaced in place, still loadable.
    loaded.add(x[:2], np.array([1, 2]))
    loaded.save(tmp_path / "idx")
    assert ix.load_index(tmp_path / "idx").ntotal == N - 98


def test_load_detects_torn_or_foreign_files(tmp_path, data):
    x, _ = data
    build("flat", x[:50]).save(tmp_path)
    with open(tmp_path / "index.faiss", "ab") as f:
        f.write(b"junk")
    with pytest.raises(ValueError, match="torn"):
        ix.load_index(tmp_path)
    build("flat", x[:50]).save(tmp_path)
    with pytest.raises(ValueError, match="not 'hnsw'"):
        ix.HNSWIndex.load(tmp_path)
    config = json.loads((tmp_path / "index.json").read_text())
    (tmp_path / "index.json").write_text(json.dumps({**config, "kind": "nope"}))
    with pytest.raises(ValueError, match="known kinds"):
        ix.load_index(tmp_path)


# -- choosing and creating -----------------------------------------------------------


def test_build_auto_picks_flat_for_small_n(data):
    x, q = data
    index = ix.build_index(x[:1000])
    assert index.kind == "flat" and index.ntotal == 1000
    assert isinstance(index, ix.VectorIndex)
    np.testing.assert_array_equal(index.search(x[:5], 1)[1][:, 0], np.arange(5))


def test_choose_index_kind_thresholds():
    assert ix.choose_index_kind(0) == "flat"
    assert ix.choose_index_kind(ix.FLAT_MAX_ITEMS - 1) == "flat"
    assert ix.choose_index_kind(ix.FLAT_MAX_ITEMS) == "hnsw"
    assert ix.choose_index_kind(ix.HNSW_MAX_ITEMS) == "hnsw"
    assert ix.choose_index_kind(10_000_000) == "ivfpq"
    with pytest.raises(ValueError):
        ix.choose_index_kind(-1)


def test_registry_and_unknown_kind():
    assert set(ix.INDEX_KINDS) == {"flat", "hnsw", "ivfpq"}
    with pytest.raises(ValueError, match="flat, hnsw, ivfpq"):
        ix.create_index("nope", DIM)
    with pytest.raises(ValueError, match="unknown hnsw params"):
        ix.create_index("hnsw", DIM, ef=5)
    with pytest.raises(ValueError, match="must divide"):
        ix.create_index("ivfpq", DIM, m=7)
    with pytest.raises(ValueError, match="refine"):
        ix.create_index("ivfpq", DIM, refine="pq")


def test_ivfpq_requires_training_and_enough_data(data):
    x, _ = data
    index = ix.create_index("ivfpq", DIM)
    assert index.ntotal == 0 and not index.is_trained
    with pytest.raises(ValueError, match="trained"):
        index.add(x[:10], np.arange(10))
    with pytest.raises(ValueError, match="training vectors"):
        index.train(x[:100])


# -- input defence -------------------------------------------------------------------


def test_converts_dtypes(data):
    x, q = data
    index = ix.build_index(x[:200].astype(np.float64), np.arange(200, dtype=np.int32))
    d, ids = index.search(np.asfortranarray(q[:3].astype(np.float16)), np.int64(2))
    assert d.dtype == np.float32 and ids.dtype == np.int64 and ids.shape == (3, 2)
    assert index.remove(np.array([1, 2], dtype=np.uint8)) == 2


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda i, x: i.search(x[:2, :10], 3), "dimension 10"),
        (lambda i, x: i.search(x[0], 3), "2-D"),
        (lambda i, x: i.search(np.full((1, DIM), np.nan), 3), "NaN"),
        (lambda i, x: i.search(np.full((1, DIM), 1e39), 3), "infinite"),
        (lambda i, x: i.search(x[:1].astype(str), 3), "numeric"),
        (lambda i, x: i.search(x[:1], 0), "k must"),
        (lambda i, x: i.search(x[:1], 2.0), "k must"),
        (lambda i, x: i.search(x[:1], True), "k must"),
        (lambda i, x: i.search(x[:1], 3, allowed=np.array([1.5])), "integers"),
        (lambda i, x: i.search(x[:1], 3, allowed=np.array([[1]])), "1-D"),
        (lambda i, x: i.add(x[:2], np.array([900])), "2 vectors but 1 ids"),
        (lambda i, x: i.add(x[:2], np.array([-1, 901])), "non-negative"),
        (lambda i, x: i.add(x[:2], np.array([900, 900])), "duplicates"),
        (lambda i, x: i.add(x[:2], np.array([1, 902])), "already used"),
        (lambda i, x: i.add(x[:1, :3], np.array([903])), "dimension 3"),
        (lambda i, x: i.remove(np.array([0.0])), "integers"),
    ],
)
@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_bad_inputs_raise_value_error(data, kind, call, match):
    x, _ = data
    index = ix.build_index(x[:100], kind=kind)
    with pytest.raises(ValueError, match=match):
        call(index, x)
    assert index.ntotal == 100  # nothing half-applied


def test_bad_construction_args():
    with pytest.raises(ValueError, match="dim"):
        ix.create_index("flat", 0)
    with pytest.raises(ValueError, match="threads"):
        ix.set_threads(0)
    with pytest.raises(ValueError, match="k must"):
        ix.exact_search(np.zeros((3, 2)), np.zeros((1, 2)), 0)


def test_ivfpq_rerank_pool_grows_with_the_codes_scanned():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8000, 16), dtype=np.float32)
    index = ix.create_index("ivfpq", 16, nlist=8, m=4)
    index.train(x)
    index.add(x[:400], np.arange(400))
    assert index.rerank_pool(10, nprobe=2) == 10 * ix.MIN_K_FACTOR  # few codes: the floor
    index.add(x[400:], np.arange(400, 8000))
    scanned = 8 * 8000 / 8
    assert index.rerank_pool(10, nprobe=8) == int(np.ceil(ix.RERANK_SHARE * scanned)) > 320
    fixed = ix.create_index("ivfpq", 16, nlist=8, m=4, k_factor=5)
    fixed.train(x)
    assert fixed.rerank_pool(10, nprobe=2) == 50
    assert ix.default_nlist(10_000_000) == ix.MAX_NLIST
