"""`lookalike evaluate` on one bundle: the catalog protocol on it, its baselines and other
bundles, degraded copies and query folders; report.md, report.json and result grids."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.catalog import read_split
from lookalike.evaluation import (
    DEFAULT_COLUMNS,
    DEFAULT_PRIMARY,
    MIN_ITEMS_PER_SCORED_TYPE,
    Evaluation,
    evaluate_embeddings,
    evaluate_products,
    format_query_set_table,
    format_table,
    query_rows_for_split,
    write_report,
)
from lookalike.recommend import Recommender
from lookalike.report.catalog import (
    aligned_embeddings,
    degraded_copy_recall,
    group_keys_for,
    raw_pixel_embeddings,
)
from lookalike.report.folders import evaluate_queries_folder, query_set_markdown
from lookalike.report.grids import result_grids
from lookalike.report.outside import SHOPPER_PROTOCOL


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
