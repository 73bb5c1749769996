"""Dump a fixed set of query results of a bundle, to check that a refactoring changed nothing.

Runs, on the bundle given: item queries (about 50 ids, with and without duplicate collapse,
``combine`` ``mean`` and ``min``), photo queries (about 20 catalog photos: plain, expanded or
not, with the garment focus or not, a few with a crop, several in one call), filtered queries
(one column, two columns, several values), a profile with likes and a dislike (``fusion`` and
``mean``, with diversity), ``search`` on raw vectors, ``recommend_images`` of a product's
other photos, plus the recommender's derived arrays (duplicate groups, typical distance).
Every result is written as ids, photo numbers, duplicates, match words and ``repr`` of each
distance, so two runs compare exactly.

    .venv/bin/python bench/same_results.py --bundle /tmp/refbundle --out before.json
    .venv/bin/python bench/same_results.py --bundle /tmp/refbundle --out after.json \
        --compare before.json

Prints the number of queries (and, with ``--compare``, whether every one is equal; exits 1
when one is not).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

import lookalike
from lookalike.personal import Profile, recommend_profile


def _results(results: list[Any]) -> list[list[Any]]:
    """A result list as plain values, floats as their repr (exact comparison)."""
    return [
        [r.id, repr(r.distance), r.rank, r.match, r.photo, list(r.photos), r.photo_path,
         list(r.duplicates)]
        for r in results
    ]  # fmt: skip


def _query_results(found: list[Any]) -> list[Any]:
    return [
        {"query": q.query, "error": q.error, "crop": q.crop, "results": _results(q.results)}
        for q in found
    ]


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _filters(rec: Any) -> list[dict[str, list[str]]]:
    """Filters built from the bundle's own metadata (the two most common values of a column)."""
    out = []
    for name in ("ProductType", "Colour", "Gender", "Usage"):
        values = [str(m.get(name, "")) for m in rec.items.metadata]
        common = [v for v, _ in sorted(
            ((v, values.count(v)) for v in set(values) if v), key=lambda p: (-p[1], p[0])
        )][:2]  # fmt: skip
        if common:
            out.append({name: common[:1]})
            out.append({name: [c.upper() for c in common]})
    if len(out) >= 3:
        out.append({**out[0], **out[2]})
    return out


def run(bundle: Path, n_items: int = 50, n_photos: int = 20) -> dict[str, Any]:
    """Every query of the fixed set on ``bundle``: name -> plain, exactly comparable result."""
    rec = lookalike.load(bundle)
    ids = list(rec.items.ids)
    step = max(1, len(ids) // n_items)
    item_ids = ids[::step][:n_items]
    photo_rows = list(range(0, len(rec.photos), max(1, len(rec.photos) // n_photos)))[:n_photos]
    photos = [rec.photos.paths[r] for r in photo_rows]
    out: dict[str, Any] = {
        "derived": {
            "typical_distance": repr(rec.typical_distance),
            "duplicate_group": _digest(np.asarray(rec.duplicate_group, np.int64)),
            "exact_group": _digest(np.asarray(rec.exact_group, np.int64)),
            "embeddings": _digest(np.asarray(rec.embeddings, np.float32)),
            "metadata_columns": rec.metadata_columns,
            "grouped": rec.grouped,
        }
    }
    for collapse in (True, False):
        for combine in ("mean", "min"):
            found = rec.recommend_items(
                item_ids, k=10, collapse_duplicates=collapse, combine=combine
            )
            out[f"items collapse={collapse} combine={combine}"] = _query_results(found)
    out["items k=1"] = _query_results(rec.recommend_items(item_ids[:10], k=1))
    out["items k=all"] = _query_results(rec.recommend_items(item_ids[:3], k=len(ids)))
    for number, filters in enumerate(_filters(rec)):
        found = rec.recommend_items(item_ids[:20], k=10, filters=filters)
        out[f"items filter {number} {filters}"] = _query_results(found)
        found = rec.recommend_images(photos[:5], k=10, filters=filters)
        out[f"photos filter {number} {filters}"] = _query_results(found)
    for focus in (True, False):
        for expand in (True, False):
            found = rec.recommend_images(photos, k=10, focus=focus, expand=expand)
            out[f"photos focus={focus} expand={expand}"] = _query_results(found)
    for path in photos[:5]:  # one at a time too: a batch must not change a photo's answer
        out[f"photo alone {Path(path).name}"] = _query_results(rec.recommend_images([path], k=10))
    crops = [(0.1, 0.1, 0.6, 0.7), (0.0, 0.3, 1.0, 0.5), None, (0.25, 0.0, 0.5, 1.0)]
    found = rec.recommend_images(photos[:4], k=10, crop=crops)
    out["photos crops"] = _query_results(found)
    found = rec.recommend_images(photos[:3], k=10, crop=(0.2, 0.2, 0.6, 0.6))
    out["photos one crop"] = _query_results(found)
    first = Path(photos[0])
    found = rec.recommend_images([first.read_bytes() if first.is_file() else b"", "/none.jpg"], k=5)
    out["photos bytes and missing"] = _query_results(found)
    for multi in [rows for rows in map(rec.photo_rows, range(len(rec))) if len(rows) > 1][:5]:
        paths = [rec.photos.paths[r] for r in multi]
        out[f"product photos {paths}"] = _query_results(rec.recommend_images(paths, k=10))
    vectors = np.asarray(rec.photo_embeddings[photo_rows[:8]], np.float32) * 1.01
    out["search vectors"] = [_results(r) for r in rec.search(vectors, k=10)]
    out["search photos"] = [_results(r) for r in rec.search_photos(vectors, k=10)]
    liked = [rec.row(i) for i in item_ids[:3]]
    disliked = [rec.row(item_ids[5])]
    for method in ("fusion", "mean"):
        for diversity in (0.0, 0.5):
            profile = Profile(liked_rows=liked, disliked_rows=disliked)
            found = recommend_profile(rec, profile, k=10, method=method, diversity=diversity)
            out[f"profile {method} diversity={diversity}"] = _results(found)
    vectors = np.asarray(rec.photo_embeddings[photo_rows[:2]], np.float32)
    profile = Profile(liked_rows=liked[:1], liked_vectors=vectors)
    out["profile with photos"] = _results(recommend_profile(rec, profile, k=10))
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the queries, write the JSON, compare with an earlier run when asked."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("bench/results/same_results.json"))
    parser.add_argument("--compare", type=Path, help="an earlier run's JSON to compare with")
    args = parser.parse_args(argv)
    found = json.loads(json.dumps(run(args.bundle)))  # tuples -> lists, as read back
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(found, indent=1))
    n_lists = sum(len(v) for k, v in found.items() if k != "derived")
    print(f"{args.bundle}: {len(found) - 1} query sets, {n_lists} result lists -> {args.out}")
    if args.compare is None:
        return 0
    before = json.loads(args.compare.read_text())
    differ = sorted(k for k in set(before) | set(found) if before.get(k) != found.get(k))
    for name in differ:
        print(f"  DIFFERENT: {name}")
    print("exactly equal" if not differ else f"{len(differ)} query sets differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
