"""Decide, on validation photos (never a dev split), whether plain photo queries answer the
garment the garment parser finds (``recommend_images(garment_focus=...)``).

    .venv/bin/python bench/garment_focus.py --bundle bundles/demo-hybrid

Validation sets: the ``archive`` split of ``../shared/amateur-photos`` (type-map protocol:
phone photos of one garment) and the masked ``train`` photos of ``../shared/street-photos``
(whole-photo protocol: a hit answers any garment the person wears; the parser was trained on
their masks, so its boxes there are better than on new photos), and the ``archive`` split of
``../shared/shopper-photos`` (studio photos; a bundle that learnt from that archive has seen
them). Use a bundle that did not learn from the first two. Prints P@10 with the garment focus
off and on, writes ``bench/results/garment_focus.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEFAULT_CATALOG, machine_info, write_json  # noqa: E402

import lookalike  # noqa: E402
from lookalike.labelled import TYPE_MAP_FILE, read_type_map  # noqa: E402
from lookalike.report import (  # noqa: E402
    evaluate_mapped_photos,
    evaluate_masked_photos,
    evaluate_query_photos,
    read_query_photos,
)

SHARED = DEFAULT_CATALOG.parent


def main(argv: list[str] | None = None) -> int:
    """Measure plain photo queries with the garment focus off and on."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=300, help="photos per set (first N)")
    args = parser.parse_args(argv)
    rec = lookalike.load(args.bundle)
    rows = {}
    for garment_focus in (False, True):
        started = time.perf_counter()
        row = {}
        amateur = SHARED / "amateur-photos"
        photos = read_query_photos(amateur, "archive", rec)
        photos.items = photos.items[: args.limit]
        mapped = evaluate_mapped_photos(
            rec, photos, read_type_map(amateur / TYPE_MAP_FILE), garment_focus=garment_focus
        )
        row["amateur archive P@10"] = mapped["metrics"]["all"]["P@10 ProductType"]
        row["amateur archive mean over labels"] = mapped["metrics"]["mean over labels"][
            "P@10 ProductType"
        ]
        street = SHARED / "street-photos"
        photos = read_query_photos(street, "train", rec)
        photos.items = [i for i in photos.items if i.metadata.get("annotation") == "mask"]
        photos.items = photos.items[: args.limit]
        masked = evaluate_masked_photos(
            rec, photos, street, read_type_map(street / TYPE_MAP_FILE),
            garment_focus=garment_focus,
        )  # fmt: skip
        row["street train whole photo P@10"] = masked["metrics"]["whole photo"]["all"][
            "P@10 ProductType"
        ]
        shopper = read_query_photos(SHARED / "shopper-photos", "archive", rec)
        shopper.items = shopper.items[: args.limit]
        studio = evaluate_query_photos(rec, shopper, garment_focus=garment_focus)
        row["shopper archive P@10"] = studio["metrics"]["all"]["P@10 ProductType"]
        row["seconds"] = round(time.perf_counter() - started, 1)
        rows["on" if garment_focus else "off"] = row
        print(f"garment focus {'on' if garment_focus else 'off'}: {row}", flush=True)
    write_json(
        {"bundle": str(args.bundle), "limit": args.limit, "rows": rows, "machine": machine_info()},
        "garment_focus",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
