"""Photo queries -> vectors: decode, crop, garment focus, encode (pure over an encoder).

What a query photo goes through before any search: decoding with the encoder's recorded
resize filter, an optional crop (the shopper's choice), and, for encoders that report how
sure they are (the hybrid), the garment focus of :mod:`lookalike.encoders.focus`: one pass
over the whole photos, one more over the focus crops of the photos the encoder is unsure
about. Nothing here knows a catalog; :class:`lookalike.recommend.Recommender` searches with
what these functions return.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image

from lookalike.encoders.base import Encoder, encoder_resize
from lookalike.encoders.focus import FOCUS_CROPS, FOCUS_THRESHOLD, choose_views, focus_views
from lookalike.imaging import (
    Crop,
    CropError,
    ImageDecodeError,
    check_crop,
    letterbox,
    load_image,
    load_images,
    open_rgb,
)

__all__ = [
    "decode_each",
    "decode_for_focus",
    "encode_focused",
    "encode_images",
    "encode_photos",
    "focuses",
    "per_source_crops",
]

#: (vectors of the readable sources, their indices, errors as (index, message)).
Encoded = tuple[np.ndarray, list[int], list[tuple[int, str]]]


def focuses(encoder: Any) -> bool:
    """Whether photo queries get the garment focus (the encoder reports a confidence)."""
    return hasattr(encoder, "encode_with_confidence")


def encode_photos(
    encoder: Encoder,
    sources: Sequence,
    crop: Crop | Sequence[Crop | None] | None = None,
    *,
    focus: bool = True,
    find_garment: Callable[[list[Image.Image]], list[Crop | None]] | None = None,
) -> tuple[np.ndarray, list[int], list[tuple[int, str]], list[Crop | None]]:
    """:func:`encode_images`, plus per readable source the region the vector describes
    (``find_garment``: see :func:`encode_focused`).

    With ``focus`` (and an encoder that reports its confidence: the hybrid), a photo without
    a crop whose top ProductType probability is below
    :data:`~lookalike.encoders.focus.FOCUS_THRESHOLD` is looked at again through the
    :data:`~lookalike.encoders.focus.FOCUS_CROPS` (one more encoder batch for all such
    photos), and described by the view the encoder is surest about.

    Raises:
        CropError: a crop that is not four fractions inside the photo.
    """
    sources = list(sources)
    crops = per_source_crops(crop, len(sources))
    if focus and focuses(encoder) and not any(crops):
        decoded, ok, errors = decode_each(
            sources, lambda _, source: decode_for_focus(encoder, source)
        )
        if not ok:
            return np.zeros((0, encoder.dim), np.float32), ok, errors, []
        vectors, regions = encode_focused(encoder, decoded, find_garment)
        return vectors, ok, errors, regions
    vectors, ok, errors = encode_images(encoder, sources, crops)
    return vectors, ok, errors, [crops[i] for i in ok]


def decode_for_focus(encoder: Encoder, source: Any) -> Image.Image:
    """A photo decoded for :func:`encode_focused`: drafted so that the focus crops keep the
    encoder's input size a side. Raises ImageDecodeError."""
    smallest = min(min(box[2:]) for box in FOCUS_CROPS.values())
    return open_rgb(source, draft_size=int(np.ceil(encoder.input_size / smallest)))


def encode_focused(
    encoder: Any,
    images: Sequence[Image.Image],
    find_garment: Callable[[list[Image.Image]], list[Crop | None]] | None = None,
) -> tuple[np.ndarray, list[Crop | None]]:
    """Vectors of decoded photos with the garment focus, and per photo the region each
    describes (None = the whole photo): one encoder pass over the whole photos, one more over
    the focus crops of the photos whose top type probability is below
    :data:`~lookalike.encoders.focus.FOCUS_THRESHOLD`. ``encoder`` must have
    ``encode_with_confidence`` (:func:`focuses`).

    With ``find_garment`` (photos -> the box of the garment each is most about, or None:
    the garment parser), an unsure photo in which it finds a garment is answered from that
    garment's box; the fixed crops are the second look of the others."""
    size, resize = encoder.input_size, encoder_resize(encoder)
    whole = np.stack([letterbox(image, size, resize=resize) for image in images])
    vectors, confidence = encoder.encode_with_confidence(whole)
    regions: list[Crop | None] = [None] * len(images)
    unsure = np.flatnonzero(confidence < FOCUS_THRESHOLD)  # NaN (no classifier): never
    if len(unsure) and find_garment is not None:
        boxes = find_garment([images[i] for i in unsure])
        found = [(row, box) for row, box in zip(unsure, boxes, strict=True) if box is not None]
        if found:
            views = np.concatenate(
                [focus_views(images[row], size, [box], resize) for row, box in found]
            )
            for (row, box), vector in zip(found, encoder.encode(views), strict=True):
                vectors[row] = vector
                regions[row] = box
            unsure = np.setdiff1d(unsure, [row for row, _ in found])
    if len(unsure):
        boxes = list(FOCUS_CROPS.values())
        views = np.concatenate([focus_views(images[i], size, boxes, resize) for i in unsure])
        crop_vectors, crop_confidence = encoder.encode_with_confidence(views)
        crop_vectors = crop_vectors.reshape(len(unsure), len(boxes), -1)
        crop_confidence = crop_confidence.reshape(len(unsure), len(boxes))
        chosen = choose_views(np.column_stack([confidence[unsure], crop_confidence]))
        for slot, (row, view) in enumerate(zip(unsure, chosen, strict=True)):
            if view > 0:
                vectors[row] = crop_vectors[slot, view - 1]
                regions[row] = boxes[view - 1]
    return vectors, regions


def encode_images(
    encoder: Encoder, sources: Sequence, crop: Crop | Sequence[Crop | None] | None = None
) -> Encoded:
    """Decode + encode image files/bytes in one batch (no garment focus: see
    :func:`encode_photos`).

    Args:
        encoder: any :class:`~lookalike.encoders.base.Encoder`.
        sources: image paths or bytes.
        crop: the region of each photo to look at, (x, y, w, h) as fractions of its width
            and height (one for all, or one per source, None = the whole photo).

    Returns:
        (vectors for the readable sources, their indices into ``sources``, errors as
        (index, message) for the unreadable ones).

    Raises:
        CropError: a crop that is not four fractions inside the photo.
    """
    sources = list(sources)
    crops = per_source_crops(crop, len(sources))
    size, resize = encoder.input_size, encoder_resize(encoder)
    if not any(crops):
        batch = load_images(sources, size, resize=resize)
        images, ok, errors = batch.images, batch.ok, batch.errors
    else:
        decoded, ok, errors = decode_each(
            sources,
            lambda index, source: load_image(source, size, crop=crops[index], resize=resize),
        )
        images = np.stack(decoded) if decoded else None
    vectors = encoder.encode(images) if ok else np.zeros((0, encoder.dim), np.float32)
    return vectors, ok, errors


def decode_each(
    sources: Sequence, decode: Callable[[int, Any], Any]
) -> tuple[list, list[int], list[tuple[int, str]]]:
    """``decode(index, source)`` for each source: (the decoded ones, their indices, errors as
    (index, message) for those that raised ImageDecodeError)."""
    decoded, ok, errors = [], [], []
    for index, source in enumerate(sources):
        try:
            decoded.append(decode(index, source))
            ok.append(index)
        except ImageDecodeError as exc:
            errors.append((index, str(exc)))
    return decoded, ok, errors


def per_source_crops(crop: Crop | Sequence[Crop | None] | None, count: int) -> list[Crop | None]:
    """One checked crop (or None) per source: ``crop`` is one (x, y, w, h) for all, or a
    sequence of ``count`` of them (None entries allowed). Raises CropError."""
    if crop is None:
        return [None] * count
    crop = list(crop)
    if crop and all(c is None or not isinstance(c, int | float | str) for c in crop):
        if len(crop) != count:
            raise CropError(f"{len(crop)} crops for {count} images; give one per image")
        return [None if c is None else check_crop(c) for c in crop]
    return [check_crop(crop)] * count
