"""Shared fixtures: a tiny synthetic catalog (made here, never downloaded) and bundles of it."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from lookalike.catalog import reference_catalog

SHAPES = ("circle", "square", "triangle")
COLOURS = {
    "Red": (220, 30, 30),
    "Green": (30, 170, 60),
    "Blue": (40, 60, 220),
    "Black": (20, 20, 20),
}


def draw_item(
    shape: str, colour: tuple[int, int, int], variant: int, size: int = 96
) -> Image.Image:
    """A product-like photo: one coloured shape on a white background."""
    image = Image.new("RGB", (size, size + 16 * (variant % 2)), "white")
    draw = ImageDraw.Draw(image)
    m = 14 + 4 * variant
    box = [m, m, size - m, size - m]
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    else:
        draw.polygon([(size // 2, m), (size - m, size - m), (m, size - m)], fill=colour)
    return image


def make_catalog(root: Path, variants: int = 2) -> Path:
    """Write a catalog of shapes x colours x variants JPEGs plus metadata.csv into ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    item_id = 100
    for shape in SHAPES:
        for colour_name, rgb in COLOURS.items():
            for variant in range(variants):
                item_id += 1
                folder = root / ("Footwear" if shape == "triangle" else "Apparel")
                folder.mkdir(exist_ok=True)
                draw_item(shape, rgb, variant).save(folder / f"{item_id}.jpg", quality=92)
                rows.append(
                    {
                        "ProductId": str(item_id),
                        "Gender": "Women" if item_id % 2 else "Men",
                        "ProductType": shape.title(),
                        "Colour": colour_name,
                        "ProductTitle": f"{colour_name} {shape} {variant}",
                        "Image": f"{item_id}.jpg",
                    }
                )
    with open(root / "fashion.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


TINY_CAE = {
    "input_size": 64,
    "epochs": 2,
    "channels": [8, 16, 16, 16, 16],
    "bottleneck_channels": 8,
    "batch_size": 8,
}


@pytest.fixture(scope="session")
def tiny_catalog(tmp_path_factory) -> Path:
    """24 synthetic items (3 shapes x 4 colours x 2 variants) with a fashion.csv."""
    return make_catalog(tmp_path_factory.mktemp("catalog"))


@pytest.fixture(scope="session")
def tiny_bundle(tiny_catalog, tmp_path_factory) -> Path:
    """A bundle of the tiny catalog with a 64 px, 2-epoch CAE (seconds to build)."""
    from lookalike.pipeline import BuildConfig, build_bundle

    out = tmp_path_factory.mktemp("bundles") / "tiny"
    build_bundle(
        BuildConfig(catalog=str(tiny_catalog), encoder="cae", encoder_options=dict(TINY_CAE)),
        out,
        progress=False,
    )
    return out


@pytest.fixture
def bundle_copy(tiny_bundle, tmp_path) -> Path:
    """A private copy of the tiny bundle that a test may modify."""
    target = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, target, symlinks=True)
    return target


@pytest.fixture(scope="session")
def shared_catalog() -> Path:
    """The reference catalog (read-only); tests that need it are skipped without it."""
    catalog = reference_catalog()
    if catalog is None:
        pytest.skip("../shared/fashion-images is not available")
    return catalog


def random_image(path: Path, size=(40, 30), seed: int = 0) -> Path:
    """A random-noise RGB JPEG at ``path``."""
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def make_product_catalog(root: Path, photos: int = 3) -> Path:
    """Write 12 products (3 shapes x 4 colours) with ``photos`` photos each (the shape drawn
    at different margins/heights) and a fashion.csv with one row per photo (issue 18)."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for number, (shape, (colour_name, rgb)) in enumerate(
        ((s, c) for s in SHAPES for c in COLOURS.items()), start=201
    ):
        for photo in range(photos):
            name = f"{number}-{photo + 1}.jpg"
            draw_item(shape, rgb, photo).save(root / name, quality=92)
            rows.append(
                {
                    "ProductId": str(number),
                    "Gender": "Women" if number % 2 else "Men",
                    "ProductType": shape.title(),
                    "Colour": colour_name,
                    "Image": name,
                }
            )
    with open(root / "fashion.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


@pytest.fixture(scope="session")
def product_catalog(tmp_path_factory) -> Path:
    """12 synthetic products with 3 photos each (a CSV row per photo)."""
    return make_product_catalog(tmp_path_factory.mktemp("product-catalog"))


@pytest.fixture(scope="session")
def product_bundle(product_catalog, tmp_path_factory) -> Path:
    """A bundle of the product catalog (36 photos, 12 products) with the tiny CAE."""
    from lookalike.pipeline import BuildConfig, build_bundle

    out = tmp_path_factory.mktemp("bundles") / "products"
    build_bundle(
        BuildConfig(catalog=str(product_catalog), encoder="cae", encoder_options=dict(TINY_CAE)),
        out,
        progress=False,
    )
    return out
