"""lookalike.degrade: seeded query degradations of uint8 images."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.degrade import (
    DEGRADATIONS,
    WHITE_THRESHOLD,
    clutter_background,
    degrade_batch,
    random_augment,
)


def product_photo(height: int = 64, width: int = 48) -> np.ndarray:
    """A red garment on a pure white studio background."""
    image = np.full((height, width, 3), 255, np.uint8)
    image[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = (200, 30, 30)
    return image


@pytest.mark.parametrize("name", sorted(DEGRADATIONS))
def test_degradation_keeps_shape_and_dtype_and_changes_the_image(name):
    image = product_photo()
    before = image.copy()

    out = DEGRADATIONS[name](image, np.random.default_rng(0))

    assert out.shape == image.shape and out.dtype == np.uint8
    assert not np.array_equal(out, image)
    np.testing.assert_array_equal(image, before)  # the input is left alone


@pytest.mark.parametrize("name", sorted(DEGRADATIONS))
def test_degradation_is_deterministic_for_a_seed(name):
    image = product_photo()
    fn = DEGRADATIONS[name]

    a = fn(image, np.random.default_rng(7))
    b = fn(image, np.random.default_rng(7))

    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["crop80", "rotate10", "lighting", "clutter"])
def test_random_degradations_differ_between_seeds(name):
    image = product_photo()
    fn = DEGRADATIONS[name]

    assert not np.array_equal(
        fn(image, np.random.default_rng(1)), fn(image, np.random.default_rng(2))
    )


def test_clutter_changes_only_the_white_background():
    image = product_photo()
    background = (image >= WHITE_THRESHOLD).all(axis=2)

    out = clutter_background(image, np.random.default_rng(0))

    np.testing.assert_array_equal(out[~background], image[~background])
    changed = (out != image).any(axis=2)
    assert changed[background].mean() > 0.9


def test_degrade_batch_is_seeded_and_keeps_the_batch_shape():
    batch = np.stack([product_photo(), product_photo()[:, ::-1]])

    out = degrade_batch(batch, "rotate10", seed=3)

    assert out.shape == batch.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, degrade_batch(batch, "rotate10", seed=3))
    assert not np.array_equal(out, degrade_batch(batch, "rotate10", seed=4))
    # One generator runs through the batch: the two images get different angles.
    assert not np.array_equal(out[0], out[1][:, ::-1])


def test_degrade_batch_of_nothing_and_of_an_unknown_name():
    empty = np.zeros((0, 8, 8, 3), np.uint8)

    assert degrade_batch(empty, "jpeg30").shape == (0, 8, 8, 3)
    with pytest.raises(KeyError):
        degrade_batch(empty, "blur")


def test_random_augment_keeps_shape_dtype_and_is_seeded():
    image = product_photo()

    a = random_augment(image, np.random.default_rng(5))
    b = random_augment(image, np.random.default_rng(5))

    assert a.shape == image.shape and a.dtype == np.uint8 and a.flags.c_contiguous
    np.testing.assert_array_equal(a, b)
    outputs = [random_augment(image, np.random.default_rng(s)) for s in range(6)]
    assert any(not np.array_equal(o, image) for o in outputs)
