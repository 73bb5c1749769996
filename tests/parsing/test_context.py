"""lookalike.parsing.context: catalog products pasted over the garments a parser finds in
context photos (a stand-in parser here; the shipped one is tested in test_model.py)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.parsing import context as context_module
from lookalike.parsing.context import context_composites, context_photo_paths
from lookalike.parsing.regions import Garment


class StandInParser:
    """Finds a top in the upper half and shoes at the bottom of every photo."""

    def __init__(self) -> None:
        self.calls = 0

    def parse(self, images):
        self.calls += 1
        return [
            [
                Garment("top", (0.25, 0.1, 0.5, 0.4), 0.2, 0.9),
                Garment("shoes", (0.3, 0.85, 0.4, 0.1), 0.03, 0.8),
                Garment("bag", (0.0, 0.0, 0.2, 0.2), 0.04, 0.9),  # not worn: never used
            ]
            for _ in images
        ]


def write_photos(folder: Path, names: list[str], colour=(40, 90, 160)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.new("RGB", (60, 80), colour).save(folder / name)


def catalog_images() -> np.ndarray:
    """Three 32 px letterboxed catalog shots: a tall red product, a wide blue one, blank."""
    images = np.full((3, 32, 32, 3), 255, np.uint8)
    images[0, 4:28, 10:22] = (200, 20, 20)
    images[1, 12:20, 2:30] = (20, 20, 200)
    return images


def test_a_labelled_folder_gives_only_its_training_split(tmp_path):
    labelled = tmp_path / "street"
    write_photos(labelled / "images", ["a.jpg", "b.jpg", "c.jpg"])
    with open(labelled / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "split", "producttype"])
        writer.writerows([["a", "train", "x"], ["b", "dev", "x"], ["c", "train", "x"]])
    plain = tmp_path / "rooms"
    write_photos(plain / "sub", ["z.png", "y.jpg"])
    (plain / "notes.txt").write_text("not a photo")
    paths = context_photo_paths([labelled, plain])
    assert [p.name for p in paths] == ["a.jpg", "c.jpg", "y.jpg", "z.png"]  # never dev
    with pytest.raises(FileNotFoundError, match="context photo folder not found"):
        context_photo_paths([tmp_path / "missing"])


def test_composites_put_each_product_into_a_context_photo(tmp_path, monkeypatch):
    folder = tmp_path / "photos"
    write_photos(folder, ["p1.jpg", "p2.jpg"])
    parser = StandInParser()
    sources, composites = context_composites(
        catalog_images(), [0, 1, 2], [folder], per_item=2, size=32, resize="bilinear",
        seed=0, parser=parser, cache_dir=tmp_path / "cache",
    )  # fmt: skip
    # The blank shot (row 2) is skipped; the others twice each.
    assert sources.tolist() == [0, 0, 1, 1]
    assert composites.shape == (4, 32, 32, 3) and composites.dtype == np.uint8
    for image in composites:
        # The context photo shows round the product (its colour, give or take JPEG's noise).
        near_context = (np.abs(image.astype(int) - (40, 90, 160)) < 12).all(axis=2)
        assert near_context.any()
    assert (composites[:2, :, :, 0] > 150).any() and (composites[2:, :, :, 2] > 150).any()
    # Same seed, same composites; the parser's regions come from the cache the second time.
    again_sources, again = context_composites(
        catalog_images(), [0, 1, 2], [folder], per_item=2, size=32, resize="bilinear",
        seed=0, parser=parser, cache_dir=tmp_path / "cache",
    )  # fmt: skip
    assert parser.calls == 1
    assert again_sources.tolist() == sources.tolist() and np.array_equal(again, composites)
    # Photos that decode differently now (DECODE_VERSION) are parsed again.
    monkeypatch.setattr(context_module, "DECODE_VERSION", context_module.DECODE_VERSION + 1)
    context_composites(
        catalog_images(), [0, 1, 2], [folder], per_item=2, size=32, resize="bilinear",
        seed=0, parser=parser, cache_dir=tmp_path / "cache",
    )  # fmt: skip
    assert parser.calls == 2


def test_no_garments_found_gives_no_composites(tmp_path):
    folder = tmp_path / "photos"
    write_photos(folder, ["p1.jpg"])

    class FindsNothing:
        def parse(self, images):
            return [[] for _ in images]

    sources, composites = context_composites(
        catalog_images(), [0, 1], [folder], per_item=1, size=32, resize="bilinear", seed=0,
        parser=FindsNothing(),
    )  # fmt: skip
    assert len(sources) == 0 and composites.shape == (0, 32, 32, 3)
    with pytest.raises(ValueError, match="per_item"):
        context_composites(
            catalog_images(), [0], [folder], per_item=0, size=32, resize="bilinear", seed=0,
            parser=FindsNothing(),
        )  # fmt: skip
