"""Garment focus at query time: when the encoder is unsure what a photo shows (a person
wearing a garment, other garments and a background in the frame), look again at a few crops
of it and answer from the one the encoder's own classifier is surest about.

Pure functions over decoded images and confidences; the recommender wires them in
(:meth:`lookalike.recommend.Recommender.encode_images`). The crops, the confidence threshold
and the choice rule are measured on held-out archive photos (``bench/shopper_focus.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from lookalike.imaging import LEGACY_RESIZE, Crop, crop_image, letterbox

#: The regions looked at again (x, y, w, h fractions of the photo): where a worn garment is.
FOCUS_CROPS: dict[str, Crop] = {
    "centre": (0.15, 0.15, 0.7, 0.7),
    "upper": (0.0, 0.0, 1.0, 0.6),
    "lower": (0.0, 0.4, 1.0, 0.6),
}
#: Photos whose top class probability (the encoder's primary label) reaches this are
#: answered from the whole photo, with no second look (catalog-style photos: no extra cost).
#: Chosen on 300 held-out archive photos (218 scored; ``bench/shopper_validation.py``; BILINEAR
#: crops, the default's fusion weights, query expansion on, mean of 3 head seeds) by the mean
#: of P@10 type and type AND colour over both kinds of head, among never, 0.3-0.7 and always:
#: 0.5 scores 0.651 (never 0.646, 0.6 0.644). A head that learnt from the archive is best
#: without crops (type AND colour 0.589 never, 0.581 at 0.5, 0.572 at 0.6: a crop loses
#: context); a catalog-only head gains from them (P@10 type 0.663 never, 0.681 at 0.5). At
#: 0.5, 6-7% of shopper photos and under 2% of catalog photos get the second look.
FOCUS_THRESHOLD = 0.5


def focus_views(
    image: Image.Image, size: int, crops: Sequence[Crop], resize: str = LEGACY_RESIZE
) -> np.ndarray:
    """uint8 (len(crops), size, size, 3): each crop of ``image``, letterboxed with the filter
    ``resize`` (the encoder's, :func:`lookalike.encoders.base.encoder_resize`)."""
    return np.stack([letterbox(crop_image(image, box), size, resize=resize) for box in crops])


def top_probability(logits: np.ndarray) -> np.ndarray:
    """float (n,): the largest softmax probability of each row of ``logits``."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    return (probs.max(axis=1) / probs.sum(axis=1)).astype(np.float32)


def choose_views(confidence: np.ndarray) -> np.ndarray:
    """int (n,): per photo, the view (column of ``confidence``, (n, views); column 0 the whole
    photo) with the highest confidence; ties go to the earlier view."""
    return np.asarray(confidence).argmax(axis=1)
