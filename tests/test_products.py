"""Products with several photos (issue 18): catalog layouts, bundles, grouped search."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lookalike.bundle import PHOTOS, PhotoTable, check_bundle, read_bundle
from lookalike.catalog import read_catalog
from lookalike.index import build_index
from lookalike.index.grouped import first_per_group, search_groups
from lookalike.neighbours import exact_search
from lookalike.recommend import Recommender, join_groups, merge_nearest, product_vectors
from tests.conftest import draw_item
from tests.tolerances import approx, approx_tree

OLD_BUNDLE = Path(__file__).parent / "data" / "one_photo_bundle"
KINDS = ("flat", "hnsw", "ivfpq")


@pytest.fixture(scope="module")
def products(product_bundle) -> Recommender:
    return Recommender.from_bundle(product_bundle)


def with_index(rec: Recommender, kind: str) -> Recommender:
    """The same bundle searched through an index of ``kind`` (over every photo)."""
    params = {"nlist": 2, "m": 4, "nbits": 4} if kind == "ivfpq" else {}
    index = build_index(rec.photo_embeddings, kind=kind, **params)
    return Recommender(rec.data, rec.encoder, index)


# --- catalog layouts --------------------------------------------------------------------------
def test_csv_rows_sharing_an_id_are_one_product_with_several_photos(product_catalog):
    catalog = read_catalog(product_catalog)

    assert len(catalog) == 12 and catalog.photo_count == 36
    first = catalog.items[0]
    assert first.id == "201" and [Path(p).name for p in first.photos] == [
        "201-1.jpg",
        "201-2.jpg",
        "201-3.jpg",
    ]
    assert not catalog.problems


def test_disagreeing_metadata_is_reported_and_the_first_row_kept(tmp_path):
    for name in ("1a.jpg", "1b.jpg"):
        draw_item("circle", (200, 0, 0), 0).save(tmp_path / name)
    (tmp_path / "fashion.csv").write_text("ProductId,Image,Colour\n1,1a.jpg,Red\n1,1b.jpg,Blue\n")

    catalog = read_catalog(tmp_path)

    assert len(catalog) == 1 and len(catalog.items[0].photos) == 2
    assert catalog.items[0].metadata == {"Colour": "Red"}
    assert any(
        "line 3" in p and "'1'" in p and "Colour 'Blue' vs 'Red'" in p for p in catalog.problems
    )


def test_a_folder_per_product_is_detected_from_the_csv_ids(tmp_path):
    for product, count in (("A1", 2), ("B2", 1)):
        (tmp_path / product).mkdir()
        for photo in range(count):
            draw_item("square", (0, 0, 200), photo).save(tmp_path / product / f"{photo}.jpg")
    (tmp_path / "meta.csv").write_text("id,Colour\nA1,Blue\nB2,Red\n")

    catalog = read_catalog(tmp_path, tmp_path / "meta.csv")

    assert [(i.id, len(i.photos), i.metadata) for i in catalog.items] == [
        ("A1", 2, {"Colour": "Blue"}),
        ("B2", 1, {"Colour": "Red"}),
    ]


def test_category_folders_without_matching_ids_stay_one_photo_items(tmp_path):
    (tmp_path / "shirts").mkdir()
    for name in ("10.jpg", "11.jpg"):
        draw_item("square", (0, 0, 200), 0).save(tmp_path / "shirts" / name)
    (tmp_path / "meta.csv").write_text("id,Colour\n10,Blue\n11,Red\n")

    catalog = read_catalog(tmp_path, tmp_path / "meta.csv")

    assert [(i.id, len(i.photos)) for i in catalog.items] == [("10", 1), ("11", 1)]
    forced = read_catalog(tmp_path, product_folders=True)
    assert [(i.id, len(i.photos)) for i in forced.items] == [("shirts", 2)]


# --- bundle -----------------------------------------------------------------------------------
def test_the_bundle_records_every_photo_and_its_product(product_bundle):
    data = read_bundle(product_bundle)

    assert len(data.items) == 12 and len(data.photos) == 36 and len(data.embeddings) == 36
    recorded = json.loads((data.version_dir / PHOTOS).read_text())
    assert recorded["product_ids"][:4] == ["201", "201", "201", "202"]
    assert recorded["numbers"][:4] == [1, 2, 3, 1]
    assert len(recorded["content_hashes"][0]) == 64
    assert data.manifest["counts"] == {"items": 12, "embeddings": 36, "photos": 36}
    assert check_bundle(product_bundle) == []


def test_a_bundle_from_before_photos_loads_as_one_photo_per_product_with_the_same_results():
    """tests/data/one_photo_bundle was built, and its results recorded, by the code before
    issue 18 (the tiny catalog, the tiny CAE)."""
    data = read_bundle(OLD_BUNDLE)
    assert not (data.version_dir / PHOTOS).exists()
    assert data.photos.one_per_product and data.photos.numbers == [1] * len(data.items)

    rec = Recommender.from_bundle(OLD_BUNDLE)
    expected = json.loads((OLD_BUNDLE / "expected_results.json").read_text())
    for filters in (None, {"Colour": ["red", "Blue"]}):
        results = rec.recommend_items(rec.items.ids, k=5, filters=filters)
        got = {
            q.query: [[x.id, x.distance, x.duplicates, x.match] for x in q.results] for q in results
        }
        assert got == approx_tree(expected[json.dumps(filters)])
    plain = rec.search(rec.embeddings[:3] * 0.9, 7, collapse_duplicates=False)
    assert [[[x.id, x.distance] for x in found] for found in plain] == approx_tree(
        expected["vectors"]
    )


def test_photo_table_refuses_a_product_without_a_photo():
    from lookalike.bundle import BundleError

    with pytest.raises(BundleError, match="not every product"):
        PhotoTable([0, 0], [1, 2], ["a", "b"]).check(2)
    with pytest.raises(BundleError, match="same number"):
        PhotoTable([0, 0], [1, 1], ["a", "b"]).check(1)


# --- grouped search ---------------------------------------------------------------------------
def test_first_per_group_keeps_each_groups_nearest_member():
    distances = np.array([[0.1, 0.2, 0.3, 0.4, np.inf]], np.float32)
    ids = np.array([[4, 5, 0, 2, -1]])
    groups = np.array([0, 0, 1, 1, 2, 2])

    d, g, m, found = first_per_group(distances, ids, groups, 3)

    assert g.tolist() == [[2, 0, 1]] and m.tolist() == [[4, 0, 2]]
    assert d[0].tolist() == pytest.approx([0.1, 0.3, 0.4]) and found.tolist() == [3]


@pytest.mark.parametrize("kind", KINDS)
def test_grouped_search_equals_the_exact_per_product_minimum(kind):
    rng = np.random.default_rng(0)
    photos = rng.normal(size=(300, 16)).astype(np.float32)
    groups = rng.integers(0, 90, 300)
    groups[:90] = np.arange(90)  # every product has a photo
    m = int(np.bincount(groups).max())
    queries = rng.normal(size=(20, 16)).astype(np.float32)
    index = build_index(photos, kind=kind, **({"nlist": 4} if kind == "ivfpq" else {}))

    d, g, _ = search_groups(index, queries, 10, groups, max_per_group=m)

    all_d, all_i = exact_search(photos, queries, len(photos))
    for row in range(len(queries)):
        best: dict[int, float] = {}
        for dist, i in zip(all_d[row], all_i[row], strict=True):
            best.setdefault(int(groups[i]), float(dist))
        truth = sorted(best, key=best.get)[:10]
        assert len(set(g[row].tolist())) == 10  # distinct products
        if kind == "flat":
            assert g[row].tolist() == truth
            assert d[row] == pytest.approx([best[p] for p in truth], rel=1e-4)
        else:
            assert len(set(g[row].tolist()) & set(truth)) >= 7


class CountingIndex:
    """A flat index that records how deep each search went."""

    def __init__(self, index):
        self.index, self.depths, self.ntotal = index, [], index.ntotal

    def search(self, queries, k, **options):
        self.depths.append(k)
        return self.index.search(queries, k, **options)


def test_grouped_search_never_goes_deeper_than_k_times_the_most_photos():
    photos = np.zeros((40, 4), np.float32)
    photos[:, 0] = np.arange(40)
    groups = np.repeat(np.arange(10), 4)  # the 4 nearest photos are always one product's
    index = CountingIndex(build_index(photos, kind="flat"))

    _, g, _ = search_groups(index, photos[:1], 3, groups, max_per_group=4)

    assert g.tolist() == [[0, 1, 2]]
    assert index.depths == [12]  # started at k x mean photos = k x m here; done at once


def test_no_product_twice_and_k_products_under_filters_for_every_kind(products):
    for kind in KINDS:
        rec = with_index(products, kind)
        for item_id in rec.items.ids:
            found = rec.recommend_items([item_id], k=6)[0].results
            ids = [r.id for r in found]
            assert len(ids) == 6 and len(set(ids)) == 6 and item_id not in ids, kind
        # 6 Red or Blue products exist; the product itself is one of them for 201 (Red).
        for filters, expected in (({"Colour": ["Red", "Blue"]}, 5), ({"Colour": ["Green"]}, 3)):
            found = rec.recommend_items(["201"], k=10, filters=filters)[0].results
            assert len({r.id for r in found}) == len(found) == expected, (kind, filters)
        photo = rec.photo_embeddings[4] + 0.01
        found = rec.search(photo[None], k=12, collapse_duplicates=False)[0]
        assert sorted(r.id for r in found) == sorted(rec.items.ids), kind


def test_results_name_the_matched_photo_and_all_photos(products):
    # A query at photo 2 of product 202 matches that very photo.
    row = products.photo_row("202", 2)
    found = products.search(products.photo_embeddings[row][None], k=3)[0]

    assert found[0].id == "202" and found[0].photo == 2 and found[0].photos == [1, 2, 3]
    assert found[0].photo_path.endswith("202-2.jpg") and found[0].path.endswith("202-1.jpg")
    with pytest.raises(KeyError, match="no photo 7"):
        products.photo_row("202", 7)


def test_a_product_query_uses_all_its_photos_and_never_returns_itself(products):
    for combine in ("mean", "min"):
        for item_id in products.items.ids:
            found = products.recommend_items([item_id], k=11, combine=combine)[0].results
            assert item_id not in [r.id for r in found] and len(found) == 11
    with pytest.raises(ValueError, match="combine"):
        products.recommend_items(["201"], combine="max")


def test_profiles_rank_products_once_each(products):
    from lookalike.personal import Profile, recommend_profile

    profile = Profile(liked_rows=[0, 5])
    found = recommend_profile(products, profile, k=8)
    ids = [r.id for r in (found.results if hasattr(found, "results") else found)]
    assert len(ids) == len(set(ids))


def test_allowed_photos_are_the_photos_of_the_allowed_products(products):
    for allowed in ([0], [3, 1, 3], [], list(range(12)), [11, 99, -1]):
        want = np.flatnonzero(np.isin(products.photo_product, [a for a in allowed if 0 <= a < 12]))
        assert products.allowed_photos(np.array(allowed, np.int64)).tolist() == want.tolist()
    assert products.allowed_photos(None) is None


@pytest.mark.parametrize("kind", KINDS)
def test_the_centroid_route_returns_what_the_index_search_returns(products, kind):
    """Where the index search would be exact (flat; hnsw/ivfpq under a small filter), the
    Recommender answers from product centroids: the same products, photos and distances."""
    params = {"nlist": 2, "m": 4, "nbits": 4} if kind == "ivfpq" else {}
    rec = Recommender(
        products.data, products.encoder, build_index(products.photo_embeddings, kind=kind, **params)
    )
    rng = np.random.default_rng(1)
    queries = rec.photo_embeddings[::5] + 0.01 * rng.normal(size=rec.photo_embeddings[::5].shape)
    queries = queries.astype(np.float32)
    for allowed in (None, np.array([0, 2, 3, 5, 7, 8, 11])):
        if kind != "flat" and allowed is None:
            continue  # an approximate search: not the exact route
        assert rec._exact_grouping(None if allowed is None else len(rec.allowed_photos(allowed)))
        got = rec.nearest_products(queries, 5, allowed)
        want = search_groups(
            rec.index,
            queries,
            5,
            rec.photo_product,
            max_per_group=rec.max_photos,
            allowed=rec.allowed_photos(allowed),
        )
        assert np.array_equal(got[1], want[1]) and np.array_equal(got[2], want[2]), kind
        assert np.allclose(got[0], want[0], rtol=1e-5)


def test_an_added_photo_is_found_by_the_next_recommender(products, product_bundle, tmp_path):
    from lookalike.updates import add_photos

    bundle = tmp_path / "bundle"
    shutil.copytree(product_bundle, bundle, symlinks=True)
    old = Recommender.from_bundle(bundle)
    old.search(old.photo_embeddings[:1], k=3)  # its centroids and radii are built now
    # A photo far from every product's photos, given to product 203.
    image = tmp_path / "odd.png"
    draw_item("triangle", (250, 250, 0), 2).save(image)
    add_photos(bundle, "203", [image])

    new = Recommender.from_bundle(bundle)
    row = new.photo_row("203", 4)
    found = new.search(new.photo_embeddings[row][None], k=1)[0]
    assert found[0].id == "203" and found[0].photo == 4 and found[0].distance == approx(0.0)
    offsets, members = new.group_bounds()[:2]
    product = new.row("203")
    assert row in members[offsets[product] : offsets[product + 1]]
    assert len(old.photos) == 36 and len(new.photos) == 37


# --- pure helpers -----------------------------------------------------------------------------
def test_product_vectors_keep_a_single_photo_exactly_and_average_several():
    photos = np.array([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]], np.float32)
    vectors = product_vectors(photos, np.array([0, 1, 1]), 2)

    assert vectors[0].tolist() == [3.0, 4.0]
    # mean of (1, 0) and (0, 1), scaled to the photos' mean length 1.5
    assert vectors[1] == pytest.approx(np.array([1, 1]) / np.sqrt(2) * 1.5)


def test_join_groups_unites_a_products_photos_and_identical_files():
    # photos 0,1 of product 0; photo 2 of product 1 is byte-identical to photo 1.
    groups = join_groups(np.array([0, 1, 1, 2]), np.array([0, 0, 1, 2]))
    assert groups.tolist() == [0, 0, 0, 2]


def test_merge_nearest_takes_each_ids_smallest_distance():
    from lookalike.recommend import Recommendation

    def rec(item_id, distance):
        return Recommendation(item_id, distance, 0, {}, "")

    merged = merge_nearest([[rec("a", 0.5), rec("b", 0.6)], [rec("b", 0.1), rec("c", 0.7)]], 2)
    assert [(r.id, r.distance, r.rank) for r in merged] == approx_tree(
        [("b", 0.1, 1), ("a", 0.5, 2)]
    )


def test_exact_duplicate_photos_across_products_collapse(product_catalog, tmp_path):
    """A photo of product 202 copied byte for byte as a photo of product 212: the two
    products are one duplicate group, shown once and named in ``duplicates``."""
    from lookalike.pipeline import BuildConfig, build_bundle
    from tests.conftest import TINY_CAE

    catalog = tmp_path / "catalog"
    shutil.copytree(product_catalog, catalog)
    shutil.copy(catalog / "202-1.jpg", catalog / "212-9.jpg")
    with open(catalog / "fashion.csv", "a") as handle:
        handle.write("212,Women,Triangle,Black,212-9.jpg\n")  # Gender disagrees
    build_bundle(
        BuildConfig(catalog=str(catalog), encoder="cae", encoder_options=dict(TINY_CAE)),
        tmp_path / "b",
        progress=False,
    )
    rec = Recommender.from_bundle(tmp_path / "b")
    report = json.loads((rec.data.version_dir / "build_report.json").read_text())
    assert ["202", "212"] in report["exact_duplicate_groups"]
    assert any("212" in p and "disagrees" in p for p in report["catalog_problems"])
    assert rec.exact_group[rec.row("202")] == rec.exact_group[rec.row("212")]
    found = rec.search(rec.photo_embeddings[rec.photo_row("202", 1)][None], k=5)[0]
    ids = [r.id for r in found]
    assert ("202" in ids) != ("212" in ids)
    assert "212" in found[0].duplicates or "202" in found[0].duplicates


def test_milvus_groups_by_product_inside_its_search(products, tmp_path):
    pytest.importorskip("pymilvus", reason="the milvus extra is not installed")
    pytest.importorskip("milvus_lite", reason="the milvus extra is not installed")
    rows = [(products.items.ids[p], products.items.metadata[p]) for p in products.photo_product]
    index = build_index(
        products.photo_embeddings, kind="milvus", uri=str(tmp_path / "m.db"), rows=rows
    )
    rec = Recommender(products.data, products.encoder, index)
    for item_id in ("201", "207", "212"):
        found = rec.recommend_items([item_id], k=6)[0].results
        ids = [r.id for r in found]
        assert len(ids) == 6 and len(set(ids)) == 6 and item_id not in ids
    found = rec.recommend_items(["201"], k=10, filters={"Colour": ["red", "Blue"]})[0].results
    assert len({r.id for r in found}) == len(found) == 5
    assert {r.metadata["Colour"] for r in found} <= {"Red", "Blue"}


def test_evaluate_reports_the_product_as_the_unit(product_bundle, tmp_path):
    from lookalike.report import evaluate_bundle

    payload = evaluate_bundle(
        product_bundle, out_dir=tmp_path, baselines=False, robustness=False, progress=False
    )

    names = [r["name"] for r in payload["results"]]
    assert len(names) == 2 and "photos ask, products answer" in names[1]
    assert payload["results"][1]["queries"] == 36  # every photo of every product
    assert 0.0 <= payload["results"][1]["metrics"]["P@1 ProductType"] <= 1.0
    assert "photos ask, products answer" in (tmp_path / "report.md").read_text()


def test_a_manifest_with_several_rows_per_id_gives_photos(tmp_path):
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        draw_item("circle", (0, 200, 0), 0).save(tmp_path / name)
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "id,image,Colour\nP,a.jpg,Green\nP,b.jpg,Green\nQ,c.jpg,Red\nP,a.jpg,Green\n"
    )

    catalog = read_catalog(manifest)

    assert [(i.id, [Path(p).name for p in i.photos]) for i in catalog.items] == [
        ("P", ["a.jpg", "b.jpg"]),
        ("Q", ["c.jpg"]),
    ]
    assert any("row 5" in p and "already used" in p for p in catalog.problems)
