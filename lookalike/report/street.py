"""Street photos with garments outlined in label maps (the street-photo protocol): each
worn garment queried as a crop, each photo queried whole, and shop the look."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.evaluation import (
    DEFAULT_PRIMARY,
    mapped_query_metrics,
    mapped_relevance,
    precision_at_k,
)
from lookalike.garment_boxes import box_iou, garment_boxes
from lookalike.labelled import MASK_LABELS_FILE, MASKS_DIR, LabelledPhotos, read_mask_labels
from lookalike.report.outside import (
    MASKS_PROTOCOL,
    QUERY_BATCH,
    labelled_result_metrics,
    recommend_in_batches,
    result_types,
)

#: The ``annotation`` value of a masked folder's rows that have a label map.
MASK_ANNOTATION = "mask"
#: Shop the look: a returned region matches a worn garment from this IoU with its box.
LOOK_MIN_IOU = 0.4


def worn_garments(
    photos: LabelledPhotos, folder: Path, type_map: dict[str, list[str]]
) -> list[tuple[Any, list[tuple[str, tuple[float, float, float, float]]]]]:
    """Per photo with a label map (``annotation`` = mask and ``masks/<id>.png`` present), its
    counted garments (:func:`lookalike.garment_boxes.garment_boxes`: a ``type_map`` label
    covering >= 1.5% of the photo, padded box)."""
    from PIL import Image

    labels_by_value = read_mask_labels(folder / MASK_LABELS_FILE)
    out = []
    for item in photos.items:
        annotation = item.metadata.get("annotation", MASK_ANNOTATION)
        path = folder / MASKS_DIR / f"{item.id}.png"
        if annotation != MASK_ANNOTATION or not path.is_file():
            continue
        with Image.open(path) as image:
            mask = np.asarray(image)
        if mask.ndim == 3:  # an RGB(A) copy of a grey label map
            mask = mask[..., 0]
        out.append((item, garment_boxes(mask, labels_by_value, type_map)))
    return out


def shop_the_look(
    recommender,
    photos: Sequence[tuple[Any, list[tuple[str, tuple[float, float, float, float]]]]],
    type_map: dict[str, list[str]],
    *,
    primary: str = DEFAULT_PRIMARY,
    k: int = 10,
    min_iou: float = LOOK_MIN_IOU,
    **options: Any,
) -> dict[str, Any]:
    """Shop the look on photos with known worn garments: the recommender's
    ``recommend_look`` gets the photo alone; a worn garment is *found* when a returned region
    has IoU >= ``min_iou`` with its box and that region's first result has a right type. Its
    *matched* region is the one of highest IoU (>= ``min_iou``); P@k is over matched regions.

    Args:
        photos: (photo item, [(label, box)]) as :func:`worn_garments` gives.
        options: passed to ``recommend_look`` (e.g. ``expand``).

    Returns:
        {"available": False} when the recommender has no ``recommend_look`` (with
        "error" when it raised); else
        {"available", "photos", "garments", "matched", "found" (share of garments),
        "P@k <primary>" (of matched regions), "regions" (returned per photo, mean),
        "unreadable"}.
    """
    if not callable(getattr(recommender, "recommend_look", None)):
        return {"available": False}
    looks = []
    try:
        for start in range(0, len(photos), QUERY_BATCH):
            part = [str(item.path) for item, _ in photos[start : start + QUERY_BATCH]]
            looks += recommender.recommend_look(part, k=k, **options)
    except Exception as exc:  # noqa: BLE001 - the other rows of the report stand on their own
        return {"available": False, "error": f"{type(exc).__name__}: {exc}"}
    garments = found = 0
    matched_hits: list[np.ndarray] = []
    unreadable, regions = [], []
    for (item, worn), look in zip(photos, looks, strict=True):
        if getattr(look, "error", None):
            unreadable.append(str(item.path))
            continue
        returned = [g for g in look.garments if getattr(g, "box", None) is not None]
        regions.append(len(returned))
        for label, box in worn:
            garments += 1
            right = set(type_map[label])
            overlaps = [(box_iou(box, g.box), g) for g in returned]
            close = [(iou, g) for iou, g in overlaps if iou >= min_iou]
            if any(g.results and g.results[0].metadata.get(primary, "") in right for _, g in close):
                found += 1
            if close:
                best = max(close, key=lambda pair: pair[0])[1]
                matched_hits.append(mapped_relevance(result_types([best], primary, k), [right]))
    hits = np.concatenate(matched_hits) if matched_hits else np.zeros((0, k), bool)
    return {
        "available": True,
        "photos": len(regions),
        "garments": garments,
        "matched": len(hits),
        "found": found / garments if garments else float("nan"),
        f"P@{k} {primary}": precision_at_k(hits, k),
        "regions": float(np.mean(regions)) if regions else float("nan"),
        "unreadable": unreadable,
    }


def evaluate_masked_photos(
    recommender,
    photos: LabelledPhotos,
    folder: Path,
    type_map: dict[str, list[str]],
    *,
    primary: str = DEFAULT_PRIMARY,
    k: int = 10,
    **query_options: Any,
) -> dict[str, Any]:
    """The street-photo protocol (``../shared/street-photos/README.md``) on the photos with
    a label map: every counted garment (:func:`worn_garments`) is queried as a crop of its box
    (garment crop); every photo with a garment is queried whole, a result being a hit when
    its type answers any garment the person wears (whole photo); and shop the look
    (:func:`shop_the_look`) when the recommender has ``recommend_look``.

    Args:
        photos: the labelled photos (one split).
        folder: the folder holding ``masks/`` and ``mask_labels.csv``.
        type_map: label -> catalog types.
        query_options: passed to ``recommend_images`` (``expand`` to ``recommend_look`` too).

    Returns:
        {"protocol", "photos", "masked", "garments", "unreadable", "metrics": {"garment crop":
        :func:`~lookalike.evaluation.mapped_query_metrics` output, "whole photo": {"all":
        metrics}, "shop the look": :func:`shop_the_look` output}}.
    """
    with_masks = worn_garments(photos, folder, type_map)
    worn = [(item, boxes) for item, boxes in with_masks if boxes]
    pairs = [(item, label, box) for item, boxes in worn for label, box in boxes]
    crops = recommend_in_batches(
        recommender,
        [str(item.path) for item, _, _ in pairs],
        k,
        [box for _, _, box in pairs],
        **query_options,
    )
    kept = [(label, r) for (_, label, _), r in zip(pairs, crops, strict=True) if not r.error]
    labels = [label for label, _ in kept]
    crop_metrics = labelled_result_metrics(
        recommender, [r for _, r in kept], labels, type_map, primary, k
    )
    wholes = recommend_in_batches(
        recommender, [str(item.path) for item, _ in worn], k, **query_options
    )
    whole_kept = [(boxes, r) for (_, boxes), r in zip(worn, wholes, strict=True) if not r.error]
    whole = mapped_query_metrics(
        result_types([r for _, r in whole_kept], primary, k),
        [{t for label, _ in boxes for t in type_map[label]} for boxes, _ in whole_kept],
        ["photo"] * len(whole_kept),
        primary=primary,
        k=k,
    )
    look_options = {"expand": query_options["expand"]} if "expand" in query_options else {}
    look = shop_the_look(recommender, worn, type_map, primary=primary, k=k, **look_options)
    return {
        "protocol": MASKS_PROTOCOL,
        "photos": len(photos),
        "masked": len(with_masks),
        "garments": len(kept),
        "unreadable": sorted({r.query for r in [*crops, *wholes] if r.error}),
        "metrics": {
            "garment crop": crop_metrics,
            "whole photo": {"all": whole["all"]},
            "shop the look": look,
        },
    }
