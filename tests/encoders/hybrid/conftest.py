"""Shared settings and images of the hybrid encoder tests."""

from __future__ import annotations

import pytest

from lookalike.catalog import read_catalog
from lookalike.imaging import load_images

# A tiny, fast head: seconds per fit on the tiny catalog.
FAST = dict(input_size=224, views=1, epochs=3, batch_size=16, hidden_dim=32, head_dim=16)


@pytest.fixture(scope="module")
def tiny_images(tiny_catalog):
    """The tiny catalog and its images at 224 px."""
    catalog = read_catalog(tiny_catalog)
    batch = load_images([item.path for item in catalog.items], 224)
    return catalog, batch.images
