"""Updates of products with several photos (issue 18): add a product with several photos,
add a photo to a product, remove one photo, remove a product; duplicates still reported."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from lookalike.bundle import UpdateError, check_bundle, read_bundle
from lookalike.recommend import Recommender
from lookalike.updates import add_items, add_photos, remove_items, remove_photos


@pytest.fixture
def products_copy(product_bundle, tmp_path):
    target = tmp_path / "bundle"
    shutil.copytree(product_bundle, target, symlinks=True)
    return target


def numbers_of(bundle, item_id: str) -> list[int]:
    data = read_bundle(bundle)
    rows = data.photos.of_product(data.items.ids.index(item_id))
    return [data.photos.numbers[r] for r in rows]


def test_add_a_photo_to_a_product_and_find_it(products_copy, product_catalog):
    before = read_bundle(products_copy).version_dir.name

    report = add_photos(products_copy, "202", [product_catalog / "210-3.jpg"])

    assert report.version and report.added == [] and report.photos_added == ["202 photo 4"]
    assert numbers_of(products_copy, "202") == [1, 2, 3, 4]
    assert (products_copy / "versions" / before).is_dir()  # the old version is untouched
    assert check_bundle(products_copy) == []
    rec = Recommender.from_bundle(products_copy)
    assert len(rec.items) == 12 and len(rec.photos) == 37
    # 210-3.jpg is now a photo of 202 too: byte-identical to 210's photo 3, one group.
    assert any(d.kind == "exact" and d.of == "210" for d in report.duplicates)
    found = rec.search(rec.photo_embeddings[rec.photo_row("202", 4)][None], k=3)[0]
    assert [r.id for r in found].count("202") + [r.id for r in found].count("210") == 1


def test_add_a_product_with_several_photos(products_copy, product_catalog):
    photos = [product_catalog / "205-1.jpg", product_catalog / "205-3.jpg"]

    report = add_photos(products_copy, "N1", photos, {"ProductType": "Square", "Colour": "Red"})

    assert report.added == ["N1"] and report.photos_added == ["N1 photo 1", "N1 photo 2"]
    rec = Recommender.from_bundle(products_copy)
    assert rec.items.metadata[rec.row("N1")] == {"ProductType": "Square", "Colour": "Red"}
    assert rec.item(rec.row("N1")).photos == [1, 2]
    # Its photos are byte-identical copies of 205's: reported, and 205 is never its lookalike.
    assert {(d.id, d.of, d.kind) for d in report.duplicates} >= {("N1", "205", "exact")}
    found = rec.recommend_items(["N1"], k=12)[0].results
    ids = [r.id for r in found]
    assert len(ids) == len(set(ids)) == 11 and "N1" not in ids and "205" not in ids


def test_remove_one_photo_keeps_the_others_and_their_numbers(products_copy):
    report = remove_photos(products_copy, "202", [1, 9])

    assert report.photos_removed == ["202 photo 1"]
    assert any("no photo 9" in p for p in report.problems)
    assert numbers_of(products_copy, "202") == [2, 3]
    data = read_bundle(products_copy)
    assert data.items.paths[data.items.ids.index("202")].endswith("202-2.jpg")
    assert len(data.photos) == 35 and check_bundle(products_copy) == []
    with pytest.raises(UpdateError, match="every photo"):
        remove_photos(products_copy, "202", [2, 3])
    with pytest.raises(UpdateError, match="unknown item"):
        remove_photos(products_copy, "nope", [1])


def test_remove_a_product_takes_all_its_photos(products_copy):
    report = remove_items(products_copy, ["202"])

    assert report.removed == ["202"]
    rec = Recommender.from_bundle(products_copy)
    assert len(rec.items) == 11 and len(rec.photos) == 33 and "202" not in rec.items.ids
    results = rec.search(rec.photo_embeddings, k=11)
    assert all(len({r.id for r in found}) == len(found) == 11 for found in results)
    assert check_bundle(products_copy) == []


def test_a_one_photo_add_to_a_bundle_of_products(products_copy, product_catalog, tmp_path):
    single = tmp_path / "solo.jpg"
    shutil.copy(product_catalog / "207-2.jpg", single)

    report = add_items(products_copy, [single])

    assert report.added == ["solo"]
    rec = Recommender.from_bundle(products_copy)
    assert rec.item(rec.row("solo")).photos == [1] and len(rec.photos) == 37
    row = rec.photo_row("solo", 1)
    assert np.array_equal(rec.embeddings[rec.row("solo")], rec.photo_embeddings[row])
    # a byte-identical copy of 207's photo 2: reported, and collapsed in results
    assert any(d.kind == "exact" and d.of == "207" for d in report.duplicates)
    found = rec.search(rec.photo_embeddings[row][None], k=4)[0]
    ids = [r.id for r in found]
    assert ("solo" in ids) != ("207" in ids)


def test_all_or_nothing_adds_no_photo_when_one_is_unreadable(products_copy, product_catalog):
    before = read_bundle(products_copy).version_dir.name
    photos = [(product_catalog / "205-1.jpg").read_bytes(), b"not an image"]

    report = add_photos(
        products_copy, "N2", photos, store_images=True, all_or_nothing=True, new_product=True
    )

    assert report.version is None and report.added == [] and report.photos_added == []
    assert [s.code for s in report.skipped] == ["invalid_image"]
    assert read_bundle(products_copy).version_dir.name == before
    # Without it the readable photo is added (the default, as before).
    assert add_photos(products_copy, "N2", photos, store_images=True).photos_added == ["N2 photo 1"]


def test_new_product_refuses_an_id_in_the_bundle(products_copy, product_catalog):
    report = add_photos(products_copy, "202", [product_catalog / "205-1.jpg"], new_product=True)
    assert report.version is None and [s.code for s in report.skipped] == ["id_exists"]
    assert numbers_of(products_copy, "202") == [1, 2, 3]
