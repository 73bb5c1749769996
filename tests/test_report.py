"""lookalike.report: the pieces of `lookalike evaluate` (the whole report is tested through
the CLI in tests/cli/test_evaluate.py and on the shared catalog in tests/test_integration.py)."""

from __future__ import annotations

import numpy as np
import pytest

import lookalike
from lookalike.bundle import read_bundle
from lookalike.report import (
    aligned_embeddings,
    degraded_copy_recall,
    group_keys_for,
    raw_pixel_embeddings,
)
from tests.tolerances import approx


@pytest.fixture(scope="module")
def rec(tiny_bundle):
    return lookalike.load(tiny_bundle)


def test_group_keys_use_duplicates_csv_groups_else_content_hashes(rec, tmp_path):
    first = rec.items.ids[0]
    (tmp_path / "duplicates.csv").write_text(f"ProductId,duplicate_group\n{first},g1\n")

    keys = group_keys_for(rec, tmp_path)

    assert keys[0] == "group:g1"
    assert keys[1] == f"hash:{rec.items.content_hashes[1]}"
    assert group_keys_for(rec, None)[0] == f"hash:{rec.items.content_hashes[0]}"


def test_raw_pixel_embeddings_are_flattened_pixels_and_zero_for_unreadable_files(rec, tmp_path):
    junk = tmp_path / "junk.jpg"
    junk.write_text("not an image")

    vectors = raw_pixel_embeddings([rec.items.paths[0], str(junk)], size=8)

    assert vectors.shape == (2, 8 * 8 * 3) and vectors.dtype == np.float32
    assert 0.0 <= vectors[0].min() and vectors[0].max() <= 1.0 and vectors[0].any()
    assert not vectors[1].any()


def test_aligned_embeddings_follow_the_given_ids(tiny_bundle):
    data = read_bundle(tiny_bundle)
    ids = list(reversed(data.items.ids))

    _, vectors = aligned_embeddings(tiny_bundle, ids)

    assert np.array_equal(vectors, data.embeddings[::-1])
    with pytest.raises(ValueError, match="lacks 1 items"):
        aligned_embeddings(tiny_bundle, [*ids, "no-such-id"])


def test_degraded_copy_recall_gives_a_rate_per_degradation_and_their_mean(rec):
    keys = group_keys_for(rec, None)

    recall = degraded_copy_recall(rec, np.arange(len(rec.items.ids)), keys)

    assert "mean" in recall and len(recall) > 2
    for rates in recall.values():
        assert 0.0 <= rates["recall@1"] <= rates["recall@10"] <= 1.0


def test_outside_photos_are_scored_by_the_catalog_labels(rec, tiny_catalog, tmp_path):
    from lookalike.report import evaluate_queries_folder
    from tests.test_labelled import make_labelled_folder

    # Exact copies of catalog photos: the nearest item is the photo itself, so P@1 is 1.
    ids = ["101", "104", "110", "113", "118", "121"]
    folder = make_labelled_folder(tmp_path / "q", tiny_catalog, ids, ["dev"] * 5 + ["archive"])

    out = evaluate_queries_folder(rec, folder, "auto", min_type_items=1)

    assert out["split"] == "dev" and out["photos"] == 5 and out["scored"] == 5
    metrics = out["metrics"]
    assert metrics["all"]["P@1 ProductType"] == approx(1.0)
    assert set(metrics) == {"all", "Apparel", "Footwear"}
    assert metrics["Apparel"]["queries"] + metrics["Footwear"]["queries"] == 5
    assert 0.0 <= metrics["all"]["P@10 ProductType+Colour"] <= metrics["all"]["P@10 Colour"]
    # Types with too few catalog items are left out (8 per shape here).
    assert evaluate_queries_folder(rec, folder, None, min_type_items=9)["scored"] == 0


# --- folders of other vocabularies: type_map.csv, and street photos with label maps -------
TYPES = "Circle;Square;Triangle"  # every type of the tiny catalog: P@k is 1 exactly
NO_TYPE = "Hexagon"  # no item has it: P@k is 0 exactly


def make_mapped_folder(root, catalog):
    """An amateur-photos-like folder: copies of catalog photos labelled in another
    vocabulary (label, kids, split) with a type_map.csv. Dev photos: two ``any`` (answered
    by every type), one ``none`` (answered by no type), one ``own`` (answered by its own
    type, Circle), one unmapped label and one kids' garment; one archive photo."""
    import shutil

    (root / "images").mkdir(parents=True)
    rows = [
        ("q0", "101", "any", "False", "dev"),
        ("q1", "110", "any", "False", "dev"),
        ("q2", "118", "none", "False", "dev"),
        ("q3", "102", "own", "False", "dev"),
        ("q4", "103", "mystery", "False", "dev"),
        ("q5", "111", "any", "True", "dev"),
        ("q6", "104", "any", "False", "archive"),
    ]
    for photo, item, *_ in rows:
        shutil.copy(next(catalog.rglob(f"{item}.jpg")), root / "images" / f"{photo}.jpg")
    lines = ["id,label,kids,split"] + [f"{p},{label},{kids},{s}" for p, _, label, kids, s in rows]
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    (root / "type_map.csv").write_text(
        f"label,producttypes\nany,{TYPES}\nnone,{NO_TYPE}\nown,Circle\n"
    )
    return root


#: The masked folder's label numbers.
MASK_LABELS = {0: "null", 1: "skin", 2: "shirt", 3: "shoes", 4: "bag"}


def masked_photo_mask(photo: str) -> np.ndarray:
    """The label map (80 x 60) of each photo of :func:`make_masked_folder`."""
    mask = np.zeros((80, 60), np.uint8)
    if photo == "s1":  # a shirt and shoes
        mask[10:40, 10:50] = 2
        mask[70:78, 5:25] = 3
    elif photo == "s2":  # shoes, and a shirt too small to count (4 px < 1.5% of 4,800)
        mask[60:75, 20:40] = 3
        mask[0:2, 0:2] = 2
    elif photo in ("s4", "s5"):  # a bag only: no garment
        mask[20:60, 20:40] = 4
    return mask


def make_masked_folder(root):
    """A street-photos-like folder: photos with label maps (masks/<id>.png), mask_labels.csv,
    labels.csv (annotation mask or tags, split) and type_map.csv: ``shirt`` answered by every
    type, ``shoes`` by none. Dev: s1 (shirt + shoes), s2 (shoes), s3 (tags only), s5 (a bag);
    train: s4."""
    from PIL import Image

    from tests.conftest import random_image

    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rows = [("s1", "mask", "dev"), ("s2", "mask", "dev"), ("s3", "tags", "dev"),
            ("s4", "mask", "train"), ("s5", "mask", "dev")]  # fmt: skip
    for n, (photo, annotation, _) in enumerate(rows):
        random_image(root / "images" / f"{photo}.jpg", size=(60, 80), seed=n)
        if annotation == "mask":
            Image.fromarray(masked_photo_mask(photo), "L").save(root / "masks" / f"{photo}.png")
    lines = ["id,annotation,tags,split"] + [f"{p},{a},shirt,{s}" for p, a, s in rows]
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    (root / "mask_labels.csv").write_text(
        "value,label\n" + "".join(f"{v},{name}\n" for v, name in MASK_LABELS.items())
    )
    (root / "type_map.csv").write_text(f"label,producttypes\nshirt,{TYPES}\nshoes,{NO_TYPE}\n")
    return root


def test_query_protocol_follows_the_folder_layout(tiny_catalog, tmp_path):
    from lookalike.report import query_protocol
    from tests.test_labelled import make_labelled_folder

    shopper = make_labelled_folder(tmp_path / "q", tiny_catalog, ["101"], ["dev"])
    assert query_protocol(shopper) == "shopper"
    assert query_protocol(make_mapped_folder(tmp_path / "m", tiny_catalog)) == "type_map"
    assert query_protocol(make_masked_folder(tmp_path / "s")) == "street_masks"


def test_type_mapped_photos_are_scored_per_label_and_over_labels(rec, tiny_catalog, tmp_path):
    from lookalike.report import evaluate_queries_folder

    folder = make_mapped_folder(tmp_path / "m", tiny_catalog)

    out = evaluate_queries_folder(rec, folder, "auto")

    assert out["protocol"] == "type_map" and out["split"] == "dev"
    assert out["photos"] == 6 and out["scored"] == 4
    assert out["unmapped"] == 1 and out["kids"] == 1
    metrics = out["metrics"]
    assert list(metrics["labels"]) == ["any", "none", "own"]
    labels = metrics["labels"]
    assert labels["any"]["queries"] == 2
    assert labels["any"]["P@1 ProductType"] == approx(1.0)
    assert labels["any"]["P@10 ProductType"] == approx(1.0)
    assert labels["none"]["P@1 ProductType"] == approx(0.0)
    assert labels["none"]["P@10 ProductType"] == approx(0.0)
    # ``own`` is an exact copy of a Circle: its first result is that Circle.
    assert labels["own"]["P@1 ProductType"] == approx(1.0)
    own = labels["own"]["P@10 ProductType"]
    assert metrics["all"]["P@1 ProductType"] == approx(3 / 4)
    assert metrics["all"]["P@10 ProductType"] == approx((2 + 0 + own) / 4)
    mean = metrics["mean over labels"]
    assert mean["labels"] == 3
    assert mean["P@1 ProductType"] == approx(2 / 3)
    assert mean["P@10 ProductType"] == approx((1 + 0 + own) / 3)
    assert metrics["groups"] == {}  # the tiny catalog has no Category column
    assert set(out["result_ids"]) == {"q0", "q1", "q2", "q3"}


def test_masked_street_photos_garment_crops_and_whole_photos(rec, tmp_path, monkeypatch):
    from lookalike.recommend import Recommender
    from lookalike.report import evaluate_queries_folder

    monkeypatch.setattr(Recommender, "recommend_look", None, raising=False)
    folder = make_masked_folder(tmp_path / "s")

    out = evaluate_queries_folder(rec, folder, "auto")

    assert out["protocol"] == "street_masks" and out["split"] == "dev"
    assert out["photos"] == 4 and out["masked"] == 3 and out["garments"] == 3
    crop = out["metrics"]["garment crop"]
    assert {n: m["queries"] for n, m in crop["labels"].items()} == {"shoes": 2, "shirt": 1}
    assert crop["labels"]["shirt"]["P@10 ProductType"] == approx(1.0)
    assert crop["labels"]["shoes"]["P@10 ProductType"] == approx(0.0)
    assert crop["all"]["P@10 ProductType"] == approx(1 / 3)
    assert crop["mean over labels"]["P@10 ProductType"] == approx(0.5)
    # Whole photos: s1 wears a shirt (every type answers), s2 only shoes (none does).
    whole = out["metrics"]["whole photo"]["all"]
    assert whole["queries"] == 2 and whole["P@10 ProductType"] == approx(0.5)
    assert out["metrics"]["shop the look"] == {"available": False}


def test_shop_the_look_matches_regions_by_iou_and_checks_the_first_result(tmp_path):
    from types import SimpleNamespace

    from lookalike.garment_boxes import garment_boxes
    from lookalike.report import shop_the_look

    def results(kind):
        return [SimpleNamespace(metadata={"ProductType": kind})] * 10

    type_map = {"shirt": TYPES.split(";"), "shoes": [NO_TYPE]}
    worn = [
        (SimpleNamespace(id=p, path=tmp_path / f"{p}.jpg"),
         garment_boxes(masked_photo_mask(p), MASK_LABELS, type_map))
        for p in ("s1", "s2")
    ]  # fmt: skip
    boxes = {item.path.name: dict(garments) for item, garments in worn}

    def recommend_look(paths, k=10, **_):
        s1, s2 = boxes["s1.jpg"], boxes["s2.jpg"]
        far = (0.9, 0.0, 0.1, 0.1)  # IoU < 0.4 with the shoes of s1: not matched
        return [
            SimpleNamespace(error=None, garments=[
                SimpleNamespace(box=s1["shirt"], kind="top", results=results("Square")),
                SimpleNamespace(box=far, kind="shoes", results=results(NO_TYPE)),
            ]),
            SimpleNamespace(error=None, garments=[
                SimpleNamespace(box=s2["shoes"], kind="shoes", results=results("Circle")),
            ]),
        ][: len(paths)]  # fmt: skip

    look = shop_the_look(SimpleNamespace(recommend_look=recommend_look), worn, type_map)

    assert look["available"] is True and look["photos"] == 2
    assert look["garments"] == 3 and look["matched"] == 2
    assert look["found"] == approx(1 / 3)  # the shirt; s2's shoes matched but wrongly answered
    assert look["P@10 ProductType"] == approx(0.5)
    assert look["regions"] == approx(1.5)
    assert shop_the_look(SimpleNamespace(), worn, type_map) == {"available": False}
