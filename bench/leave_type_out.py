"""Leave-type-out: does the encoder recognise a type on a person or on a bed when no archive
photo of that type taught it (only the catalog's flat shots did)?

    .venv/bin/python bench/leave_type_out.py --base bundles/arch-s0 \\
        --types Dresses Skirts Shirts Shorts

For each held-out type X, the base bundle's build is repeated with
``leave_out_archive_labels=[X]`` (every archive photo whose label names X, partial labels
included, leaves the training; its cached views are reused, the base's fusion weights are
kept, so each build is one head training) into ``--work/lto-<X>``, and the dev photos whose
label answers X are queried: ``../shared/amateur-photos`` (type-map protocol) and the garment
crops of ``../shared/street-photos`` (street protocol). Prints, per type, P@10 with and without
that type's archive photos; writes ``bench/results/leave_type_out.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEFAULT_CATALOG, machine_info, write_json  # noqa: E402

import lookalike  # noqa: E402
from lookalike.bundle import read_bundle  # noqa: E402
from lookalike.cli.common import parse_options  # noqa: E402
from lookalike.labelled import TYPE_MAP_FILE, read_type_map  # noqa: E402
from lookalike.pipeline import BuildConfig, build_bundle  # noqa: E402
from lookalike.report import evaluate_queries_folder  # noqa: E402

SHARED = DEFAULT_CATALOG.parent
QUERY_FOLDERS = ("amateur-photos", "street-photos")


def per_label_p10(result: dict[str, Any]) -> dict[str, tuple[int, float]]:
    """label -> (queries, P@10 type) of a type-map or street protocol result (the street
    protocol's garment-crop rows)."""
    metrics = result["metrics"]
    labels = metrics.get("garment crop", metrics).get("labels", {})
    return {label: (m["queries"], m["P@10 ProductType"]) for label, m in labels.items()}


def type_scores(rec, held_out: str) -> dict[str, Any]:
    """P@10 of the dev photos whose label maps to ``held_out`` (only to it or among others),
    per folder, and their query-weighted mean."""
    out: dict[str, Any] = {}
    total, weight = 0.0, 0
    for name in QUERY_FOLDERS:
        folder = SHARED / name
        type_map = read_type_map(folder / TYPE_MAP_FILE)
        labels = {label for label, types in type_map.items() if held_out in types}
        result = evaluate_queries_folder(rec, folder)
        rows = {k: v for k, v in per_label_p10(result).items() if k in labels}
        out[name] = {label: {"queries": n, "P@10": round(p, 3)} for label, (n, p) in rows.items()}
        total += sum(n * p for n, p in rows.values())
        weight += sum(n for n, _ in rows.values())
    out["mean"] = round(total / weight, 3) if weight else None
    out["queries"] = weight
    return out


def main(argv: list[str] | None = None) -> int:
    """Build one bundle per held-out type and compare its P@10 on that type with the base."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="the bundle with every type")
    parser.add_argument("--types", nargs="+", default=["Dresses", "Skirts"])
    parser.add_argument("--work", type=Path, default=Path("bundles/leave-type-out"))
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="OPTION=VALUE",
        help="an encoder option of the builds without the type (e.g. context_transfer=1)",
    )
    parser.add_argument(
        "--out", type=Path, help="JSON file (default bench/results/leave_type_out.json)"
    )
    args = parser.parse_args(argv)
    base_data = read_bundle(args.base)
    config = BuildConfig(**base_data.config)
    options = dict(config.encoder_options)
    encoder_json = json.loads((base_data.version_dir / "encoder" / "encoder.json").read_text())
    tuned = encoder_json.get("config", {}).get("weights")
    if config.workdir is None:  # the base's work folder holds the cached views
        config = dataclasses.replace(config, workdir=str(args.base / "work"))
    base = lookalike.load(args.base)
    rows = {}
    for held_out in args.types:
        started = time.perf_counter()
        with_type = type_scores(base, held_out)
        leave_out = {
            **options,
            **parse_options(args.set),
            "leave_out_archive_labels": [held_out],
            "tune": False,
        }
        if tuned:
            leave_out["weights"] = tuned
        out = args.work / f"lto-{held_out.replace(' ', '_')}"
        build_bundle(dataclasses.replace(config, encoder_options=leave_out), out, progress=False)
        without = type_scores(lookalike.load(out), held_out)
        rows[held_out] = {
            "with its archive photos": with_type,
            "without": without,
            "seconds": round(time.perf_counter() - started, 1),
        }
        print(
            f"{held_out}: P@10 {with_type['mean']} with its archive photos, "
            f"{without['mean']} without ({without['queries']} dev queries)",
            flush=True,
        )
    payload = {"base": str(args.base), "options": args.set, "rows": rows, "machine": machine_info()}
    write_json(payload, "leave_type_out", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
