"""Queries over a loaded bundle: by image, by catalog item, by a shopper's profile.

The package's parts (every public name is importable from ``lookalike.recommend``, as it was
when this was one module):

- :mod:`~lookalike.recommend.recommender`: :class:`Recommender`, the loaded bundle and its
  search (filters inside the search, exclusions, duplicate collapse, product grouping), and
  queries by item;
- :mod:`~lookalike.recommend.photos`: queries by photo (encoding with crop and garment focus,
  query expansion, distances restated from the photo);
- :mod:`~lookalike.recommend.look`: shop the look (the garments a photo shows, each with
  its lookalikes);
- :mod:`~lookalike.recommend.filters`: metadata filters -> allowed rows;
- :mod:`~lookalike.recommend.products`: products with several photos, as arrays;
- :mod:`~lookalike.recommend.results`: :class:`Recommendation`, :class:`QueryResult`, merging
  ranked lists.
"""

from __future__ import annotations

# Old import paths: the near-duplicate constants live in lookalike.dedup, the photo decoding
# helpers in lookalike.encoders.queries, the expansion constants in lookalike.expansion.
from lookalike.dedup import (
    MATCH_CLOSE,
    MATCH_SIMILAR,
    NEAR_COLLAPSE_FRACTION,
    NEAR_COLLAPSE_NEIGHBOURS,
)
from lookalike.encoders.queries import decode_each, per_source_crops
from lookalike.expansion import EXPANSION_MIN_PHOTOS, EXPANSION_NEIGHBOURS
from lookalike.recommend.filters import FilterError, Filters, filter_values
from lookalike.recommend.look import LookQueries
from lookalike.recommend.photos import PhotoQueries
from lookalike.recommend.products import join_groups, product_vectors
from lookalike.recommend.recommender import (
    COMBINE_METHODS,
    MAX_K,
    Recommender,
    UnknownItemError,
)
from lookalike.recommend.results import (
    GarmentResult,
    LookResult,
    QueryResult,
    Recommendation,
    merge_nearest,
)

__all__ = [
    "COMBINE_METHODS",
    "EXPANSION_MIN_PHOTOS",
    "EXPANSION_NEIGHBOURS",
    "MATCH_CLOSE",
    "MATCH_SIMILAR",
    "MAX_K",
    "NEAR_COLLAPSE_FRACTION",
    "NEAR_COLLAPSE_NEIGHBOURS",
    "FilterError",
    "Filters",
    "GarmentResult",
    "LookQueries",
    "LookResult",
    "PhotoQueries",
    "QueryResult",
    "Recommendation",
    "Recommender",
    "UnknownItemError",
    "decode_each",
    "filter_values",
    "join_groups",
    "merge_nearest",
    "per_source_crops",
    "product_vectors",
]
