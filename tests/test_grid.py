"""lookalike.grid: result grids as PNG and tiles for unreadable files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lookalike.grid import GridRow, draw_grid, load_tile_image
from tests.conftest import random_image

BLUE, GREEN_FRAME, RED_FRAME = (0, 0, 255), (30, 160, 60), (210, 50, 50)
BACKGROUND = (245, 245, 245)


def solid(colour, size=(50, 80)) -> np.ndarray:
    return np.full((size[0], size[1], 3), colour, np.uint8)


def two_rows() -> list[GridRow]:
    results = [solid(BLUE), solid((255, 200, 0)), solid((0, 0, 0), size=(120, 30))]
    return [
        GridRow(solid((200, 0, 0)), "query\nq1.jpg", results, ["a", "b", "c"], [True, False, None]),
        GridRow(solid((0, 120, 0)), "query\nq2.jpg", results[:2], ["d\nShirt Red", "e"]),
    ]


def test_draw_grid_writes_a_png_sized_for_its_rows_and_columns(tmp_path):
    out = draw_grid(two_rows(), tmp_path / "sub" / "grid.png")

    assert out == tmp_path / "sub" / "grid.png"
    with Image.open(out) as image:
        assert image.format == "PNG"
        # 1 query + 3 results of 160 px with 8 px gaps (+8 after the query); 2 rows of
        # 160 px tiles + 34 px captions.
        assert image.size == (688, 412)
    assert [p.name for p in out.parent.iterdir()] == ["grid.png"]  # no temp file left


def test_a_title_adds_a_header(tmp_path):
    with Image.open(draw_grid(two_rows(), tmp_path / "g.png", title="top-3")) as image:
        assert image.size == (688, 436)


def test_tiles_are_placed_and_hits_are_framed(tmp_path):
    with Image.open(draw_grid(two_rows(), tmp_path / "g.png")) as image:
        pixels = image.convert("RGB")
        y_mid = 8 + 80
        first_result_x = 2 * 8 + 168  # query column, its gap, then the first result tile

        assert pixels.getpixel((first_result_x + 80, y_mid)) == BLUE
        assert pixels.getpixel((first_result_x - 1, y_mid)) == GREEN_FRAME
        assert pixels.getpixel((first_result_x + 168 - 1, y_mid)) == RED_FRAME
        # No frame where hits is None, nor anywhere in a row without hits.
        assert pixels.getpixel((first_result_x + 2 * 168 - 1, y_mid)) == BACKGROUND
        assert pixels.getpixel((first_result_x - 1, y_mid + 202)) == BACKGROUND
        # The query tile's own colour shows in its centre.
        assert pixels.getpixel((8 + 80, y_mid)) == (200, 0, 0)


def test_captions_must_match_results(tmp_path):
    row = GridRow(solid(BLUE), "q", [solid(BLUE)], ["one", "two"])

    with pytest.raises(ValueError):
        draw_grid([row], tmp_path / "g.png")
    assert not (tmp_path / "g.png").exists()


def test_load_tile_image_letterboxes_a_readable_file(tmp_path):
    path = random_image(tmp_path / "wide.jpg", size=(80, 40), seed=1)

    tile = load_tile_image(path, size=32)

    assert tile.shape == (32, 32, 3) and tile.dtype == np.uint8
    assert (tile[0] == 255).all()  # letterbox padding above a wide image is white
    assert tile[16].std() > 10  # the noise itself in the middle


@pytest.mark.parametrize("content", [b"", b"not an image at all", None])
def test_load_tile_image_gives_a_grey_placeholder_for_an_unreadable_file(tmp_path, content):
    path = tmp_path / "broken.jpg"
    if content is not None:
        path.write_bytes(content)

    tile = load_tile_image(path)

    assert tile.shape == (160, 160, 3) and tile.dtype == np.uint8
    assert (tile == 200).all()
