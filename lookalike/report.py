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
    format_query_set_table,
    format_table,
    hit_rate_at_k,
    label_relevance,
    query_rows_for_split,
    query_set_metrics,
    scored_queries,
    write_report,
)
from lookalike.grid import GridRow, draw_grid, load_tile_image
from lookalike.imaging import load_images
from lookalike.labelled import LabelledPhotos, read_labelled_photos
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
    """:func:`evaluate_query_photos` on a folder's photos (``split``: a value of its
    ``split`` column; ``auto``: ``dev`` when there is one, else every photo; None: every
    photo), with the folder and split named in the result; ``query_options`` go to
    ``recommend_images`` (e.g. ``focus=False``)."""
    if split == "auto":
        everything = read_query_photos(folder, None, recommender)
        split = "dev" if any(i.metadata.get("split") == "dev" for i in everything.items) else None
    photos = read_query_photos(folder, split, recommender)
    result = evaluate_query_photos(
        recommender, photos, primary=primary, min_type_items=min_type_items, **query_options
    )
    return {"folder": str(folder), "split": split, **result}


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
    queries: Path | None = None,
    queries_split: str | None = "auto",
    queries_min_items: int = MIN_ITEMS_PER_SCORED_TYPE,
    focus: bool = True,
    expansion: bool = True,
) -> dict[str, Any]:
    """Evaluate ``bundle`` on the protocol; write report.md/json and grids to ``out_dir``.

    With ``queries`` (a folder of labelled outside photos, e.g. ``../shared/shopper-photos``)
    the shopper-photo protocol runs too (:func:`evaluate_query_photos`) on its
    ``queries_split`` rows (``auto``: ``dev`` when the labels have such a split, else all;
    None: all), with the garment focus unless ``focus`` is False. Photo queries (outside
    photos, degraded copies) are expanded (:meth:`Recommender.expand_photo_queries`) unless
    ``expansion`` is False.

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
    shopper = None
    if queries is not None:
        shopper = evaluate_queries_folder(
            recommender,
            Path(queries),
            queries_split,
            primary,
            queries_min_items,
            focus=focus,
            expand=expansion,
        )
        table = format_query_set_table({f"{encoder_name} (this bundle)": shopper["metrics"]})
        extra += [
            "## Outside photos (shopper-photo protocol)",
            "",
            f"{shopper['scored']} scored queries of {shopper['photos']} photos in "
            f"{shopper['folder']} (split {shopper['split'] or 'all'}): types with at least "
            f"{queries_min_items} "
            "catalog items, k = 10 from the whole catalog.",
            "",
            table,
            "",
        ]
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
        "garment_focus": bool(focus and queries is not None and recommender.focuses),
        "query_expansion": bool(expansion),
        "seconds": round(time.perf_counter() - started, 1),
    }
    md, js = write_report(out_dir, evaluations, context, "\n".join(extra))
    payload = json.loads(js.read_text())
    if robust is not None:
        payload["robustness"] = robust
    if shopper is not None:
        payload["outside_photos"] = {k: v for k, v in shopper.items() if k != "result_ids"}
    if robust is not None or shopper is not None:
        js.write_text(json.dumps(payload, indent=2))
    say("\n" + format_table(evaluations))
    if shopper is not None:
        say(f"\noutside photos ({shopper['folder']}, split {shopper['split'] or 'all'}):")
        say(format_query_set_table({f"{encoder_name} (this bundle)": shopper["metrics"]}))
    say(f"\nreport: {md}")
    return payload
