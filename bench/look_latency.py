"""Latency of a plain photo query with and without the garment parser's focus, and of a
shop-the-look query, side by side in one run.

    .venv/bin/python bench/look_latency.py --bundle bundles/demo-hybrid --runs 5

Per photo set (``catalog``: reference-catalog photos, where the encoder is nearly always sure
and nothing is parsed; ``street``: street-photo dev photos, where it is mostly unsure;
``shopper``: shopper-photo dev photos), each run makes one pass over the photos per mode in
turn, so slow spells of a shared machine hit every mode alike:

* ``plain, parser off``: ``recommend_images(garment_focus=False)`` (the path before the parser),
* ``plain, parser on``: ``recommend_images()`` (the default: the parser answers unsure photos),
* ``look``: ``recommend_look()`` (every garment found, each with its lookalikes).

One photo per call (bytes in memory), k = 10, the bundle loaded with ``--threads`` threads.
Prints the median over runs of each run's p50 and p95 (ms); writes
``bench/results/look_latency.json``.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    DEFAULT_CATALOG,
    load_recommender,
    load_warning,
    machine_info,
    write_json,
)  # noqa: E402

SHARED = DEFAULT_CATALOG.parent
MODES = ("plain, parser off", "plain, parser on", "look")


def photo_sets(count: int) -> dict[str, list[bytes]]:
    """Photo bytes per set: catalog, street (dev), shopper (dev); ``count`` each."""
    catalog = sorted(DEFAULT_CATALOG.rglob("*.jpg"))[:: max(1, 2906 // count)][:count]
    street = [SHARED / "street-photos" / "images" / f"{i:04d}.jpg" for i in range(451, 601)]
    with open(SHARED / "shopper-photos" / "labels.csv", newline="") as handle:
        dev = [row["id"] for row in csv.DictReader(handle) if row.get("split") == "dev"]
    shopper = [next((SHARED / "shopper-photos" / "images").glob(f"{i}.*")) for i in dev]
    sets = {"catalog": catalog, "street": street[:count], "shopper": shopper[:count]}
    return {name: [Path(p).read_bytes() for p in paths] for name, paths in sets.items()}


def main(argv: list[str] | None = None) -> int:
    """Time the three modes over each photo set."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--photos", type=int, default=60, help="photos per set")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    rec, _ = load_recommender(args.bundle, args.threads)
    rec.garment_parser._threads = args.threads  # the parser's session, like the encoder's
    calls = {
        MODES[0]: lambda data: rec.recommend_images([data], 10, garment_focus=False),
        MODES[1]: lambda data: rec.recommend_images([data], 10),
        MODES[2]: lambda data: rec.recommend_look([data], 10),
    }
    sets = photo_sets(args.photos)
    for call in calls.values():  # warm-up: sessions, the parser's graph
        for data in sets["street"][:3]:
            call(data)
    times = {(s, m): [] for s in sets for m in MODES}
    for run in range(args.runs):
        for name, photos in sets.items():
            for mode, call in calls.items():
                elapsed = []
                for data in photos:
                    started = time.perf_counter()
                    call(data)
                    elapsed.append((time.perf_counter() - started) * 1000)
                times[name, mode].append(
                    (float(np.percentile(elapsed, 50)), float(np.percentile(elapsed, 95)))
                )
        print(f"run {run + 1}/{args.runs} done", flush=True)
    rows = {}
    print(f"\n{'photos':8s} {'mode':20s} {'p50 ms':>8s} {'p95 ms':>8s}")
    for (name, mode), values in times.items():
        p50 = float(np.median([v[0] for v in values]))
        p95 = float(np.median([v[1] for v in values]))
        rows[f"{name} / {mode}"] = {"p50": round(p50, 2), "p95": round(p95, 2)}
        print(f"{name:8s} {mode:20s} {p50:8.2f} {p95:8.2f}")
    info = machine_info()
    warning = load_warning(info)
    if warning:
        print(warning)
    write_json(
        {
            "bundle": str(args.bundle),
            "threads": args.threads,
            "runs": args.runs,
            "photos": args.photos,
            "rows": rows,
            "machine": info,
        },
        "look_latency",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
