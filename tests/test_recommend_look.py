"""lookalike.recommend: shop the look (``recommend_look``), with a stand-in parser."""

from __future__ import annotations

import pytest
from PIL import Image

import lookalike
from lookalike.parsing import Garment
from tests.test_recommend_crop import side_by_side


class HalvesParser:
    """Finds a top in the left half and a bag in the right half of every photo."""

    def __init__(self, garments=None):
        self.garments = garments
        self.seen = []

    def parse(self, images):
        self.seen.append([image.size for image in images])
        if self.garments is not None:
            return [list(self.garments) for _ in images]
        return [
            [
                Garment("top", (0.0, 0.0, 0.5, 1.0), 0.3, 0.9),
                Garment("bag", (0.5, 0.0, 0.5, 1.0), 0.4, 0.9),
            ]
            for _ in images
        ]


@pytest.fixture()
def rec(tiny_bundle):
    recommender = lookalike.load(tiny_bundle)
    recommender._garment_parser = HalvesParser()
    return recommender


def test_each_garment_is_answered_from_its_own_box(rec, tmp_path):
    photo = side_by_side(rec, "101", "111", tmp_path / "two.png")  # red circle | blue square

    [look] = rec.recommend_look([photo], k=3)

    assert look.error is None and [g.kind for g in look.garments] == ["top", "bag"]
    assert look.garments[0].results[0].id == "101"
    assert look.garments[1].results[0].id == "111"
    assert all(len(g.results) == 3 for g in look.garments)
    assert look.main == 0  # the worn garment, though the bag is larger
    payload = look.to_dict()
    assert payload["main"] == 0 and payload["garments"][1]["box"] == [0.5, 0.0, 0.5, 1.0]
    assert payload["garments"][0]["results"][0]["id"] == "101"


def test_a_photo_without_garments_is_answered_whole(rec, tmp_path):
    rec._garment_parser = HalvesParser(garments=[])
    photo = rec.item(rec.row("101")).path

    [look] = rec.recommend_look([photo], k=2)
    [plain] = rec.recommend_images([photo], k=2, focus=False)

    assert [g.kind for g in look.garments] == ["photo"] and look.main == 0
    assert look.garments[0].box == (0.0, 0.0, 1.0, 1.0)
    assert look.garments[0].results[0].id == plain.results[0].id == "101"


def test_unreadable_photos_filters_and_limits(rec, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    photo = side_by_side(rec, "101", "111", tmp_path / "two.png")

    broken, look = rec.recommend_look([bad, photo], k=2, max_garments=1, names=["b", "p"])

    assert broken.error and broken.garments == [] and broken.query == "b"
    assert look.query == "p" and [g.kind for g in look.garments] == ["top"]
    assert len(rec._garment_parser.seen[-1]) == 1  # one parser batch, readable photos only
    with pytest.raises(ValueError, match="max_garments"):
        rec.recommend_look([photo], max_garments=0)


def test_photos_are_decoded_large_enough_for_small_garments(rec, tmp_path):
    big = tmp_path / "big.png"
    Image.new("RGB", (2000, 1000), "white").save(big)
    rec.recommend_look([big], k=1)
    [[size]] = rec._garment_parser.seen
    assert max(size) >= rec.encoder.input_size * 3 or size == (2000, 1000)
