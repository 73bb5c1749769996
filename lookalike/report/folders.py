"""A query folder's protocol: which one it follows, running it, and its report section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lookalike.evaluation import (
    DEFAULT_PRIMARY,
    MIN_ITEMS_PER_SCORED_TYPE,
    format_mapped_table,
    format_query_set_table,
)
from lookalike.labelled import MASK_LABELS_FILE, MASKS_DIR, TYPE_MAP_FILE, read_type_map
from lookalike.report.outside import (
    MASKS_PROTOCOL,
    SHOPPER_PROTOCOL,
    TYPE_MAP_PROTOCOL,
    evaluate_mapped_photos,
    evaluate_query_photos,
    read_query_photos,
)
from lookalike.report.street import LOOK_MIN_IOU, evaluate_masked_photos


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
