"""lookalike.encoders.hybrid.colour: the foreground colour histogram."""

from __future__ import annotations

import numpy as np

from lookalike.encoders.hybrid.colour import colour_histogram


def solid(colour, size=32):
    image = np.full((size, size, 3), 255, np.uint8)
    image[8:24, 8:24] = colour
    return image


def test_colour_histogram_ignores_white_background_and_separates_colours():
    red, red_big, blue = (
        solid((200, 20, 20)),
        np.full((32, 32, 3), (200, 20, 20), np.uint8),
        solid((20, 20, 200)),
    )
    hist = colour_histogram(np.stack([red, red_big, blue]), bins=4)
    assert hist.shape == (3, 64)
    np.testing.assert_allclose(np.linalg.norm(hist, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(hist[0], hist[1], atol=1e-6)  # background is not counted
    assert float(hist[0] @ hist[2]) < 0.01
