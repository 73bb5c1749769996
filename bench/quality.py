"""The quality table, rebuilt from scratch with one command: build every bundle, evaluate all.

Usage:

    .venv/bin/python bench/quality.py                       # build cae, efficientnet-lite0,
                                                             # hybrid seeds 0 1 2; evaluate
    .venv/bin/python bench/quality.py --skip-cae            # without the ~25 min CAE build
    .venv/bin/python bench/quality.py --reuse               # evaluate bundles already in --work
    .venv/bin/python bench/quality.py --reuse --work /nonexistent \\
        --bundle efficientnet-lite0=/tmp/b-eff --robustness-queries 20   # smoke run

Bundles go to ``--work`` (default bundles/quality) as ``cae``, ``efficientnet-lite0`` and
``hybrid-seed<S>`` (``encoder_options={"seed": S}``), built with
``lookalike.pipeline.build_bundle`` from the reference catalog. "From scratch" means each
bundle's ``work/`` cache folder (decoded images, backbone view features, CAE checkpoints)
is deleted first and no trained encoder is reused; ``--keep-cache`` keeps it (an
interrupted CAE run then resumes from its checkpoint).

Every bundle is evaluated on the catalog's protocol (``lookalike.evaluation``: test-split
queries, gallery = catalog minus the query's duplicate group, exact search over the stored
embeddings), next to the raw 32x32 pixel baseline and two chance rows (random 8-d vectors
with seed 0, as ``lookalike evaluate`` reports, and the exact expectation of a random
ranking). The hybrid seeds get a mean +- std row. Each bundle also gets the degraded-copy
robustness recall@1/@10 (``lookalike.report.degraded_copy_recall``: degraded copies of test
items must find the original), and each ``--queries`` folder's protocol (repeatable; default
``../shared/shopper-photos``, plus ``amateur-photos`` and ``street-photos`` beside the catalog
when present; split ``dev`` when present; ``lookalike.report``'s ``evaluate_queries_folder``):
the shopper-photo protocol (outside photos whose type has >= 20 catalog items query the whole
catalog; P@1 / P@10 type, P@10 colour and type AND colour, overall and per category), the
type-map protocol of a folder with a ``type_map.csv`` (labels in another vocabulary; P@1 /
P@10 type overall and per label, and the mean over labels) and the street-photo protocol of a
folder with label maps (garment crop P@10 overall / apparel / footwear / mean over labels,
whole photo P@10, shop the look when the recommender has ``recommend_look``). The hybrid seeds
get their mean per protocol. Output: a table on stdout, ``bench/results/quality.json`` and a
Markdown report ``bench/results/quality.md``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    DEFAULT_CATALOG,
    RESULTS_DIR,
    load_warning,
    machine_info,
    write_json,
)

ROBUST_KEYS = ("recall@1", "recall@10")
#: The query folders evaluated by default (those present): shopper photos first, then photos
#: labelled in other vocabularies (amateur photos at home, street photos with label maps).
DEFAULT_QUERIES = tuple(
    DEFAULT_CATALOG.parent / name for name in ("shopper-photos", "amateur-photos", "street-photos")
)


@dataclass
class Spec:
    """One bundle row of the table: its name, how to build it and where it lives."""

    name: str
    encoder: str
    options: dict[str, Any]
    folder: Path
    given: bool = False  # passed with --bundle: never built


@dataclass
class Row:
    """Evaluation of one set of embeddings (bundle or baseline)."""

    name: str
    kind: str  # bundle | baseline | aggregate
    metrics: dict[str, float]
    queries: int = 0
    robustness: dict[str, dict[str, float]] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    shopper: dict[str, dict[str, float]] | None = None  # group -> shopper-photo metrics
    #: query folder name -> {"protocol", "folder", "metrics"} (every --queries folder)
    query_sets: dict[str, dict[str, Any]] = field(default_factory=dict)


# --- plan and build ------------------------------------------------------------------------
def plan(args: argparse.Namespace) -> list[Spec]:
    """The bundles of the table, in order, with --bundle overrides applied."""
    specs = []
    if not args.skip_cae:
        specs.append(Spec("cae", "cae", {"epochs": args.cae_epochs}, args.work / "cae"))
    specs.append(
        Spec("efficientnet-lite0", "efficientnet-lite0", {}, args.work / "efficientnet-lite0")
    )
    for seed in args.seeds:
        specs.append(
            Spec(f"hybrid-seed{seed}", "hybrid", {"seed": seed}, args.work / f"hybrid-seed{seed}")
        )
    for name, path in args.bundle:
        match = next((s for s in specs if s.name == name), None)
        if match is None:
            specs.append(Spec(name, "", {}, path, given=True))
        else:
            match.folder, match.given = path, True
    return specs


def build(spec: Spec, catalog: Path, keep_cache: bool, progress: bool) -> dict[str, Any]:
    """Build one bundle from scratch; returns the build's timings."""
    from lookalike.pipeline import BuildConfig, build_bundle, read_build_report

    work = spec.folder / "work"
    if work.is_dir() and not keep_cache:
        shutil.rmtree(work)
    config = BuildConfig(catalog=str(catalog), encoder=spec.encoder, encoder_options=spec.options)
    print(
        f"\n=== building {spec.name} ({spec.encoder}, options {spec.options}) into {spec.folder}",
        flush=True,
    )
    started = time.perf_counter()
    version = build_bundle(config, spec.folder, progress=progress, reuse_trained=False)
    wall = time.perf_counter() - started
    return {"wall_s": round(wall, 1), **read_build_report(Path(version)).get("seconds", {})}


def is_bundle(folder: Path) -> bool:
    """True when ``folder`` holds a bundle (a CURRENT pointer)."""
    return (folder / "CURRENT").is_file()


# --- protocol ------------------------------------------------------------------------------
@dataclass
class Protocol:
    """What every row is evaluated against: the catalog's items, split and duplicates."""

    catalog: Path
    split: dict[str, str]
    queries: list[Path] = field(default_factory=list)  # query folders (labels.csv + images/)
    queries_split: str | None = "auto"

    def setup(self, items: Any) -> tuple[np.ndarray, list[str]]:
        """(query rows, duplicate-group keys) for a bundle's (or the catalog's) item table."""
        from lookalike.report import group_keys_for

        try:
            from lookalike.evaluation import query_rows_for_split as rows_for_split
        except ImportError:  # its name before the rename (pytest collected test_*)
            from lookalike.evaluation import test_query_rows as rows_for_split
        keys = group_keys_for(SimpleNamespace(items=items), self.catalog)
        return rows_for_split(items.ids, self.split), keys


def catalog_items(catalog: Path) -> Any:
    """The catalog as an ItemTable (sorted by id, with content hashes) for the baselines."""
    from lookalike.bundle import ItemTable
    from lookalike.catalog import read_catalog
    from lookalike.imaging import image_content_hash

    items = read_catalog(catalog).items
    return ItemTable(
        ids=[i.id for i in items],
        paths=[str(i.path) for i in items],
        metadata=[i.metadata for i in items],
        content_hashes=[image_content_hash(i.path) for i in items],
    )


def evaluate_rows(
    name: str, embeddings: np.ndarray, items: Any, protocol: Protocol
) -> tuple[Row, np.ndarray, list[str]]:
    """Protocol metrics of ``embeddings`` (row-aligned with ``items``)."""
    from lookalike.evaluation import evaluate_embeddings

    query_rows, keys = protocol.setup(items)
    evaluation = evaluate_embeddings(embeddings, items.metadata, query_rows, keys, name=name)
    return Row(name, "bundle", evaluation.metrics, len(query_rows)), query_rows, keys


def robustness(
    bundle: Path, query_rows: np.ndarray, keys: list[str], queries: int
) -> dict[str, dict[str, float]]:
    """Degraded-copy recall@1/@10 per degradation (+ mean) with the bundle's own encoder."""
    from lookalike.recommend import Recommender
    from lookalike.report import ROBUSTNESS_QUERIES, degraded_copy_recall

    recommender = Recommender.from_bundle(bundle)
    if queries < min(ROBUSTNESS_QUERIES, len(query_rows)):
        # degraded_copy_recall samples min(200, len(rows)) rows: hand it a smaller pool.
        pool = np.random.default_rng(0).choice(query_rows, size=queries, replace=False)
        query_rows = np.sort(pool)
    return degraded_copy_recall(recommender, query_rows, keys)


def query_sets(
    bundle: Path, folders: list[Path], split: str | None
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Each query folder's protocol on a bundle (``evaluate_queries_folder``: shopper-photo,
    type-map or street-photo protocol, by the folder's layout).

    Returns:
        (folder name -> {"protocol", "folder", "split", "metrics"}, folder name -> error).
    """
    from lookalike.recommend import Recommender
    from lookalike.report import evaluate_queries_folder

    recommender = Recommender.from_bundle(bundle)
    out, errors = {}, {}
    for folder in folders:
        try:
            result = evaluate_queries_folder(recommender, folder, split)
        except Exception as exc:  # noqa: BLE001 - the other folders and rows stand on their own
            errors[folder.name] = f"{type(exc).__name__}: {exc}"
            continue
        out[folder.name] = {
            "protocol": result.get("protocol", "shopper"),
            "folder": result["folder"],
            "split": result["split"],
            "metrics": result["metrics"],
        }
    return out, errors


def evaluate_bundle_row(spec: Spec, protocol: Protocol, robust_queries: int) -> Row:
    """Metrics of a bundle's stored embeddings, then its robustness (errors are recorded)."""
    from lookalike.bundle import read_bundle

    data = read_bundle(spec.folder)
    encoder = data.manifest.get("encoder", {})
    row, query_rows, keys = evaluate_rows(spec.name, data.embeddings, data.items, protocol)
    row.info = {
        "folder": str(spec.folder.resolve()),
        "version": data.version_dir.name,
        "encoder": encoder.get("name"),
        "dim": encoder.get("dim"),
        "items": len(data.items),
        "catalog": data.config.get("catalog"),
        "encoder_options": data.config.get("encoder_options"),
    }
    report = data.version_dir / "build_report.json"
    if report.is_file():
        import json

        row.info["build_seconds"] = json.loads(report.read_text()).get("seconds")
    if Path(str(data.config.get("catalog"))).resolve() != protocol.catalog.resolve():
        row.info["warning"] = f"built from {data.config.get('catalog')}, not {protocol.catalog}"
    if robust_queries > 0:
        try:
            row.robustness = robustness(spec.folder, query_rows, keys, robust_queries)
        except Exception as exc:  # noqa: BLE001 - a bundle that cannot load still has metrics
            row.info["robustness_error"] = f"{type(exc).__name__}: {exc}"
            row.info["robustness_traceback"] = traceback.format_exc(limit=4)
    if protocol.queries:
        try:
            row.query_sets, errors = query_sets(
                spec.folder, protocol.queries, protocol.queries_split
            )
        except Exception as exc:  # noqa: BLE001 - the catalog rows stand on their own
            errors = {"all": f"{type(exc).__name__}: {exc}"}
        if errors:
            row.info["shopper_error"] = "; ".join(f"{k}: {v}" for k, v in errors.items())
        row.shopper = next(
            (q["metrics"] for q in row.query_sets.values() if q["protocol"] == "shopper"), None
        )
    return row


# --- baselines and aggregates --------------------------------------------------------------
def baseline_rows(protocol: Protocol) -> list[Row]:
    """Raw 32x32 pixels, random vectors (seed 0) and the exact random-ranking expectation."""
    from lookalike.report import raw_pixel_embeddings

    items = catalog_items(protocol.catalog)
    raw, _, _ = evaluate_rows(
        "raw 32x32 pixels", raw_pixel_embeddings(items.paths), items, protocol
    )
    chance_vectors = np.random.default_rng(0).normal(size=(len(items), 8)).astype(np.float32)
    chance, query_rows, keys = evaluate_rows(
        "chance (random vectors, seed 0)", chance_vectors, items, protocol
    )
    expected = Row(
        "chance (expected, random ranking)",
        "baseline",
        expected_chance(list(chance.metrics), items, query_rows, keys),
        len(query_rows),
    )
    for row in (raw, chance):
        row.kind = "baseline"
    return [raw, chance, expected]


def expected_chance(
    metric_keys: list[str], items: Any, query_rows: np.ndarray, keys: list[str]
) -> dict[str, float]:
    """Exact expected P@k of a uniformly random ranking of each query's gallery.

    For any k this is the share of gallery items sharing the query's label(s) (empty labels
    never match), averaged over queries. mAP has no such closed form and is left out.
    """
    from lookalike.evaluation import gallery_exclusions

    exclusions = gallery_exclusions(keys, query_rows)
    n = len(items.ids)
    out = {}
    for key in metric_keys:
        metric, _, label = key.partition(" ")
        if not metric.startswith("P@"):
            continue
        columns = label.split("+")
        joint = np.array(
            ["\x1f".join(m.get(c, "") for c in columns) for m in items.metadata], dtype=object
        )
        known = np.array([all(m.get(c, "") for c in columns) for m in items.metadata])
        shares = []
        for q, excluded in zip(query_rows, exclusions, strict=True):
            if not known[q]:
                shares.append(0.0)
                continue
            same = int((joint == joint[q]).sum()) - int((joint[excluded] == joint[q]).sum())
            shares.append(same / max(n - len(excluded), 1))
        out[key] = float(np.mean(shares)) if shares else float("nan")
    return out


def aggregate(rows: list[Row], encoder: str) -> Row | None:
    """Mean and spread over the rows of one encoder (the hybrid seeds); None for < 2 rows."""
    chosen = [r for r in rows if r.info.get("encoder") == encoder and r.kind == "bundle"]
    if len(chosen) < 2:
        return None
    keys = [k for k in chosen[0].metrics if all(k in r.metrics for r in chosen)]
    stats = {k: _stats([r.metrics[k] for r in chosen]) for k in keys}
    robust = None
    with_robust = [r for r in chosen if r.robustness]
    if len(with_robust) == len(chosen):
        robust = {
            name: {k: float(np.mean([r.robustness[name][k] for r in chosen])) for k in ROBUST_KEYS}
            for name in chosen[0].robustness
        }
    shopper = None
    if all(r.shopper for r in chosen):
        shopper = {
            group: {k: float(np.mean([r.shopper[group][k] for r in chosen])) for k in metrics}
            for group, metrics in chosen[0].shopper.items()
        }
    sets = {
        name: {**first, "metrics": mean_tree([r.query_sets[name]["metrics"] for r in chosen])}
        for name, first in chosen[0].query_sets.items()
        if all(name in r.query_sets for r in chosen)
    }
    seeds = [(r.info.get("encoder_options") or {}).get("seed") for r in chosen]
    over = (
        f"seeds {', '.join(map(str, seeds))}"
        if None not in seeds and len(set(seeds)) > 1
        else f"{len(chosen)} bundles"
    )
    return Row(
        f"{encoder} mean ± std over {over}",
        "aggregate",
        {k: s["mean"] for k, s in stats.items()},
        chosen[0].queries,
        robust,
        {
            "members": [r.name for r in chosen],
            "spread": stats,
            "robustness_mean_spread": _robust_spread(chosen) if robust else None,
        },
        shopper,
        sets,
    )


def mean_tree(trees: list[Any]) -> Any:
    """The mean of nested dicts of numbers, key by key (keys every tree has); other values
    (counts of a protocol's photos, flags, lists) as the first tree has them, numbers that
    differ averaged."""
    first = trees[0]
    if isinstance(first, dict):
        return {
            key: mean_tree([t[key] for t in trees])
            for key in first
            if all(isinstance(t, dict) and key in t for t in trees)
        }
    if isinstance(first, int | float) and not isinstance(first, bool):
        numbers = all(isinstance(t, int | float) and not isinstance(t, bool) for t in trees)
        if numbers and any(t != first for t in trees):
            return float(np.mean(trees))
    return first


def _stats(values: list[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(array.mean()),
        "std": float(array.std(ddof=1)) if len(array) > 1 else 0.0,
        "min": float(array.min()),
        "max": float(array.max()),
        "values": [float(v) for v in array],
    }


def _robust_spread(rows: list[Row]) -> dict[str, dict[str, float]]:
    return {k: _stats([r.robustness["mean"][k] for r in rows]) for k in ROBUST_KEYS}


# --- output --------------------------------------------------------------------------------
def metric_columns(rows: list[Row]) -> list[str]:
    """Every metric key in first-seen order."""
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row.metrics if k not in keys]
    return keys


def cell(row: Row, key: str) -> str:
    """One table cell: the value, with +- std on aggregate rows."""
    if key not in row.metrics:
        return ""
    value = f"{row.metrics[key]:.3f}"
    spread = row.info.get("spread", {}).get(key) if row.kind == "aggregate" else None
    return f"{value} ± {spread['std']:.3f}" if spread else value


def robust_cells(row: Row) -> list[str]:
    """Mean degraded-copy recall@1 and @10 (with spread on aggregates; '' when not run)."""
    if not row.robustness:
        return ["n/a", "n/a"] if row.info.get("robustness_error") else ["", ""]
    cells = []
    for key in ROBUST_KEYS:
        value = f"{row.robustness['mean'][key]:.3f}"
        spread = (row.info.get("robustness_mean_spread") or {}).get(key)
        cells.append(f"{value} ± {spread['std']:.3f}" if spread else value)
    return cells


def markdown_table(rows: list[Row]) -> str:
    """All rows, metrics + robustness, as a Markdown table."""
    keys = metric_columns(rows)
    head = ["features", *keys, "robust R@1", "robust R@10"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for row in rows:
        lines.append(
            "| " + " | ".join([row.name, *[cell(row, k) for k in keys], *robust_cells(row)]) + " |"
        )
    return "\n".join(lines)


def robustness_table(rows: list[Row]) -> str:
    """Per degradation, recall@1 / recall@10 of each bundle row, as Markdown."""
    robust = [r for r in rows if r.robustness]
    if not robust:
        return "(no robustness results)"
    names = list(robust[0].robustness)
    lines = ["| features | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for row in robust:
        values = [
            f"{row.robustness[n]['recall@1']:.3f} / {row.robustness[n]['recall@10']:.3f}"
            for n in names
        ]
        lines.append(f"| {row.name} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def shopper_table(rows: list[Row]) -> str:
    """Per bundle row and photo group, the shopper-photo metrics, as Markdown."""
    from lookalike.evaluation import format_query_set_table

    chosen = {r.name: r.shopper for r in rows if r.shopper}
    return format_query_set_table(chosen) if chosen else "(no shopper-photo results)"


def _value(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else ("" if value is None else str(value))


def query_set_table(rows: list[Row], name: str) -> str:
    """Per bundle row, one type-map or street-photo query folder's headline numbers, as
    Markdown (the shopper-photo folders are in :func:`shopper_table`)."""
    chosen = [(r.name, r.query_sets[name]) for r in rows if name in r.query_sets]
    if not chosen:
        return "(no results)"
    protocol = chosen[0][1]["protocol"]
    cells: list[tuple[str, dict[str, Any]]] = []
    for row_name, result in chosen:
        metrics = result["metrics"]
        if protocol == "type_map":
            values = {
                "queries": metrics["all"]["queries"],
                "P@1 type": metrics["all"]["P@1 ProductType"],
                "P@10 type": metrics["all"]["P@10 ProductType"],
                "mean over labels P@10": metrics["mean over labels"]["P@10 ProductType"],
            }
            values |= {
                f"{label} P@10": m["P@10 ProductType"] for label, m in metrics["labels"].items()
            }
        else:
            crop, look = metrics["garment crop"], metrics["shop the look"]
            values = {
                "garments": crop["all"]["queries"],
                "crop P@10": crop["all"]["P@10 ProductType"],
                **{f"crop {g} P@10": m["P@10 ProductType"] for g, m in crop["groups"].items()},
                "crop mean over labels P@10": crop["mean over labels"]["P@10 ProductType"],
                "whole photo P@10": metrics["whole photo"]["all"]["P@10 ProductType"],
                "look found": look.get("found", "not available"),
                "look P@10": look.get("P@10 ProductType", "not available"),
            }
            values |= {
                f"crop {label} P@10": m["P@10 ProductType"] for label, m in crop["labels"].items()
            }
        cells.append((row_name, values))
    keys: list[str] = []
    for _, values in cells:
        keys += [k for k in values if k not in keys]
    lines = ["| features | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for row_name, values in cells:
        lines.append(f"| {row_name} | " + " | ".join(_value(values.get(k)) for k in keys) + " |")
    return "\n".join(lines)


def other_query_sets(rows: list[Row]) -> list[str]:
    """The names of the type-map and street-photo query folders, in first-seen order."""
    names: list[str] = []
    for row in rows:
        names += [
            n for n, q in row.query_sets.items() if q["protocol"] != "shopper" and n not in names
        ]
    return names


def write_markdown(rows: list[Row], context: dict[str, Any], path: Path) -> Path:
    """The Markdown report: context, main table, robustness table, notes (missing rows too)."""
    shown = [r for r in rows if r.kind != "missing"]
    lines = ["# lookalike quality table", ""]
    lines += [f"- {k}: {v}" for k, v in context.items() if not isinstance(v, dict | list)]
    lines += [
        "",
        markdown_table(shown),
        "",
        "robust R@k: mean over degradations of the recall of the original item when "
        "querying with a degraded copy of a test item.",
        "",
        "## Degraded-copy recall@1 / recall@10 per degradation",
        "",
        robustness_table(shown),
        "",
        "## Shopper photos (outside photos query the catalog, k = 10)",
        "",
        shopper_table(shown),
        "",
    ]
    for name in other_query_sets(shown):
        protocol = next(r.query_sets[name]["protocol"] for r in shown if name in r.query_sets)
        lines += [f"## {name} ({protocol} protocol, k = 10)", "", query_set_table(shown, name), ""]
    notes = [
        f"- {r.name} ({k.replace('_', ' ')}): {r.info[k]}"
        for r in rows
        for k in ("warning", "robustness_error", "shopper_error", "error")
        if r.info.get(k)
    ]
    builds = [f"- {r.name}: {r.info['build_seconds']}" for r in rows if r.info.get("build_seconds")]
    if builds:
        lines += ["## Build seconds (from each bundle's build_report.json)", "", *builds, ""]
    if notes:
        lines += ["## Notes", "", *notes, ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def row_json(row: Row) -> dict[str, Any]:
    """JSON form of a row (tracebacks kept, numpy converted)."""
    return {
        "name": row.name,
        "kind": row.kind,
        "queries": row.queries,
        "metrics": row.metrics,
        "robustness": row.robustness,
        "shopper_photos": row.shopper,
        "query_sets": row.query_sets,
        **row.info,
    }


# --- driver --------------------------------------------------------------------------------
def parse_bundle(text: str) -> tuple[str, Path]:
    """``NAME=PATH`` -> (name, path)."""
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, Path(path)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--catalog",
        type=Path,
        default=DEFAULT_CATALOG,
        help="reference catalog (with split.csv and duplicates.csv)",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("bundles/quality"),
        help="folder the bundles are built into",
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2], help="hybrid encoder seeds"
    )
    parser.add_argument("--skip-cae", action="store_true", help="leave out the CAE (~25 min)")
    parser.add_argument("--cae-epochs", type=int, default=30, help="CAE training epochs")
    parser.add_argument(
        "--reuse", action="store_true", help="evaluate the bundles already in --work; build nothing"
    )
    parser.add_argument(
        "--keep-cache",
        action="store_true",
        help="keep each bundle's work/ cache (decoded images, views, checkpoints)",
    )
    parser.add_argument(
        "--bundle",
        type=parse_bundle,
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="use this existing bundle for row NAME (e.g. hybrid-seed0=/tmp/b); "
        "never built; repeatable",
    )
    parser.add_argument(
        "--robustness-queries",
        type=int,
        default=200,
        help="degraded-copy queries per bundle (0 skips robustness)",
    )
    parser.add_argument(
        "--no-baselines", action="store_true", help="leave out raw-pixel and chance rows"
    )
    parser.add_argument(
        "--queries",
        type=Path,
        action="append",
        help="query folder (labels.csv + images/; its protocol by its layout: shopper photos, "
        "a type_map.csv, label maps); repeatable; default: "
        + ", ".join(p.name for p in DEFAULT_QUERIES)
        + " beside the catalog, those present; '' to skip",
    )
    parser.add_argument(
        "--queries-split",
        default="auto",
        help="split of --queries to query with (auto: dev when present)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the bundles that would be built or evaluated, then stop",
    )
    parser.add_argument("--quiet", action="store_true", help="no build progress bars")
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS_DIR / "quality.json",
        help="JSON file; the Markdown goes next to it with .md",
    )
    args = parser.parse_args(argv)
    if args.cae_epochs < 1 or args.robustness_queries < 0:
        parser.error("--cae-epochs must be >= 1 and --robustness-queries >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    """Build (unless --reuse), evaluate every row, print and save the table."""
    from lookalike.catalog import read_split

    args = parse_args(argv)
    info = machine_info()
    if warning := load_warning(info):
        print(warning)
    specs = plan(args)
    if args.dry_run:
        for spec in specs:
            action = "use" if spec.given or args.reuse else "build"
            state = "exists" if is_bundle(spec.folder) else "absent"
            print(
                f"{action:5} {spec.name:22} {spec.encoder or '(from bundle)':20} "
                f"{spec.options!s:18} {spec.folder} ({state})"
            )
        return 0
    started = time.perf_counter()
    builds: dict[str, Any] = {}
    failed: dict[str, str] = {}
    if not args.reuse:
        for spec in specs:
            if spec.given:
                continue
            try:
                builds[spec.name] = build(spec, args.catalog, args.keep_cache, not args.quiet)
            except Exception as exc:  # noqa: BLE001 - one failed build must not lose the others
                traceback.print_exc()
                failed[spec.name] = f"build failed: {type(exc).__name__}: {exc}"
    split_path = args.catalog / "split.csv"
    given = args.queries is not None
    asked = [q for q in (args.queries if given else DEFAULT_QUERIES) if str(q) not in ("", ".")]
    queries = [q for q in asked if q.is_dir()]
    for missing in (q for q in asked if not q.is_dir()):
        if given or missing == DEFAULT_QUERIES[0]:
            print(f"no query photos at {missing}: its rows skipped")
    protocol = Protocol(
        args.catalog,
        read_split(split_path) if split_path.is_file() else {},
        queries,
        args.queries_split or None,
    )
    rows: list[Row] = []
    for spec in specs:
        if spec.name in failed or not is_bundle(spec.folder):
            reason = failed.get(spec.name, f"no bundle at {spec.folder}")
            print(f"skipping {spec.name}: {reason}")
            missing = {"error": reason}
            rows.append(Row(spec.name, "missing", {}, info=missing))
            continue
        print(f"evaluating {spec.name} ({spec.folder}) ...", flush=True)
        row = evaluate_bundle_row(spec, protocol, args.robustness_queries)
        if spec.name in builds:
            row.info["build"] = builds[spec.name]
        if row.info.get("robustness_error"):
            print(f"  robustness failed: {row.info['robustness_error']}")
        rows.append(row)
    evaluated = [r for r in rows if r.kind == "bundle"]
    for encoder in dict.fromkeys(r.info.get("encoder") for r in evaluated):
        if (summary := aggregate(evaluated, encoder)) is not None:
            rows.insert(
                rows.index(next(r for r in rows if r.name == summary.info["members"][-1])) + 1,
                summary,
            )
    if not args.no_baselines:
        print("evaluating baselines (raw pixels, chance) ...", flush=True)
        rows += baseline_rows(protocol)
    shown = [r for r in rows if r.kind != "missing"]
    table = markdown_table(shown)
    print("\n" + table + "\n\nrobust R@k = mean degraded-copy recall; per degradation:\n")
    print(robustness_table(shown))
    if any(r.shopper for r in shown):
        print(f"\nshopper photos (split {args.queries_split}):\n")
        print(shopper_table(shown))
    for name in other_query_sets(shown):
        print(f"\n{name} (split {args.queries_split}):\n")
        print(query_set_table(shown, name))
    for row in rows:
        for key in ("warning", "robustness_error", "shopper_error", "error"):
            if row.info.get(key):
                print(f"note: {row.name}: {row.info[key]}")
    context = {
        "catalog": str(args.catalog.resolve()),
        "queries": next((r.queries for r in shown if r.queries), 0),
        "protocol": "test split as queries; gallery = catalog minus query's duplicate group; "
        "exact Euclidean search over stored embeddings",
        "mode": "reuse (no builds)" if args.reuse else "built from scratch",
        "robustness_queries": args.robustness_queries,
        "seconds": round(time.perf_counter() - started, 1),
        "created": info["created"],
    }
    md = write_markdown(rows, context, args.out.with_suffix(".md"))
    payload = {
        "benchmark": "quality",
        **context,
        "rows": [row_json(r) for r in rows],
        "markdown_table": table,
        "machine": info,
    }
    print(f"\nresults: {write_json(payload, 'quality', args.out)} and {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
