"""lookalike.expansion: average query expansion over arrays, and the recommender's photo
queries through it (expanded only off the catalog, in catalogs big enough)."""

from __future__ import annotations

import numpy as np
import pytest

import lookalike
import lookalike.recommend.photos
from lookalike.expansion import EXPANSION_MIN_PHOTOS, expand_queries
from tests.tolerances import approx_tree


def test_a_query_moves_a_fixed_share_towards_the_mean_of_its_neighbours():
    vectors = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [9.0, 9.0]], np.float32)
    queries = np.array([[1.0, 1.0]], np.float32)
    rows = np.array([[0, 1, 2]])
    distances = np.array([[1.4, 3.2, 3.2]], np.float32)

    out = expand_queries(queries, distances, rows, vectors, weight=0.25)

    mean = vectors[:3].mean(axis=0)
    np.testing.assert_allclose(out[0], (queries[0] + 0.25 * mean) / 1.25, rtol=1e-6)
    assert out.dtype == np.float32 and not np.shares_memory(out, queries)


def test_padding_is_ignored_and_a_query_without_neighbours_is_unchanged():
    vectors = np.array([[2.0, 0.0], [0.0, 2.0]], np.float32)
    queries = np.array([[0.0, 0.0], [1.0, 1.0]], np.float32)
    rows = np.array([[1, -1], [-1, -1]])
    distances = np.array([[2.0, np.inf], [np.inf, np.inf]], np.float32)

    out = expand_queries(queries, distances, rows, vectors, weight=1.0)

    np.testing.assert_allclose(out[0], [0.0, 1.0])  # halfway to its one neighbour
    np.testing.assert_array_equal(out[1], queries[1])


def test_a_near_identical_query_and_weight_zero_stay_as_they_are():
    vectors = np.array([[0.0, 0.0], [5.0, 5.0]], np.float32)
    queries = np.array([[0.01, 0.0], [2.0, 2.0]], np.float32)
    rows = np.array([[0, 1], [0, 1]])
    distances = np.array([[0.01, 7.0], [2.8, 4.2]], np.float32)

    kept = expand_queries(queries, distances, rows, vectors, keep_within=0.1)
    np.testing.assert_array_equal(kept[0], queries[0])
    assert not np.allclose(kept[1], queries[1])
    np.testing.assert_array_equal(
        expand_queries(queries, distances, rows, vectors, weight=0.0), queries
    )


def test_vectors_may_be_a_memmap(tmp_path):
    path = tmp_path / "vectors.npy"
    np.save(path, np.eye(3, dtype=np.float32))
    vectors = np.load(path, mmap_mode="r")
    out = expand_queries(
        np.zeros((1, 3), np.float32), np.ones((1, 2)), np.array([[2, 0]]), vectors, weight=1.0
    )
    np.testing.assert_allclose(out[0], [0.25, 0.0, 0.25])


@pytest.mark.parametrize(
    ("queries", "distances", "rows", "weight", "message"),
    [
        (np.zeros((2, 3)), np.zeros((1, 2)), np.zeros((1, 2)), 0.25, "must agree"),
        (np.zeros((1, 3)), np.zeros((1, 2)), np.zeros((1, 3)), 0.25, "must agree"),
        (np.zeros(3), np.zeros((1, 2)), np.zeros((1, 2)), 0.25, "must agree"),
        (np.zeros((1, 3)), np.zeros((1, 2)), np.zeros((1, 2)), -1.0, "weight"),
    ],
)
def test_bad_shapes_and_weights_are_named(queries, distances, rows, weight, message):
    with pytest.raises(ValueError, match=message):
        expand_queries(queries, distances, rows, np.zeros((4, 3)), weight=weight)


# --- the recommender's photo queries --------------------------------------------------------


@pytest.fixture
def expanding(tiny_bundle, monkeypatch):
    """The tiny bundle (24 items), expanded as a catalog of EXPANSION_MIN_PHOTOS would be."""
    monkeypatch.setattr(lookalike.recommend.photos, "EXPANSION_MIN_PHOTOS", 2)
    return lookalike.load(tiny_bundle)


def test_small_catalogs_are_not_expanded(tiny_bundle):
    rec = lookalike.load(tiny_bundle)
    assert len(rec.photos) < EXPANSION_MIN_PHOTOS
    query = rec.embeddings[:2] + 0.3
    np.testing.assert_array_equal(rec.expand_photo_queries(query), query)


def test_a_photo_off_the_catalog_is_moved_towards_its_nearest_photos(expanding):
    rng = np.random.default_rng(0)
    query = (expanding.embeddings[3] + rng.normal(0, 1.0, expanding.encoder.dim)).astype(
        np.float32
    )[None]
    distances, rows = expanding.index.search(query, 10)
    assert distances[0, 0] >= 0.25 * expanding.typical_distance  # not a near-identical photo

    out = expanding.expand_photo_queries(query)

    mean = expanding.photo_embeddings[rows[0]].mean(axis=0)
    np.testing.assert_allclose(out[0], (query[0] + 0.25 * mean) / 1.25, rtol=1e-5, atol=1e-6)


def test_a_catalog_photo_uploaded_answers_exactly_as_without_expansion(expanding, tiny_catalog):
    photo = sorted(tiny_catalog.rglob("*.jpg"))[0]
    [plain] = expanding.recommend_images([photo], k=5, expand=False)
    [expanded] = expanding.recommend_images([photo], k=5)
    assert plain.results[0].id == photo.stem and plain.results[0].match == "same"
    assert [(r.id, r.distance) for r in expanded.results] == approx_tree(
        [(r.id, r.distance) for r in plain.results]
    )


def test_recommend_images_expands_unless_told_not_to(expanding, tmp_path):
    from PIL import Image

    photo = tmp_path / "outside.png"
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (80, 60, 3), dtype=np.uint8)).save(photo)
    [plain] = expanding.recommend_images([photo], k=5, expand=False)
    [expanded] = expanding.recommend_images([photo], k=5)
    vector = expanding.encode_images([photo])[0]
    wanted = expanding.search(expanding.expand_photo_queries(vector), 5)[0]
    assert [r.id for r in expanded.results] == [r.id for r in wanted]
    assert not np.allclose(expanding.expand_photo_queries(vector), vector)  # it did move
    # Ranked by the expanded vector, but distance and match are the photo's own.
    for result in expanded.results:
        own = np.linalg.norm(vector[0] - expanding.photo_embeddings[expanding.row(result.id)])
        assert result.distance == pytest.approx(own, abs=1e-5)
        assert result.match == expanding.match_word(result.distance)
    assert min(r.distance for r in expanded.results) >= plain.results[0].distance - 1e-5


def test_products_with_several_photos_expand_towards_their_matched_photos(
    product_bundle, monkeypatch
):
    monkeypatch.setattr(lookalike.recommend.photos, "EXPANSION_MIN_PHOTOS", 2)
    rec = lookalike.load(product_bundle)
    assert rec.grouped
    rng = np.random.default_rng(2)
    query = (rec.photo_embeddings[1] + rng.normal(0, 1.0, rec.encoder.dim)).astype(np.float32)
    _, products, photos = rec.nearest_products(query[None], 10)

    out = rec.expand_photo_queries(query[None])

    assert len(set(products[0][products[0] >= 0])) == int((products[0] >= 0).sum())
    mean = rec.photo_embeddings[photos[0][photos[0] >= 0]].mean(axis=0)
    np.testing.assert_allclose(out[0], (query + 0.25 * mean) / 1.25, rtol=1e-5, atol=1e-6)


def test_distances_of_expanded_product_queries_are_the_photos_own(
    product_bundle, monkeypatch, tmp_path
):
    from PIL import Image

    monkeypatch.setattr(lookalike.recommend.photos, "EXPANSION_MIN_PHOTOS", 2)
    rec = lookalike.load(product_bundle)
    photo = tmp_path / "outside.png"
    pixels = np.random.default_rng(4).integers(0, 255, (64, 48, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(photo)
    vector = rec.encode_images([photo])[0][0]

    [expanded] = rec.recommend_images([photo], k=4)

    assert expanded.results
    for result in expanded.results:
        stored = rec.photo_embeddings[rec.photo_row(result.id, result.photo)]
        assert result.distance == pytest.approx(np.linalg.norm(vector - stored), abs=1e-5)
