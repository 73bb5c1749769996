"""Measure the near-duplicate threshold and the ``match`` words on a bundle of a real catalog.

Recommendations collapse photos whose embeddings are closer than NEAR_COLLAPSE_FRACTION times
the catalog's median nearest-neighbour distance (``lookalike/recommend/recommender.py``), and
each result carries a word (same / close / similar / distant) from the same ratio. This script
measures what those numbers do on the catalog:

1. known duplicate groups (``duplicates.csv``, byte-identical photos under several ids): the
   distance ratio between members (must be ~0);
2. near copies: catalog photos re-encoded (JPEG 70), downscaled (60 %) or trimmed (3 % per
   side), 300 items per seed, seeds 0, 1, 2: the ratio to their original (recall of each
   candidate fraction, mean +- std over the seeds);
3. different items: each item's nearest item outside its byte-identical group; how many fall
   under each candidate fraction, and how many of those share ProductType and Colour (same
   design) or the exact ProductTitle;
4. the words: for the split's ``test`` items (top 10, query excluded) and, when present, the
   shopper photos' ``dev`` split (top 1), the share of results with the same ProductType per
   ratio band.

    python bench/near_duplicates.py --bundle bundles/demo-hybrid

Prints tables, writes bench/results/near_duplicates.json and a picture of the closest pairs
of different items (bench/results/near_duplicate_pairs.png).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    RESULTS_DIR,
    catalog_of,
    format_table,
    load_recommender,
    machine_info,
    spread,
    write_json,
)

from lookalike.catalog import read_duplicate_groups, read_split  # noqa: E402
from lookalike.recommend import (  # noqa: E402
    MATCH_CLOSE,
    MATCH_SIMILAR,
    NEAR_COLLAPSE_FRACTION,
)

FRACTIONS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)
BANDS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.3, 1.6, 2.0, np.inf)
SEEDS = (0, 1, 2)
COPIES_PER_SEED = 300


def variants(path: str) -> dict[str, bytes]:
    """Near copies of one catalog photo: re-encoded, downscaled, trimmed."""
    with Image.open(path) as original:
        image = original.convert("RGB")
    out = {}
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=70)
    out["jpeg70"] = buffer.getvalue()
    small = image.resize((max(1, int(image.width * 0.6)), max(1, int(image.height * 0.6))))
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=90)
    out["downscale60"] = buffer.getvalue()
    dx, dy = int(image.width * 0.03), int(image.height * 0.03)
    buffer = io.BytesIO()
    image.crop((dx, dy, image.width - dx, image.height - dy)).save(buffer, "JPEG", quality=90)
    out["trim3"] = buffer.getvalue()
    return out


def near_copy_ratios(rec, seed: int) -> dict[str, np.ndarray]:
    """Distance ratio of each near copy to its original, per kind of copy."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(rec), size=min(COPIES_PER_SEED, len(rec)), replace=False)
    kinds: dict[str, list[float]] = {}
    for start in range(0, len(rows), 50):
        chunk = rows[start : start + 50]
        sources, owners, names = [], [], []
        for row in chunk:
            for kind, data in variants(rec.items.paths[row]).items():
                sources.append(data)
                owners.append(row)
                names.append(kind)
        vectors, ok, _ = rec.encode_images(sources)
        for vector, index in zip(vectors, ok, strict=True):
            distance = float(np.linalg.norm(vector - rec.embeddings[owners[index]]))
            kinds.setdefault(names[index], []).append(distance / rec.typical_distance)
    return {kind: np.array(values) for kind, values in kinds.items()}


def nearest_other(rec) -> tuple[np.ndarray, np.ndarray]:
    """Each row's nearest row outside its byte-identical group, and the distance ratio."""
    k = min(len(rec), 8)
    distances, rows = rec.index.search(np.ascontiguousarray(rec.embeddings, np.float32), k)
    own = np.arange(len(rec))[:, None]
    other = (rows >= 0) & (rec.exact_group[np.clip(rows, 0, None)] != rec.exact_group[own])
    first = np.argmax(other, axis=1)
    has = other[np.arange(len(rec)), first]
    partner = np.where(has, rows[np.arange(len(rec)), first], -1)
    ratio = np.where(has, distances[np.arange(len(rec)), first], np.inf) / rec.typical_distance
    return partner, ratio


def same(rec, a: int, b: int, *columns: str) -> bool:
    ma, mb = rec.items.metadata[a], rec.items.metadata[b]
    return all(ma.get(c, "") == mb.get(c, "") and ma.get(c, "") for c in columns)


def pairs_picture(rec, pairs: list[tuple[int, int, float]], path: Path) -> None:
    """Side-by-side thumbnails of pairs (a, b, ratio), one pair per cell."""
    side, cols = 120, 4
    rows = max(1, (len(pairs) + cols - 1) // cols)
    canvas = Image.new("RGB", (cols * (2 * side + 16), rows * (side + 8)), "white")
    for i, (a, b, _ratio) in enumerate(pairs):
        x, y = (i % cols) * (2 * side + 16), (i // cols) * (side + 8)
        for j, row in enumerate((a, b)):
            with Image.open(rec.items.paths[row]) as image:
                thumb = image.convert("RGB")
            thumb.thumbnail((side, side))
            canvas.paste(thumb, (x + j * side, y))
    canvas.save(path)


def word_bands(rec, catalog: Path, shopper: Path | None) -> dict[str, Any]:
    """Share of results with the query's ProductType per ratio band."""
    split = read_split(catalog / "split.csv") if (catalog / "split.csv").exists() else {}
    tests = [i for i in rec.items.ids if split.get(i) == "test"]
    ratios, hits = [], []
    for start in range(0, len(tests), 100):
        chunk = tests[start : start + 100]
        for item_id, result in zip(chunk, rec.recommend_items(chunk, k=10), strict=True):
            wanted = rec.items.metadata[rec.row(item_id)].get("ProductType")
            for r in result.results:
                ratios.append(r.distance / rec.typical_distance)
                hits.append(r.metadata.get("ProductType") == wanted)
    out: dict[str, Any] = {"catalog_test_top10": bands(np.array(ratios), np.array(hits))}
    if shopper is not None and (shopper / "labels.csv").exists():
        with open(shopper / "labels.csv", newline="") as handle:
            labels = [row for row in csv.DictReader(handle) if row.get("split") == "dev"]
        paths = [str(shopper / "images" / f"{row['id']}.jpg") for row in labels]
        top_ratio, top_hit = [], []
        for start in range(0, len(paths), 50):
            found = rec.recommend_images(paths[start : start + 50], k=1)
            for row, result in zip(labels[start : start + 50], found, strict=True):
                if result.results:
                    best = result.results[0]
                    top_ratio.append(best.distance / rec.typical_distance)
                    top_hit.append(best.metadata.get("ProductType") == row["producttype"])
        out["shopper_dev_top1"] = bands(np.array(top_ratio), np.array(top_hit))
        out["shopper_dev_top1"]["share_distant"] = round(
            float(np.mean(np.array(top_ratio) > MATCH_SIMILAR)), 3
        )
    return out


def bands(ratios: np.ndarray, hits: np.ndarray) -> dict[str, Any]:
    table = []
    for low, high in zip(BANDS[:-1], BANDS[1:], strict=True):
        inside = (ratios >= low) & (ratios < high)
        table.append(
            {
                "band": f"{low:g}-{high:g}",
                "results": int(inside.sum()),
                "same_type": round(float(hits[inside].mean()), 3) if inside.any() else None,
            }
        )
    return {"bands": table, "median_ratio": round(float(np.median(ratios)), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--catalog", type=Path, help="default: the bundle's catalog")
    parser.add_argument("--shopper-photos", type=Path, help="default: ../shopper-photos")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    rec, runtime = load_recommender(args.bundle, args.threads)
    load_s = time.perf_counter() - started
    group_s = []
    for _ in range(3):
        t = time.perf_counter()
        rec._group_near_duplicates()
        group_s.append(time.perf_counter() - t)
    catalog = args.catalog or catalog_of(args.bundle)
    shopper = args.shopper_photos or catalog.parent / "shopper-photos"
    typical = rec.typical_distance
    print(f"{len(rec)} items; median nearest-neighbour distance {typical:.4f}")
    print(f"grouping near duplicates at load: {spread(group_s, 3)['median']} s (median of 3)")

    # 1. known byte-identical groups
    dup_csv = catalog / "duplicates.csv"
    known = read_duplicate_groups(dup_csv) if dup_csv.exists() else {}
    members: dict[str, list[int]] = {}
    for item_id, group in known.items():
        if item_id in rec._row_of:
            members.setdefault(group, []).append(rec.row(item_id))
    known_ratios = [
        float(np.linalg.norm(rec.embeddings[a] - rec.embeddings[b])) / typical
        for rows in members.values()
        for a in rows
        for b in rows
        if a < b
    ]
    same_group = sum(
        len({int(rec.duplicate_group[r]) for r in rows}) == 1 for rows in members.values()
    )
    print(
        f"known duplicate groups: {len(members)}, pairs {len(known_ratios)}, max ratio "
        f"{max(known_ratios, default=0):.4f}; collapsed into one group: {same_group}"
    )

    # 2. near copies, 3 seeds
    per_seed = [near_copy_ratios(rec, seed) for seed in SEEDS]
    copy_rows = []
    copies: dict[str, Any] = {}
    for kind in per_seed[0]:
        recalls = {f: [float(np.mean(s[kind] < f)) for s in per_seed] for f in FRACTIONS}
        all_ratios = np.concatenate([s[kind] for s in per_seed])
        copies[kind] = {
            "ratio_p50": round(float(np.median(all_ratios)), 4),
            "ratio_p95": round(float(np.percentile(all_ratios, 95)), 4),
            "ratio_max": round(float(all_ratios.max()), 4),
            "recall": {
                str(f): {"mean": round(float(np.mean(v)), 4), "std": round(float(np.std(v)), 4)}
                for f, v in recalls.items()
            },
        }
        copy_rows.append(
            [kind, copies[kind]["ratio_p50"], copies[kind]["ratio_p95"]]
            + [f"{np.mean(recalls[f]):.3f}" for f in FRACTIONS]
        )
    print(
        "\nnear copies (ratio to the original; recall = share under each fraction, mean of 3 seeds)"
    )
    print(format_table(["copy", "p50", "p95"] + [f"<{f}" for f in FRACTIONS], copy_rows))

    # 3. different items under each fraction
    partner, ratio = nearest_other(rec)
    distinct_rows = []
    distinct: dict[str, Any] = {}
    for f in FRACTIONS:
        rows = np.flatnonzero(ratio < f)
        pairs = {(min(r, int(partner[r])), max(r, int(partner[r]))) for r in rows}
        design = sum(same(rec, a, b, "ProductType", "Colour") for a, b in pairs)
        titled = sum(same(rec, a, b, "ProductTitle") for a, b in pairs)
        distinct[str(f)] = {
            "items": int(len(rows)),
            "pairs": len(pairs),
            "same_type_and_colour": design,
            "same_title": titled,
        }
        distinct_rows.append(
            [f, len(rows), f"{100 * len(rows) / len(rec):.1f}%", len(pairs), design, titled]
        )
    print("\ndifferent photos whose nearest neighbour is under each fraction")
    print(
        format_table(
            ["fraction", "items", "of catalog", "pairs", "same type+colour", "same title"],
            distinct_rows,
        )
    )
    order = np.argsort(ratio)
    closest = []
    for r in order:
        pair = (min(int(r), int(partner[r])), max(int(r), int(partner[r])))
        if partner[r] >= 0 and pair not in {(a, b) for a, b, _ in closest}:
            closest.append((*pair, float(ratio[r])))
        if len(closest) == 16:
            break
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    picture = RESULTS_DIR / "near_duplicate_pairs.png"
    pairs_picture(rec, closest, picture)
    print(f"closest different pairs (ratios): {[round(c[2], 3) for c in closest]} -> {picture}")
    near_groups = len(set(rec.duplicate_group.tolist()))
    exact_groups = len(set(rec.exact_group.tolist()))
    print(
        f"with NEAR_COLLAPSE_FRACTION={NEAR_COLLAPSE_FRACTION}: {exact_groups} distinct files "
        f"-> {near_groups} duplicate groups"
    )

    # 4. words
    words = word_bands(rec, catalog, shopper if shopper.exists() else None)
    for name, result in words.items():
        print(f"\n{name}: same ProductType per ratio band (median ratio {result['median_ratio']})")
        print(
            format_table(
                ["ratio", "results", "same type"],
                [[b["band"], b["results"], b["same_type"]] for b in result["bands"]],
            )
        )
        if "share_distant" in result:
            print(
                f"share of shopper photos whose best match is 'distant': {result['share_distant']}"
            )

    payload = {
        "machine": machine_info(),
        "bundle": str(args.bundle),
        "runtime": runtime,
        "items": len(rec),
        "typical_distance": typical,
        "constants": {
            "NEAR_COLLAPSE_FRACTION": NEAR_COLLAPSE_FRACTION,
            "MATCH_CLOSE": MATCH_CLOSE,
            "MATCH_SIMILAR": MATCH_SIMILAR,
        },
        "load_s": round(load_s, 2),
        "group_near_duplicates_s": spread(group_s, 3),
        "known_duplicate_groups": {
            "groups": len(members),
            "pairs": len(known_ratios),
            "max_ratio": max(known_ratios, default=0.0),
            "collapsed_into_one_group": same_group,
        },
        "near_copies": copies,
        "different_items": distinct,
        "closest_different_pairs": [
            {"a": rec.items.ids[a], "b": rec.items.ids[b], "ratio": round(r, 4)}
            for a, b, r in closest
        ],
        "groups": {"distinct_files": exact_groups, "duplicate_groups": near_groups},
        "words": words,
    }
    print(f"\nwrote {write_json(payload, 'near_duplicates', args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
