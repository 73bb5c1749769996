"""`lookalike evaluate`: run the protocol on a bundle, baselines and other bundles; write the
report (Markdown + JSON) and result grids. The metrics themselves live in
:mod:`lookalike.evaluation`; this module only gathers the pieces and files.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.bundle import read_bundle
from lookalike.catalog import read_duplicate_groups, read_split
from lookalike.degrade import DEGRADATIONS, degrade_batch
from lookalike.encoders import encoder_resize
from lookalike.evaluation import (
    DEFAULT_COLUMNS,
    DEFAULT_PRIMARY,
    MIN_ITEMS_PER_SCORED_TYPE,
    Evaluation,
    evaluate_embeddings,
    evaluate_products,
    format_mapped_table,
    format_query_set_table,
    format_table,
    hit_rate_at_k,
    label_relevance,
    mapped_query_metrics,
    mapped_relevance,
    precision_at_k,
    query_rows_for_split,
    query_set_metrics,
    scored_queries,
    write_report,
)
from lookalike.garment_boxes import box_iou, garment_boxes
from lookalike.grid import GridRow, draw_grid, load_tile_image
from lookalike.imaging import load_images
from lookalike.labelled import (
    MASK_LABELS_FILE,
    MASKS_DIR,
    TYPE_MAP_FILE,
    LabelledPhotos,
    read_labelled_photos,
    read_mask_labels,
    read_type_map,
)
from lookalike.recommend import Recommender, product_vectors

ROBUSTNESS_QUERIES = 200
#: The column outside photos are reported by (``Apparel`` on-model photos, ``Footwear``).
QUERY_GROUP_COLUMN = "Category"
QUERY_BATCH = 64


def group_keys_for(recommender, catalog: Path | None) -> list[str]:
    """Per row, its duplicate-group key: duplicates.csv group where given, else content hash."""
    groups = {}
    if catalog is not None and (catalog / "duplicates.csv").is_file():
        groups = read_duplicate_groups(catalog / "duplicates.csv")
    hashes = recommender.items.content_hashes or recommender.items.ids
    if getattr(recommender, "grouped", False):
        # Several photos per product: products sharing any identical photo share a key.
        hashes = [f"exact{int(g)}" for g in recommender.exact_group]
    return [
        f"group:{groups[i]}" if i in groups else f"hash:{h}"
        for i, h in zip(recommender.items.ids, hashes, strict=True)
    ]


def raw_pixel_embeddings(paths: Sequence[str], size: int = 32) -> np.ndarray:
    """The raw-pixel baseline: letterboxed size x size RGB, flattened, in [0, 1]."""
    batch = load_images(list(paths), size)
    out = np.zeros((len(paths), size * size * 3), np.float32)
    out[batch.ok] = batch.images.reshape(len(batch.ok), -1) / 255.0
    return out


def aligned_embeddings(other_bundle: Path, ids: Sequence[str]) -> tuple[str, np.ndarray]:
    """Another bundle's embeddings, one per item, reordered to ``ids`` (it must hold the same
    items). A product with several photos gets the vector its queries use
    (:func:`~lookalike.recommend.product_vectors`), as the evaluated bundle's row does."""
    data = read_bundle(other_bundle)
    row_of = {item_id: row for row, item_id in enumerate(data.items.ids)}
    missing = [i for i in ids if i not in row_of]
    if missing:
        raise ValueError(f"bundle {other_bundle} lacks {len(missing)} items, e.g. {missing[:3]}")
    name = data.manifest.get("encoder", {}).get("name", other_bundle.name)
    vectors = data.embeddings  # one row per photo
    if not data.photos.one_per_product:
        vectors = product_vectors(vectors, data.photos.product_rows(), len(data.items))
    return name, np.asarray(vectors)[[row_of[i] for i in ids]]


def degraded_copy_recall(
    recommender,
    query_rows: np.ndarray,
    group_keys: list[str],
    seed: int = 0,
    progress: bool = False,
    expand: bool = True,
) -> dict[str, dict[str, float]]:
    """Recall@1/@10 of the original item when querying with degraded copies of it.

    A hit is the item or any item with an identical image (its duplicate group). The copies
    are photo queries: expanded as ``recommend_images`` expands them unless ``expand`` is off.
    """
    rng = np.random.default_rng(seed)
    rows = np.sort(
        rng.choice(query_rows, size=min(ROBUSTNESS_QUERIES, len(query_rows)), replace=False)
    )
    originals = load_images(
        [recommender.items.paths[r] for r in rows],
        recommender.encoder.input_size,
        resize=encoder_resize(recommender.encoder),
    )
    rows = rows[originals.ok]
    keys = np.array(group_keys, dtype=object)
    out = {}
    for name in DEGRADATIONS:
        images = degrade_batch(originals.images, name, seed)
        vectors = recommender.encoder.encode(images)
        if expand:
            vectors = recommender.expand_photo_queries(vectors)
        _, found, _ = recommender.nearest_products(vectors, 10)  # product rows
        # A query hits when its item (or an identical image) is in the top k; the index
        # pads with -1, which never hits.
        hit = label_relevance(keys, rows, found)
        out[name] = {
            "recall@1": hit_rate_at_k(hit, 1),
            "recall@10": hit_rate_at_k(hit, 10),
        }
        if progress:
            print(
                f"  degraded '{name}': recall@1 {out[name]['recall@1']:.3f} "
                f"recall@10 {out[name]['recall@10']:.3f}"
            )
    out["mean"] = {
        key: float(np.mean([v[key] for v in out.values()])) for key in ("recall@1", "recall@10")
    }
    return out


def read_query_photos(folder: Path, split: str | None, recommender) -> LabelledPhotos:
    """The labelled photos of ``folder`` (``split`` only), label columns spelled as the
    bundle's metadata columns (and ``Category``, the column results are grouped by)."""
    columns = [*recommender.metadata_columns, QUERY_GROUP_COLUMN]
    return read_labelled_photos(folder, split=split, columns=columns)


def evaluate_query_photos(
    recommender,
    photos: LabelledPhotos,
    *,
    primary: str = DEFAULT_PRIMARY,
    k: int = 10,
    group_column: str = QUERY_GROUP_COLUMN,
    min_type_items: int = MIN_ITEMS_PER_SCORED_TYPE,
    **query_options: Any,
) -> dict[str, Any]:
    """The shopper-photo protocol: each photo whose ``primary`` type has at least 20
    catalog items is a query (``recommend_images``, k results from the whole catalog), scored
    by :func:`lookalike.evaluation.query_set_metrics`, overall and per ``group_column``.

    Args:
        min_type_items: catalog items a type needs to be scored.
        query_options: passed to ``recommend_images`` (e.g. ``crop``).

    Returns:
        {"photos", "scored", "unreadable", "metrics": group -> metrics, "result_ids"}.
    """
    scored = scored_queries(
        photos.labels(primary), recommender.column(primary).tolist(), min_type_items
    )
    chosen = [item for item, keep in zip(photos.items, scored, strict=True) if keep]
    results = []
    for start in range(0, len(chosen), QUERY_BATCH):
        batch = [str(item.path) for item in chosen[start : start + QUERY_BATCH]]
        results += recommender.recommend_images(batch, k, **query_options)
    unreadable = [r.query for r in results if r.error]
    kept = [(item, r) for item, r in zip(chosen, results, strict=True) if not r.error]
    columns = [primary, "Colour"]
    result_labels = {
        column: np.array(
            [
                [r.metadata.get(column, "") for r in result.results]
                + [""] * (k - len(result.results))
                for _, result in kept
            ],
            dtype=object,
        ).reshape(len(kept), k)
        for column in columns
    }
    query_labels = {c: [item.metadata.get(c, "") for item, _ in kept] for c in columns}
    groups = [item.metadata.get(group_column, "") or "other" for item, _ in kept]
    metrics = query_set_metrics(query_labels, result_labels, groups, primary=primary, k=k)
    return {
        "photos": len(photos),
        "scored": len(kept),
        "unreadable": unreadable,
        "metrics": metrics,
        "result_ids": {item.id: [r.id for r in result.results] for item, result in kept},
    }


def evaluate_queries_folder(
    recommender,
    folder: Path,
    split: str | None = "auto",
    primary: str = DEFAULT_PRIMARY,
    min_type_items: int = MIN_ITEMS_PER_SCORED_TYPE,
    **query_options: Any,
) -> dict[str, Any]:
    """A query folder's protocol (:func:`query_protocol`) on its photos (``split``: a value
    of its ``split`` column; ``auto``: ``dev`` when there is one, else every photo; None:
    every photo), with the folder and split named in the result: the shopper-photo protocol
    (:func:`evaluate_query_photos`, labels in the catalog's vocabulary), the type-map protocol
    (:func:`evaluate_mapped_photos`) or the street-photo protocol
    (:func:`evaluate_masked_photos`). ``query_options`` go to ``recommend_images`` (e.g.
    ``focus=False``); ``min_type_items`` applies to the shopper-photo protocol only."""
    if split == "auto":
        everything = read_query_photos(folder, None, recommender)
        split = "dev" if any(i.metadata.get("split") == "dev" for i in everything.items) else None
    photos = read_query_photos(folder, split, recommender)
    protocol = query_protocol(folder)
    if protocol == SHOPPER_PROTOCOL:
        result = evaluate_query_photos(
            recommender, photos, primary=primary, min_type_items=min_type_items, **query_options
        )
    else:
        type_map = read_type_map(Path(folder) / TYPE_MAP_FILE)
        if protocol == TYPE_MAP_PROTOCOL:
            result = evaluate_mapped_photos(
                recommender, photos, type_map, primary=primary, **query_options
            )
        else:
            result = evaluate_masked_photos(
                recommender, photos, Path(folder), type_map, primary=primary, **query_options
            )
    return {"folder": str(folder), "split": split, **result}


#: The protocols a query folder may follow (:func:`query_protocol`).
SHOPPER_PROTOCOL = "shopper"
TYPE_MAP_PROTOCOL = "type_map"
MASKS_PROTOCOL = "street_masks"
#: The label column of a type-mapped folder, and the column saying a row is a kids' garment.
MAPPED_LABEL_COLUMN = "label"
KIDS_COLUMN = "kids"
#: The ``annotation`` value of a masked folder's rows that have a label map.
MASK_ANNOTATION = "mask"
#: Shop the look: a returned region matches a worn garment from this IoU with its box.
LOOK_MIN_IOU = 0.4


def query_protocol(folder: Path) -> str:
    """Which protocol a query folder follows: ``street_masks`` with ``type_map.csv``,
    ``mask_labels.csv`` and ``masks/`` (garments outlined in label maps); ``type_map`` with
    ``type_map.csv`` alone (labels in another vocabulary); else ``shopper`` (labels in the
    catalog's own vocabulary)."""
    folder = Path(folder)
    if not (folder / TYPE_MAP_FILE).is_file():
        return SHOPPER_PROTOCOL
    if (folder / MASK_LABELS_FILE).is_file() and (folder / MASKS_DIR).is_dir():
        return MASKS_PROTOCOL
    return TYPE_MAP_PROTOCOL


def label_groups(
    recommender,
    type_map: dict[str, list[str]],
    primary: str = DEFAULT_PRIMARY,
    group_column: str = QUERY_GROUP_COLUMN,
) -> dict[str, str]:
    """Per mapped label, the ``group_column`` value (e.g. Apparel / Footwear) most catalog
    items of its types have; empty when the catalog has no such column."""
    if group_column not in recommender.metadata_columns:
        return {}
    types, groups = recommender.column(primary), recommender.column(group_column)
    out = {}
    for label, answers in type_map.items():
        chosen = groups[np.isin(types, list(answers))]
        values, counts = np.unique(
            np.array([g or "other" for g in chosen], dtype=object), return_counts=True
        )
        out[label] = str(values[np.argmax(counts)]) if len(values) else "other"
    return out


def result_types(results: Sequence, primary: str, k: int) -> np.ndarray:
    """object (q, k): each query result's ``primary`` labels, '' padded."""
    return np.array(
        [
            [r.metadata.get(primary, "") for r in result.results[:k]]
            + [""] * (k - len(result.results[:k]))
            for result in results
        ],
        dtype=object,
    ).reshape(len(results), k)


def _batched(recommender, paths: Sequence[str], k: int, crops=None, **options: Any) -> list:
    """``recommend_images`` over ``paths`` in batches (``crops``: one per path, or None)."""
    out = []
    for start in range(0, len(paths), QUERY_BATCH):
        part = {} if crops is None else {"crop": list(crops[start : start + QUERY_BATCH])}
        out += recommender.recommend_images(
            list(paths[start : start + QUERY_BATCH]), k, **part, **options
        )
    return out


def is_true(value: str) -> bool:
    """A CSV flag: True, true, 1, yes."""
    return str(value).strip().lower() in ("true", "1", "yes")


def evaluate_mapped_photos(
    recommender,
    photos: LabelledPhotos,
    type_map: dict[str, list[str]],
    *,
    primary: str = DEFAULT_PRIMARY,
    k: int = 10,
    label_column: str = MAPPED_LABEL_COLUMN,
    **query_options: Any,
) -> dict[str, Any]:
    """The type-map protocol (``../shared/amateur-photos/README.md``): photos labelled in
    another vocabulary; each photo whose label has a ``type_map`` row and that is not a kids'
    garment queries the whole catalog (``recommend_images``, k results); a result is a hit
    when its ``primary`` type is one of the label's types
    (:func:`lookalike.evaluation.mapped_query_metrics`).

    Args:
        photos: the labelled photos (one split).
        type_map: label -> catalog types (:func:`lookalike.labelled.read_type_map`).
        label_column: the photos' label column.
        query_options: passed to ``recommend_images`` (e.g. ``focus``, ``expand``).

    Returns:
        {"protocol", "photos", "scored", "unmapped" (photos whose label has no row), "kids",
        "unreadable", "metrics", "result_ids"}.
    """
    kids = [is_true(item.metadata.get(KIDS_COLUMN, "")) for item in photos.items]
    mapped = [item.metadata.get(label_column, "") in type_map for item in photos.items]
    chosen = [
        item for item, child, known in zip(photos.items, kids, mapped, strict=True)
        if known and not child
    ]  # fmt: skip
    results = _batched(recommender, [str(item.path) for item in chosen], k, **query_options)
    kept = [(item, r) for item, r in zip(chosen, results, strict=True) if not r.error]
    labels = [item.metadata[label_column] for item, _ in kept]
    groups = label_groups(recommender, type_map, primary)
    metrics = mapped_query_metrics(
        result_types([r for _, r in kept], primary, k),
        [type_map[label] for label in labels],
        labels,
        [groups[label] for label in labels] if groups else None,
        primary=primary,
        k=k,
    )
    return {
        "protocol": TYPE_MAP_PROTOCOL,
        "photos": len(photos),
        "scored": len(kept),
        "unmapped": int(sum(not known for known in mapped)),
        "kids": int(sum(child and known for child, known in zip(kids, mapped, strict=True))),
        "unreadable": [r.query for r in results if r.error],
        "metrics": metrics,
        "result_ids": {item.id: [r.id for r in result.results] for item, result in kept},
    }


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
    crops = _batched(
        recommender,
        [str(item.path) for item, _, _ in pairs],
        k,
        [box for _, _, box in pairs],
        **query_options,
    )
    kept = [(label, r) for (_, label, _), r in zip(pairs, crops, strict=True) if not r.error]
    labels = [label for label, _ in kept]
    groups = label_groups(recommender, type_map, primary)
    crop_metrics = mapped_query_metrics(
        result_types([r for _, r in kept], primary, k),
        [type_map[label] for label in labels],
        labels,
        [groups[label] for label in labels] if groups else None,
        primary=primary,
        k=k,
    )
    wholes = _batched(recommender, [str(item.path) for item, _ in worn], k, **query_options)
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


def query_set_markdown(
    result: dict[str, Any], name: str, min_type_items: int = MIN_ITEMS_PER_SCORED_TYPE
) -> list[str]:
    """The report's section (Markdown lines) of one query folder's result
    (:func:`evaluate_queries_folder`), ``name`` naming the features in the tables."""
    where = f"{result['folder']} (split {result['split'] or 'all'})"
    protocol = result.get("protocol", SHOPPER_PROTOCOL)
    if protocol == SHOPPER_PROTOCOL:
        return [
            "## Outside photos (shopper-photo protocol)",
            "",
            f"{result['scored']} scored queries of {result['photos']} photos in {where}: "
            f"types with at least {min_type_items} catalog items, k = 10 from the whole "
            "catalog.",
            "",
            format_query_set_table({name: result["metrics"]}),
            "",
        ]
    if protocol == TYPE_MAP_PROTOCOL:
        return [
            f"## Outside photos, labels mapped to catalog types ({TYPE_MAP_FILE})",
            "",
            f"{name}: {result['scored']} scored queries of {result['photos']} photos in "
            f"{where}: labels with a {TYPE_MAP_FILE} row, kids' garments left out "
            f"({result['unmapped']} photos of unmapped labels, {result['kids']} of kids' "
            "garments not scored); k = 10 from the whole catalog; a hit is a result whose "
            "type answers the label.",
            "",
            format_mapped_table(result["metrics"]),
            "",
        ]
    metrics = result["metrics"]
    whole = metrics["whole photo"]["all"]
    keys = [key for key in whole if key != "queries"]
    lines = [
        "## Street photos, garments outlined (masks)",
        "",
        f"{name}: {result['masked']} photos with a label map of {result['photos']} in "
        f"{where}; {result['garments']} garments (a {TYPE_MAP_FILE} label covering >= 1.5% "
        "of the photo; box = its pixels' bounding box padded by 4%), k = 10.",
        "",
        "### Garment crop (the photo queried with the garment's box as crop)",
        "",
        format_mapped_table(metrics["garment crop"]),
        "",
        "### Whole photo (a hit answers any garment the person wears)",
        "",
        "| photos | " + " | ".join(keys) + " |",
        "|---|" + "---|" * len(keys),
        f"| {whole['queries']} | " + " | ".join(f"{whole[key]:.3f}" for key in keys) + " |",
        "",
        "### Shop the look (the photo alone; the system names the garments)",
        "",
    ]
    look = metrics["shop the look"]
    if look.get("error"):
        return [*lines, f"failed: {look['error']}", ""]
    if not look.get("available"):
        return [*lines, "not available (the recommender has no `recommend_look`)", ""]
    precision = next(key for key in look if key.startswith("P@"))
    return [
        *lines,
        f"A worn garment is found when a returned region has IoU >= {LOOK_MIN_IOU} with its "
        "box and that region's first result has a right type; P@10 over the matched regions.",
        "",
        f"| photos | garments | regions per photo | matched | found | {precision} |",
        "|---|---|---|---|---|---|",
        f"| {look['photos']} | {look['garments']} | {look['regions']:.2f} | {look['matched']} "
        f"| {look['found']:.3f} | {look[precision]:.3f} |",
        "",
    ]


def result_grids(
    recommender,
    evaluation: Evaluation,
    query_rows: np.ndarray,
    primary: str,
    out_dir: Path,
    n_grids: int = 3,
    per_grid: int = 6,
    k: int = 5,
) -> list[Path]:
    """PNG grids of test queries with their top-k, hits framed green and misses red."""
    rng = np.random.default_rng(0)
    picks = rng.choice(
        len(query_rows), size=min(len(query_rows), n_grids * per_grid), replace=False
    )
    labels = [m.get(primary, "") for m in recommender.items.metadata]
    paths = []
    for g in range(n_grids):
        rows = []
        for i in picks[g * per_grid : (g + 1) * per_grid]:
            q = int(query_rows[i])
            found = [int(r) for r in evaluation.result_rows[i][:k] if r >= 0]
            rows.append(
                GridRow(
                    query=load_tile_image(recommender.items.paths[q]),
                    query_caption=f"{recommender.items.ids[q]}\n{labels[q]}",
                    results=[load_tile_image(recommender.items.paths[r]) for r in found],
                    captions=[f"{recommender.items.ids[r]}\n{labels[r]}" for r in found],
                    hits=[labels[r] == labels[q] for r in found],
                )
            )
        if rows:
            paths.append(
                draw_grid(
                    rows,
                    out_dir / f"grid_{g + 1}.png",
                    title=f"{evaluation.name}: query | top-{k} (green = same {primary})",
                )
            )
    return paths


def evaluate_bundle(
    bundle: Path,
    *,
    out_dir: Path | None = None,
    catalog: Path | None = None,
    split_csv: Path | None = None,
    primary: str = DEFAULT_PRIMARY,
    columns: Sequence[str] | None = None,
    baselines: bool = True,
    compare_bundles: Sequence[Path] = (),
    robustness: bool = True,
    progress: bool = True,
    queries: Path | Sequence[Path] | None = None,
    queries_split: str | None = "auto",
    queries_min_items: int = MIN_ITEMS_PER_SCORED_TYPE,
    focus: bool = True,
    expansion: bool = True,
) -> dict[str, Any]:
    """Evaluate ``bundle`` on the protocol; write report.md/json and grids to ``out_dir``.

    With ``queries`` (a folder of labelled outside photos, e.g. ``../shared/shopper-photos``,
    or several) each folder's protocol runs too (:func:`evaluate_queries_folder`: the
    shopper-photo protocol, or the type-map or street-photo protocol of a folder with a
    ``type_map.csv``) on its ``queries_split`` rows (``auto``: ``dev`` when the labels have
    such a split, else all; None: all), with the garment focus unless ``focus`` is False.
    The report's ``outside_photos`` is the first folder's result; with several folders,
    ``query_sets`` lists them all. Photo queries (outside photos, degraded copies) are
    expanded (:meth:`Recommender.expand_photo_queries`) unless ``expansion`` is False.

    Returns:
        The report's JSON payload.
    """
    started = time.perf_counter()
    say = print if progress else (lambda *a, **k: None)
    recommender = Recommender.from_bundle(bundle)
    catalog = Path(catalog) if catalog else Path(recommender.data.config["catalog"])
    if split_csv is not None and not Path(split_csv).is_file():
        raise FileNotFoundError(f"split file not found: {split_csv}")
    split_path = split_csv or (catalog / "split.csv")
    id_column = recommender.data.config.get("id_column")
    split = (
        read_split(split_path, id_column, recommender.items.ids)
        if Path(split_path).is_file()
        else {}
    )
    if not split:
        say(f"no split file at {split_path}: every item is a query")
    query_rows = query_rows_for_split(recommender.items.ids, split)
    keys = group_keys_for(recommender, catalog)
    columns = list(columns) if columns else list(DEFAULT_COLUMNS)
    metadata = recommender.items.metadata
    encoder_name = recommender.data.manifest.get("encoder", {}).get("name", "bundle")

    def run(name: str, embeddings: np.ndarray) -> Evaluation:
        evaluation = evaluate_embeddings(
            embeddings, metadata, query_rows, keys, primary=primary, columns=columns, name=name
        )
        say(f"  {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in evaluation.metrics.items()))
        return evaluation

    say(f"evaluating {bundle} on {len(query_rows)} queries against {len(metadata)} items")
    evaluations = [run(f"{encoder_name} (this bundle)", recommender.embeddings)]
    if recommender.grouped:
        # Products with several photos: each photo of a test product asks, products answer.
        evaluations.append(
            evaluate_products(
                recommender.photo_embeddings,
                recommender.photo_product,
                metadata,
                query_rows,
                keys,
                primary=primary,
                columns=columns,
                name=f"{encoder_name}: photos ask, products answer",
            )
        )
        say(f"  {evaluations[-1].name}: {evaluations[-1].metrics}")
    for other in compare_bundles:
        name, embeddings = aligned_embeddings(Path(other), recommender.items.ids)
        evaluations.append(run(name, embeddings))
    if baselines:
        evaluations.append(run("raw 32x32 pixels", raw_pixel_embeddings(recommender.items.paths)))
        chance = np.random.default_rng(0).normal(size=(len(metadata), 8)).astype(np.float32)
        evaluations.append(run("chance (random vectors)", chance))

    out_dir = Path(out_dir) if out_dir else Path(bundle) / "report"
    extra = []
    robust = None
    if robustness:
        say("robustness: degraded copies of test items must find the original")
        robust = degraded_copy_recall(
            recommender, query_rows, keys, progress=progress, expand=expansion
        )
        extra += [
            "## Degraded-copy queries (recall of the original item)",
            "",
            "| degradation | recall@1 | recall@10 |",
            "|---|---|---|",
        ]
        extra += [
            f"| {name} | {v['recall@1']:.3f} | {v['recall@10']:.3f} |" for name, v in robust.items()
        ]
    folders = [] if queries is None else [queries] if isinstance(queries, str | Path) else queries
    query_sets = []
    for folder in folders:
        query_sets.append(
            evaluate_queries_folder(
                recommender,
                Path(folder),
                queries_split,
                primary,
                queries_min_items,
                focus=focus,
                expand=expansion,
            )
        )
        extra += query_set_markdown(
            query_sets[-1], f"{encoder_name} (this bundle)", queries_min_items
        )
    grids = result_grids(recommender, evaluations[0], query_rows, primary, out_dir)
    extra += ["", "## Result grids", ""] + [f"![grid]({p.name})" for p in grids]
    report_info = recommender.data.version_dir / "build_report.json"
    hidden = (
        json.loads(report_info.read_text()).get("hidden_label_items")
        if report_info.exists()
        else None
    )
    context = {
        "bundle": str(Path(bundle).resolve()),
        "queries": int(len(query_rows)),
        "gallery": "whole catalog minus the query and its duplicate group",
        "primary_label": primary,
        "test_labels_hidden_in_training": hidden,
        "garment_focus": bool(focus and folders and recommender.focuses),
        "query_expansion": bool(expansion),
        "seconds": round(time.perf_counter() - started, 1),
    }
    md, js = write_report(out_dir, evaluations, context, "\n".join(extra))
    payload = json.loads(js.read_text())
    if robust is not None:
        payload["robustness"] = robust
    for result in query_sets:
        result.pop("result_ids", None)
    if query_sets:
        payload["outside_photos"] = query_sets[0]
    if len(query_sets) > 1:
        payload["query_sets"] = query_sets
    if robust is not None or query_sets:
        js.write_text(json.dumps(payload, indent=2))
    say("\n" + format_table(evaluations))
    for result in query_sets:
        if result.get("protocol", SHOPPER_PROTOCOL) == SHOPPER_PROTOCOL:
            say(f"\noutside photos ({result['folder']}, split {result['split'] or 'all'}):")
            say(format_query_set_table({f"{encoder_name} (this bundle)": result["metrics"]}))
        else:
            section = query_set_markdown(result, f"{encoder_name} (this bundle)")
            say("\n" + "\n".join(line.lstrip("# ") for line in section))
    say(f"\nreport: {md}")
    return payload
