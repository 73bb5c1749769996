"""lookalike.parsing.model: the head's weights file, the parser's outputs, the shipped card."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from lookalike.parsing.model import (
    DEFAULT_WEIGHTS,
    KINDS,
    GarmentParser,
    ParserHead,
    load_head,
    save_head,
)


@pytest.fixture(scope="module")
def random_head(tmp_path_factory):
    import torch

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("parser") / "parser.npz"
    save_head(ParserHead(len(KINDS), 8), path, {"kinds": list(KINDS), "note": "random"})
    return path


def test_the_head_round_trips_without_pickle(random_head):
    head, kinds = load_head(random_head)
    assert kinds == KINDS and head.reduce.out_channels == 8
    assert json.loads(random_head.with_suffix(".json").read_text())["note"] == "random"
    with np.load(random_head, allow_pickle=False) as data:
        assert "reduce.weight" in data.files


def test_a_file_that_is_not_a_head_is_refused(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, something=np.zeros(3))
    with pytest.raises(ValueError, match="not a garment parser head"):
        load_head(path)


def test_probabilities_are_per_cell_distributions(random_head):
    parser = GarmentParser(random_head, input_size=64)
    images = np.random.default_rng(0).integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
    probs = parser.probabilities(images)
    assert probs.shape == (2, len(KINDS), 4, 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="images must be"):
        parser.probabilities(images[:, :32])
    # ONNX Runtime and PyTorch eager agree (the fallback when the exporter fails).
    import torch

    with torch.inference_mode():
        from lookalike.encoders.pretrained import scale_input

        eager = parser.net(torch.from_numpy(scale_input(images))).numpy()
    np.testing.assert_allclose(probs, eager, rtol=1e-4, atol=1e-5)


def test_parse_gives_garments_in_the_photos_fractions(random_head):
    parser = GarmentParser(random_head, input_size=64)
    photos = [Image.new("RGB", (40, 80), (200, 30, 30)), Image.new("RGB", (90, 30), "white")]
    found = parser.parse(photos, min_area=0.0)
    assert len(found) == 2
    for garments in found:
        for garment in garments:
            x, y, w, h = garment.box
            assert 0 <= x < x + w <= 1 + 1e-9 and 0 <= y < y + h <= 1 + 1e-9
            assert garment.kind in KINDS[1:]
    assert parser.parse([]) == []


def test_the_shipped_parser_has_its_card_and_licence():
    card = json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text())
    assert card["kinds"] == list(KINDS)
    assert "Apache" in card["licence"] and "train_parser.py" in card["reproduce"]
    assert (DEFAULT_WEIGHTS.parent / "LICENSE-street-photos").is_file()
    assert DEFAULT_WEIGHTS.stat().st_size < 2_000_000  # small enough to ship
