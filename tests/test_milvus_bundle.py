"""A bundle served from Milvus Lite end to end: build, filtered queries, remove, check, prune.

The tiny catalog with the tiny CAE its session bundle trained (nothing is trained here).
"""

from __future__ import annotations

import json

import pytest

from lookalike.bundle import check_bundle, read_bundle
from lookalike.index import load_index
from lookalike.pipeline import build_bundle
from lookalike.recommend import Recommender
from lookalike.updates import add_photos, remove_items, remove_photos
from tests.test_pipeline import pretrained_workdir, tiny_config

pytest.importorskip("pymilvus", reason="the milvus extra is not installed")
pytest.importorskip("milvus_lite", reason="the milvus extra is not installed")


def _ids(rec: Recommender, item: str, **filters) -> list[str]:
    [result] = rec.recommend_items([item], k=5, filters=filters or None)
    return [r.id for r in result.results]


def test_milvus_bundle_end_to_end(tiny_catalog, tiny_bundle, tmp_path):
    uri = str(tmp_path / "milvus.db")
    config = tiny_config(
        tiny_catalog,
        pretrained_workdir(tiny_bundle, tmp_path / "w"),
        index="milvus",
        index_options={"uri": uri},
    )
    version = build_bundle(config, tmp_path / "b", progress=False)
    manifest = json.loads((version / "manifest.json").read_text())
    first = manifest["index"]["collection"]
    assert manifest["index"]["kind"] == "milvus" and first.startswith("lookalike_")
    assert check_bundle(tmp_path / "b") == []

    flat, served = Recommender.from_bundle(tiny_bundle), Recommender.from_bundle(tmp_path / "b")
    item = flat.items.ids[0]
    assert _ids(served, item) == _ids(flat, item)
    # Filter values match case-insensitively, inside Milvus, and still return full k.
    women = _ids(served, item, Gender=["women"], Colour=["Red", "blue"])
    assert women == _ids(flat, item, Gender=["women"], Colour=["Red", "blue"])
    served_meta = {r: m for r, m in zip(served.items.ids, served.items.metadata, strict=True)}
    assert all(served_meta[i]["Gender"] == "Women" for i in women) and len(women) >= 3

    # Remove: a new version with a new collection; the removed item never comes back.
    gone = _ids(served, item)[0]
    remove_items(tmp_path / "b", [gone])
    after = Recommender.from_bundle(tmp_path / "b")
    second = after.index.collection
    assert second != first and gone not in _ids(after, item)
    assert check_bundle(tmp_path / "b") == []

    # check notices a collection that no longer holds exactly the bundle's ids.
    after.index.client.delete(second, ids=[0])
    assert any("index" in p for p in check_bundle(tmp_path / "b"))

    # Pruning the oldest version drops its collection (two versions are kept).
    remove_items(tmp_path / "b", [after.items.ids[-1]])
    assert not after.index.client.has_collection(first)
    assert load_index(read_bundle(tmp_path / "b").index_dir).ntotal == len(after.items) - 1


def _products(rec: Recommender, item: str, k: int = 5, **filters) -> list[tuple[str, int]]:
    [result] = rec.recommend_items([item], k=k, filters=filters or None)
    return [(r.id, r.photo) for r in result.results]


def _milvus_copy(catalog, trained_bundle, tmp_path) -> Recommender:
    """The catalog built again with ``trained_bundle``'s encoder into a Milvus Lite bundle
    at ``tmp_path / "b"`` (nothing trained)."""
    config = tiny_config(
        catalog,
        pretrained_workdir(trained_bundle, tmp_path / "w"),
        index="milvus",
        index_options={"uri": str(tmp_path / "milvus.db")},
    )
    build_bundle(config, tmp_path / "b", progress=False)
    return Recommender.from_bundle(tmp_path / "b")


def test_milvus_bundle_of_products_with_several_photos(product_catalog, product_bundle, tmp_path):
    """Issue 18 on Milvus: every photo in the collection, answers as distinct products (the
    same as the flat bundle of the same embeddings), photo updates as new collections."""
    flat = Recommender.from_bundle(product_bundle)
    served = _milvus_copy(product_catalog, product_bundle, tmp_path)
    photos = served.index.ntotal
    assert photos == len(served.photos.paths) == 3 * len(served.items)
    item = flat.items.ids[0]
    before = _products(served, item)
    for filters in ({}, {"Gender": ["women"]}):
        got = _products(served, item, k=len(flat.items), **filters)
        assert got == _products(flat, item, k=len(flat.items), **filters)
        assert len({i for i, _ in got}) == len(got) and item not in {i for i, _ in got}
    assert len(_products(served, item, k=5, Gender=["women"])) == 5

    # A photo added to a product, then one removed: new versions, new collections.
    new_photo = product_catalog / f"{item}-1.jpg"
    other = served.items.ids[3]
    add_photos(tmp_path / "b", other, [new_photo])
    after = Recommender.from_bundle(tmp_path / "b")
    assert after.index.ntotal == photos + 1
    assert after.item(after.row(other)).photos == [1, 2, 3, 4]
    [result] = after.recommend_images([new_photo], k=3)
    # The photo now belongs to two products: byte-identical, so one result names the other.
    first = result.results[0]
    assert {first.id, *first.duplicates} == {item, other} and first.distance < 1e-3
    assert other not in {r.id for r in result.results[1:]}
    remove_photos(tmp_path / "b", other, [4])
    final = Recommender.from_bundle(tmp_path / "b")
    # (The first version's collection went with its version: two versions are kept.)
    assert final.index.ntotal == photos and check_bundle(tmp_path / "b") == []
    assert _products(final, item) == before


def test_milvus_bundle_expands_photo_queries_as_the_flat_one(
    tiny_catalog, tiny_bundle, tmp_path, monkeypatch
):
    """Query expansion's first search goes through Milvus too: same lists as the flat bundle."""
    import numpy as np
    from PIL import Image

    import lookalike.recommend.photos

    monkeypatch.setattr(lookalike.recommend.photos, "EXPANSION_MIN_PHOTOS", 2)
    flat = Recommender.from_bundle(tiny_bundle)
    served = _milvus_copy(tiny_catalog, tiny_bundle, tmp_path)
    photo = tmp_path / "outside.png"
    pixels = np.random.default_rng(3).integers(0, 255, (70, 50, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(photo)

    [expanded] = flat.recommend_images([photo], k=5)
    [from_milvus] = served.recommend_images([photo], k=5)

    vector = served.encode_images([photo])[0]
    np.testing.assert_allclose(
        served.expand_photo_queries(vector), flat.expand_photo_queries(vector), atol=1e-5
    )
    assert not np.allclose(served.expand_photo_queries(vector), vector)
    assert [r.id for r in from_milvus.results] == [r.id for r in expanded.results]
    np.testing.assert_allclose(
        [r.distance for r in from_milvus.results],
        [r.distance for r in expanded.results],
        rtol=1e-4,
        atol=1e-5,
    )
