"""The garment parser: where each garment is in a photo, and what kind it is.

:mod:`~lookalike.parsing.model` holds the network (EfficientNet-Lite0's frozen trunk and a
small head trained by ``scripts/train_parser.py`` from the street-photo masks; the head's
weights ship in ``weights/``), :mod:`~lookalike.parsing.regions` turns its per-cell
probabilities into garments (kind, box, area) with functions over arrays.
"""

from lookalike.parsing.model import KINDS, WORN_KINDS, GarmentParser
from lookalike.parsing.regions import Garment, garment_regions, main_garment

__all__ = ["KINDS", "WORN_KINDS", "Garment", "GarmentParser", "garment_regions", "main_garment"]
