"""lookalike.recommend: queries by item and by image, filters, exclusions and duplicates."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import lookalike
from lookalike.encoders.cae import CAEEncoder
from lookalike.pipeline import BuildConfig, build_bundle
from lookalike.recommend import MAX_K, FilterError, Recommender, UnknownItemError
from tests.conftest import TINY_CAE, make_catalog, random_image

COPY_ID = "900"  # a byte-identical copy of item 101 under another id


@pytest.fixture(scope="module")
def rec(tiny_bundle) -> Recommender:
    return lookalike.load(tiny_bundle)


@pytest.fixture(scope="module")
def dup_rec(tiny_bundle, tmp_path_factory) -> Recommender:
    """The tiny catalog plus item 900, an identical copy of 101 (reusing the tiny encoder)."""

    def copy_101(catalog: Path) -> None:
        shutil.copyfile(catalog / "Apparel" / "101.jpg", catalog / "Apparel" / f"{COPY_ID}.jpg")

    row = f"{COPY_ID},Women,Circle,Red,Red circle copy,{COPY_ID}.jpg"
    return tiny_plus_one(tiny_bundle, tmp_path_factory.mktemp("dup"), copy_101, row)


def tiny_plus_one(tiny_bundle: Path, root: Path, add_image, csv_row: str) -> Recommender:
    """A bundle of the tiny catalog plus one item (``add_image(catalog)`` writes its photo,
    ``csv_row`` is its fashion.csv line), encoded with the tiny bundle's encoder: no
    training, so the catalogs differ only by that item."""
    catalog = make_catalog(root / "cat")
    add_image(catalog)
    with open(catalog / "fashion.csv", "a") as handle:
        handle.write(csv_row + "\n")
    trained = CAEEncoder.load(tiny_bundle / "work" / "trained" / "cae")
    config = BuildConfig(catalog=str(catalog), encoder="cae", encoder_options=dict(TINY_CAE))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CAEEncoder, "fit", classmethod(lambda cls, data, config: trained))
        build_bundle(config, root / "bundle", progress=False)
    return lookalike.load(root / "bundle")


def result_ids(result) -> list[str]:
    return [r.id for r in result.results]


def catalog_path(rec: Recommender, item_id: str) -> str:
    return rec.items.paths[rec.row(item_id)]


# --- by item ----------------------------------------------------------------------------------
def test_recommend_items_ranks_by_distance_and_never_returns_the_query(rec):
    [result] = rec.recommend_items(["101"], k=23)

    assert result.query == "101" and result.error is None
    assert "101" not in result_ids(result)
    assert sorted(result_ids(result)) == sorted(set(rec.items.ids) - {"101"})
    distances = [r.distance for r in result.results]
    assert distances == sorted(distances)
    assert [r.rank for r in result.results] == list(range(1, 24))


def test_recommend_items_distances_are_euclidean_between_embeddings(rec):
    [result] = rec.recommend_items(["110"], k=3)

    query = rec.embeddings[rec.row("110")]
    for r in result.results:
        expected = np.linalg.norm(rec.embeddings[rec.row(r.id)] - query)
        assert r.distance == pytest.approx(expected, rel=1e-3, abs=1e-4)
        assert r.metadata == rec.items.metadata[rec.row(r.id)]
        assert r.path == catalog_path(rec, r.id)


def test_several_items_in_one_call_keep_their_order(rec):
    results = rec.recommend_items(["120", "101", "113"], k=4)

    assert [r.query for r in results] == ["120", "101", "113"]
    for result in results:
        assert len(result.results) == 4
        assert result.query not in result_ids(result)


def test_unknown_item_id_raises(rec):
    with pytest.raises(UnknownItemError) as caught:
        rec.recommend_items(["101", "no-such-id"])

    assert isinstance(caught.value, KeyError)
    assert str(caught.value) == "unknown item id 'no-such-id'"


@pytest.mark.parametrize("k", [0, -1, MAX_K + 1])
def test_k_out_of_bounds_raises(rec, k):
    with pytest.raises(ValueError, match="k must be between"):
        rec.recommend_items(["101"], k=k)


def test_k_larger_than_the_catalog_returns_every_other_item(rec):
    [result] = rec.recommend_items(["105"], k=MAX_K)

    assert len(result.results) == len(rec) - 1


# --- filters ----------------------------------------------------------------------------------
def reds(rec: Recommender) -> set[str]:
    return {
        i for i, m in zip(rec.items.ids, rec.items.metadata, strict=True) if m["Colour"] == "Red"
    }


def test_filter_returns_k_results_when_k_matching_items_exist(rec):
    assert len(reds(rec)) == 6
    # A blue query: its nearest neighbours are mostly not red, yet five reds come back.
    [result] = rec.recommend_items(["105"], k=5, filters={"Colour": ["Red"]})

    assert len(result.results) == 5
    assert set(result_ids(result)) <= reds(rec)


def test_filter_on_the_query_own_value_excludes_only_the_query(rec):
    [result] = rec.recommend_items(["101"], k=5, filters={"Colour": ["Red"]})

    assert set(result_ids(result)) == reds(rec) - {"101"}


def test_filter_values_are_case_insensitive_and_any_of(rec):
    [upper] = rec.recommend_items(["113"], k=10, filters={"Colour": ["Red", "Blue"]})
    [lower] = rec.recommend_items(["113"], k=10, filters={"Colour": [" red", "BLUE"]})

    assert len(upper.results) == 10
    assert {r.metadata["Colour"] for r in upper.results} == {"Red", "Blue"}
    assert result_ids(lower) == result_ids(upper)


def test_filters_on_several_columns_must_all_match(rec):
    [result] = rec.recommend_items(
        ["120"], k=5, filters={"Colour": ["Red"], "ProductType": ["Circle"]}
    )

    # Only 101 and 102 are red circles: fewer than k exist, so fewer come back.
    assert sorted(result_ids(result)) == ["101", "102"]


def test_filter_matching_nothing_gives_an_empty_list(rec):
    [result] = rec.recommend_items(["101"], k=5, filters={"Colour": ["Purple"]})

    assert result.results == [] and result.error is None


def test_empty_filter_values_mean_no_filter(rec):
    [plain] = rec.recommend_items(["101"], k=5)
    [empty] = rec.recommend_items(["101"], k=5, filters={"Colour": []})

    assert result_ids(empty) == result_ids(plain)


def test_unknown_filter_column_raises_filter_error(rec):
    with pytest.raises(FilterError, match="unknown filter column 'Material'.*Colour"):
        rec.recommend_items(["101"], k=5, filters={"Material": ["Cotton"]})


# --- by image ---------------------------------------------------------------------------------
def test_a_catalog_image_finds_its_own_item_first(rec):
    for item_id in ("101", "118"):
        [result] = rec.recommend_images([catalog_path(rec, item_id)], k=3)

        assert result.results[0].id == item_id
        assert result.results[0].distance == pytest.approx(0, abs=1e-3)
        assert result.results[1].distance > 1e-3


def test_an_unreadable_image_gives_an_error_without_breaking_the_others(rec, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"definitely not a jpeg")
    sources = [str(bad), catalog_path(rec, "110"), str(tmp_path / "missing.jpg")]

    results = rec.recommend_images(sources, k=2)

    assert [r.query for r in results] == sources
    assert results[0].error and "bad.jpg" in results[0].error and results[0].results == []
    assert results[1].error is None and results[1].results[0].id == "110"
    assert results[2].error and results[2].results == []
    assert json.loads(json.dumps(results[0].to_dict()))["error"] == results[0].error
    assert "error" not in results[1].to_dict()


def test_images_as_bytes_with_names(rec, tmp_path):
    noise = random_image(tmp_path / "noise.png", size=(50, 70), seed=3).read_bytes()
    item = Path(catalog_path(rec, "107")).read_bytes()

    results = rec.recommend_images([noise, item], k=3, names=["upload-1", "upload-2"])

    assert [r.query for r in results] == ["upload-1", "upload-2"]
    assert len(results[0].results) == 3
    assert results[1].results[0].id == "107"


def test_image_queries_honour_filters(rec):
    [result] = rec.recommend_images(
        [catalog_path(rec, "101")], k=4, filters={"ProductType": ["square"]}
    )

    assert len(result.results) == 4
    assert {r.metadata["ProductType"] for r in result.results} == {"Square"}


# --- byte-identical duplicates ----------------------------------------------------------------
@pytest.mark.parametrize("collapse", [True, False])
def test_an_item_never_recommends_its_identical_copy(dup_rec, collapse):
    for query, copy in (("101", COPY_ID), (COPY_ID, "101")):
        [result] = dup_rec.recommend_items(
            [query], k=len(dup_rec) - 1, collapse_duplicates=collapse
        )

        assert query not in result_ids(result)
        assert copy not in result_ids(result)
        assert len(result.results) == len(dup_rec) - 2


def test_collapsing_keeps_one_of_two_identical_images(dup_rec):
    [collapsed] = dup_rec.recommend_items(["102"], k=len(dup_rec))
    [kept] = dup_rec.recommend_items(["102"], k=len(dup_rec), collapse_duplicates=False)

    assert len({"101", COPY_ID} & set(result_ids(collapsed))) == 1
    assert {"101", COPY_ID} <= set(result_ids(kept))
    by_id = {r.id: r.distance for r in kept.results}
    assert by_id["101"] == pytest.approx(by_id[COPY_ID], abs=1e-5)
    assert len(kept.results) == len(collapsed.results) + 1


def test_collapsed_results_still_fill_k(dup_rec):
    [result] = dup_rec.recommend_items(["102"], k=5)

    assert len(result.results) == 5
    assert len(set(result_ids(result))) == 5


def test_an_image_query_of_a_duplicated_file(dup_rec):
    path = catalog_path(dup_rec, "101")

    [collapsed] = dup_rec.recommend_images([path], k=3)
    [kept] = dup_rec.recommend_images([path], k=3, collapse_duplicates=False)

    assert collapsed.results[0].id in {"101", COPY_ID}
    assert collapsed.results[0].distance == pytest.approx(0, abs=1e-3)
    assert not {"101", COPY_ID} <= set(result_ids(collapsed))
    assert set(result_ids(kept)[:2]) == {"101", COPY_ID}


def test_metadata_columns_and_lengths(rec, dup_rec):
    assert len(rec) == 24 and len(dup_rec) == 25
    assert rec.metadata_columns == ["Gender", "ProductType", "Colour", "ProductTitle"]
    assert rec.row("124") == 23
    assert rec.item(0).id == "101"


# --- near-identical photos --------------------------------------------------------------------
NEAR_ID = "901"  # item 101's photo, re-encoded and nudged: a different file, the same design


@pytest.fixture(scope="module")
def near_rec(tiny_bundle, tmp_path_factory) -> Recommender:
    """The tiny catalog plus item 901, a re-encoded copy of 101 (not byte-identical)."""

    def reencode_101(catalog: Path) -> None:
        with Image.open(catalog / "Apparel" / "101.jpg") as original:
            image = original.convert("RGB")
        image.putpixel((0, 0), (250, 250, 250))
        image.save(catalog / "Apparel" / f"{NEAR_ID}.jpg", quality=85)

    row = f"{NEAR_ID},Men,Circle,Red,Red circle again,{NEAR_ID}.jpg"
    return tiny_plus_one(tiny_bundle, tmp_path_factory.mktemp("near"), reencode_101, row)


def test_near_identical_photos_share_a_duplicate_group(near_rec):
    row, near = near_rec.row("101"), near_rec.row(NEAR_ID)

    assert near_rec.exact_group[row] != near_rec.exact_group[near]
    assert near_rec.duplicate_group[row] == near_rec.duplicate_group[near]
    assert near_rec.duplicates_of(row) == [near]
    # Different designs stay apart: every other item is its own group.
    assert len(set(near_rec.duplicate_group.tolist())) == len(near_rec) - 1
    assert near_rec.typical_distance > 0


def test_near_duplicates_count_once_and_stay_reachable(near_rec):
    [collapsed] = near_rec.recommend_items(["102"], k=len(near_rec))
    [kept] = near_rec.recommend_items(["102"], k=len(near_rec), collapse_duplicates=False)

    pair = {"101", NEAR_ID}
    shown = pair & set(result_ids(collapsed))
    assert len(shown) == 1
    [card] = [r for r in collapsed.results if r.id in shown]
    assert card.duplicates == list(pair - shown)
    assert pair <= set(result_ids(kept))
    assert all(r.duplicates == [] for r in kept.results)
    assert len(kept.results) == len(collapsed.results) + 1


def test_an_item_query_skips_its_near_copy_unless_duplicates_are_allowed(near_rec):
    [collapsed] = near_rec.recommend_items(["101"], k=5)
    [kept] = near_rec.recommend_items(["101"], k=5, collapse_duplicates=False)

    assert NEAR_ID not in result_ids(collapsed) and len(collapsed.results) == 5
    assert kept.results[0].id == NEAR_ID
    assert kept.results[0].match == "same"


def test_collapsed_duplicates_honour_the_filters(near_rec):
    # 901 is a Men's item, 101 a Women's: filtered to Women, 101 stands for nobody.
    [result] = near_rec.recommend_items(["102"], k=len(near_rec), filters={"Gender": ["Women"]})

    [card] = [r for r in result.results if r.id == "101"]
    assert card.duplicates == []
    assert NEAR_ID not in result_ids(result)


def test_match_words_follow_the_typical_distance(rec):
    typical = rec.typical_distance
    assert typical > 0
    assert rec.match_word(0.0) == "same"
    assert rec.match_word(0.5 * typical) == "close"
    assert rec.match_word(1.45 * typical) == "similar"
    assert rec.match_word(5 * typical) == "distant"
    [result] = rec.recommend_items(["101"], k=23)
    words = [r.match for r in result.results]
    order = ["same", "close", "similar", "distant"]
    assert [order.index(w) for w in words] == sorted(order.index(w) for w in words)
    assert result.to_dict()["results"][0].keys() >= {"match", "duplicates"}
