"""Products with several photos on the reference catalog (issue 18): what grouping changes.

The reference catalog has one photo per product, so products gain photos two ways:

* ``second photo``: each product gets a second photo made from its own by a realistic
  transformation (crop 80 % of the area, mirror, brightness/contrast jitter:
  lookalike/degrade.py), and a third one (rotation + crop) for the latency catalog;
* ``duplicates paired``: the catalog's known byte-identical copies (duplicates.csv: 455
  items in 204 groups) become one product with several photos.

Measured (queries: every photo of the split's test products; exact search):

* duplicates in top-10: a plain photo search (no grouping) vs the grouped search: share of
  result lists showing a product twice, and repeated entries per list;
* precision per product: P@1 / P@10 ProductType of the product lists (own product and its
  duplicate group excluded) with and without grouping;
* a query by product id: ``mean`` (mean of the normalised photo vectors) vs ``min`` (one
  search per photo, nearest photo wins): P@1 / P@10 and time per query;
* latency: Recommender.search of 200 photo queries, k=10, per index kind, on the one-photo
  catalog and the 3-photos-per-product catalog, interleaved, median of ``--runs``. IVF-PQ
  twice: ``ivfpq`` with a fixed nlist=32 for both catalogs (nprobe 16 then scans half of all
  codes, so its cost grows with the photos), and ``ivfpq-default`` with each catalog's own
  default nlist (4 sqrt(n), what ``lookalike build`` gives: codes scanned grow ~sqrt(n)).

Run (about 5 minutes on 2 cores; wrap in flock on a shared machine):

    flock /tmp/lookalike-cpu.lock .venv/bin/python bench/products.py

``--latency-only`` skips the quality tables; ``--extras FILE.npz`` keeps the encoded extra
photos between runs (written when missing, read when present: plain arrays, no pickle).

Prints tables and writes bench/results/products.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Time queries as `lookalike serve` answers them: one BLAS thread, OpenMP threads that sleep
# (set before faiss loads). With idle pools spinning, a busy machine stalled one-query
# searches (numpy's and faiss' alike) to ~8 ms now and then.
from lookalike.threads import configure_for_queries  # noqa: E402

QUERY_THREADS = configure_for_queries()

from common import RESULTS_DIR, machine_info, write_json  # noqa: E402

from lookalike.bundle import BundleData, ItemTable, PhotoTable  # noqa: E402
from lookalike.catalog import read_duplicate_groups, read_split  # noqa: E402
from lookalike.degrade import random_crop, random_lighting, random_rotation  # noqa: E402
from lookalike.encoders.base import encode_in_batches  # noqa: E402
from lookalike.evaluation import evaluate_products, label_relevance, precision_at_k  # noqa: E402
from lookalike.imaging import load_images  # noqa: E402
from lookalike.index import build_index, search_groups  # noqa: E402
from lookalike.index.grouped import group_bounds, search_groups_exact  # noqa: E402
from lookalike.neighbours import exact_search  # noqa: E402
from lookalike.recommend import Recommender  # noqa: E402

KINDS = ("flat", "hnsw", "ivfpq", "ivfpq-default")
# The index kind and build params of each timed configuration.
KIND_PARAMS: dict[str, tuple[str, dict]] = {
    "flat": ("flat", {}),
    "hnsw": ("hnsw", {}),
    "ivfpq": ("ivfpq", {"nlist": 32}),  # fixed for both catalogs (as measured first)
    "ivfpq-default": ("ivfpq", {}),  # each catalog's default_nlist(n)
}


def second_photo(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Another shot of the product: 80 % crop, mirrored, lighting jitter."""
    image = random_crop(image, rng, area=0.8)[:, ::-1]
    return random_lighting(np.ascontiguousarray(image), rng, strength=0.2)


def third_photo(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A third shot: rotated up to 10 degrees, 85 % crop."""
    return random_crop(random_rotation(image, rng, 10), rng, area=0.85)


def recommender_over(
    base: Recommender,
    items: ItemTable,
    photos: PhotoTable,
    vectors: np.ndarray,
    kind: str = "flat",
) -> Recommender:
    """A Recommender over an in-memory catalog of ``photos`` (base's encoder); ``kind`` is a
    key of KIND_PARAMS."""
    data = BundleData(
        base.data.bundle_dir,
        base.data.version_dir,
        base.data.manifest,
        base.data.config,
        items,
        vectors,
        photos,
    )
    index_kind, params = KIND_PARAMS[kind]
    return Recommender(data, base.encoder, build_index(vectors, kind=index_kind, **params))


def with_photos(base: Recommender, extra: list[np.ndarray]) -> tuple[PhotoTable, np.ndarray]:
    """The one-photo catalog plus photos ``extra[j][row]`` as photo j + 2 of product row."""
    n = len(base.items)
    products = list(range(n)) + [r for _ in extra for r in range(n)]
    numbers = [1] * n + [j + 2 for j in range(len(extra)) for _ in range(n)]
    paths = list(base.items.paths) + [
        f"{p}#photo{j + 2}" for j in range(len(extra)) for p in base.items.paths
    ]
    hashes = list(base.items.content_hashes) + [
        f"{h}-{j + 2}" for j in range(len(extra)) for h in base.items.content_hashes
    ]
    vectors = np.concatenate([base.photo_embeddings, *extra]).astype(np.float32)
    return PhotoTable(products, numbers, paths, hashes), vectors


def paired_duplicates(base: Recommender, catalog: Path) -> tuple[ItemTable, PhotoTable]:
    """Products = duplicate groups of duplicates.csv (one product, several photos)."""
    groups = read_duplicate_groups(catalog / "duplicates.csv")
    key = [f"g{groups[i]}" if i in groups else f"i{i}" for i in base.items.ids]
    first: dict[str, int] = {}
    products = [first.setdefault(k, len(first)) for k in key]
    keep = sorted(first.values(), key=lambda p: p)
    firsts = [key.index(k) for k in first]
    items = base.items.select(firsts)
    numbers, seen = [], {}
    for p in products:
        seen[p] = seen.get(p, 0) + 1
        numbers.append(seen[p])
    assert len(keep) == len(items)
    return items, PhotoTable(
        products, numbers, list(base.items.paths), list(base.items.content_hashes)
    )


def quality(rec: Recommender, query_products: np.ndarray, k: int = 10) -> dict[str, float]:
    """Repeats in the top k and product precision, a plain photo search vs grouped."""
    types = np.array([m.get("ProductType", "") for m in rec.items.metadata], dtype=object)
    products = rec.photo_product
    keys = [str(g) for g in rec.exact_group]
    query_photos = np.flatnonzero(np.isin(products, query_products))
    own = products[query_photos]
    vectors = rec.photo_embeddings[query_photos]
    # Plain photo search: the k nearest photos not of the query's own product (or its
    # duplicate group), shown as they come (a product may appear several times).
    excluded_group = rec.exact_group
    depth = k + int(np.bincount(excluded_group).max()) * rec.max_photos
    _, rows = exact_search(rec.photo_embeddings, vectors, min(depth, len(products)))
    plain = np.full((len(vectors), k), -1, np.int64)
    for i, row in enumerate(rows):
        kept = [products[r] for r in row if excluded_group[products[r]] != excluded_group[own[i]]]
        plain[i, : len(kept[:k])] = kept[:k]
    repeats = np.array([k - len(set(row.tolist())) for row in plain])
    grouped = evaluate_products(
        rec.photo_embeddings, products, rec.items.metadata, query_products, keys
    )
    distinct = np.array([len(set(r.tolist())) for r in grouped.result_rows])
    plain_hits = label_relevance(types, own, plain)
    # the same ranking with repeats dropped, cut at k (what grouping returns)
    return {
        "query_photos": len(query_photos),
        "plain: lists with a product twice": float((repeats > 0).mean()),
        "plain: repeated entries per list": float(repeats.mean()),
        "grouped: lists with a product twice": float((distinct < k).mean()),
        "plain: P@1 ProductType": precision_at_k(plain_hits, 1),
        "plain: P@10 ProductType": precision_at_k(plain_hits, 10),
        "plain: distinct products in top-10": float(np.mean([len(set(r)) for r in plain.tolist()])),
        "grouped: P@1 ProductType": grouped.metrics["P@1 ProductType"],
        "grouped: P@10 ProductType": grouped.metrics["P@10 ProductType"],
        "grouped: P@10 ProductType+Colour": grouped.metrics.get("P@10 ProductType+Colour", 0.0),
    }


def product_queries(rec: Recommender, query_products: np.ndarray, k: int = 10) -> dict:
    """A query by product id, ``mean`` vs ``min``: P@1 / P@10 ProductType, ms per query."""
    types = [m.get("ProductType", "") for m in rec.items.metadata]
    ids = [rec.items.ids[r] for r in query_products]
    out = {}
    rec.recommend_items(ids[:2], k)  # builds the lazily computed lookups (centroids, columns)
    for combine in ("mean", "min"):
        started = time.perf_counter()
        results = rec.recommend_items(ids, k, combine=combine)
        seconds = time.perf_counter() - started
        hits = np.array(
            [
                [types[rec.row(r.id)] == types[rec.row(q.query)] for r in q.results]
                + [False] * (k - len(q.results))
                for q in results
            ]
        )
        out[combine] = {
            "P@1 ProductType": precision_at_k(hits, 1),
            "P@10 ProductType": precision_at_k(hits, 10),
            "ms per query": 1000 * seconds / len(ids),
        }
    return out


def time_search(rec: Recommender, queries: np.ndarray, filters=None) -> float:
    """Seconds for one Recommender.search of every query (k=10), one at a time."""
    started = time.perf_counter()
    for row in range(len(queries)):
        rec.search(queries[row : row + 1], 10, filters=filters)
    return time.perf_counter() - started


def latency(
    base: Recommender, catalog3: tuple[PhotoTable, np.ndarray], runs: int, kinds=KINDS
) -> dict[str, dict[str, float]]:
    """ms per query, one-photo vs 3 photos per product, per kind (interleaved runs)."""
    rng = np.random.default_rng(0)
    queries = catalog3[1][rng.choice(len(catalog3[1]), min(200, len(catalog3[1])), replace=False)]
    out = {}
    for kind in kinds:
        one = recommender_over(base, base.items, base.photos, base.photo_embeddings, kind)
        three = recommender_over(base, base.items, catalog3[0], catalog3[1], kind)
        for filters in (None, {"Gender": ["Girls"]}):
            # Warm up: lazily built lookups (columns, centroids) are not what a query costs.
            time_search(one, queries[:5], filters)
            time_search(three, queries[:5], filters)
            times: dict[str, list[float]] = {"one photo": [], "3 photos": []}
            for _ in range(runs):
                times["one photo"].append(time_search(one, queries, filters))
                times["3 photos"].append(time_search(three, queries, filters))
            ms = {name: 1000 * float(np.median(t)) / len(queries) for name, t in times.items()}
            ms["ratio"] = ms["3 photos"] / ms["one photo"]
            if kind.startswith("ivfpq"):
                ms["nlist one / 3 photos"] = f"{one.index.nlist} / {three.index.nlist}"
            out[f"{kind}{' filtered Gender=Girls' if filters else ''}"] = ms
            print(f"  {kind:5s} {'filtered' if filters else 'plain   '}: " + fmt(ms))
    return out


def grouping_depth(catalog3: tuple[PhotoTable, np.ndarray]) -> dict[str, float]:
    """How deep search_groups goes on the 3-photo catalog (photos fetched per query)."""
    photos, vectors = catalog3
    index = build_index(vectors, kind="flat")
    depths: list[int] = []

    class Counting:
        ntotal = index.ntotal

        def search(self, q, k, **options):
            depths.extend([k] * len(q))
            return index.search(q, k, **options)

    rng = np.random.default_rng(1)
    queries = vectors[rng.choice(len(vectors), min(200, len(vectors)), replace=False)]
    groups = photos.product_rows()
    for row in range(len(queries)):
        search_groups(Counting(), queries[row : row + 1], 10, groups, max_per_group=3)
    fetched = float(np.sum(depths) / len(queries))
    # The centroid route: how many products get their photos' distances computed.
    counts = np.bincount(groups)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    bounds = group_bounds(vectors, offsets, np.argsort(groups, kind="stable"))
    one_photo = build_index(vectors[: len(counts)], kind="flat")  # photo 1 of each product
    candidates = [exact_candidates(vectors, bounds, q, 10) for q in queries]
    # What grouping itself costs: search_groups vs the bare photo search at the same depth,
    # and the centroid route against a one-photo catalog's plain search.
    runs: dict[str, Any] = {
        "index.search k, one photo per product": lambda q: one_photo.search(q, 10),
        "index.search k*m photos": lambda q: index.search(q, 30),
        "search_groups k": lambda q: search_groups(index, q, 10, groups, max_per_group=3),
        "search_groups_exact k": lambda q: search_groups_exact(vectors, bounds, q, 10),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(6):  # the first round warms up and is not counted
        for name, run in runs.items():
            started = time.perf_counter()
            for row in range(len(queries)):
                run(queries[row : row + 1])
            times[name].append(time.perf_counter() - started)
    ms = {f"{n} ms": 1000 * float(np.median(t[1:])) / len(queries) for n, t in times.items()}
    return {
        "photos fetched per query (mean)": fetched,
        "searches per query (mean)": len(depths) / len(queries),
        "k*m bound": 30,
        "search_groups_exact: products whose photos are scanned (mean)": float(np.mean(candidates)),
        **ms,
    }


def exact_candidates(vectors: np.ndarray, bounds: Any, query: np.ndarray, k: int) -> int:
    """Products whose photos search_groups_exact scans for ``query``: those whose bound is
    under the k-th nearest product's distance, at least 4k (its first round)."""
    d = np.linalg.norm(vectors.astype(np.float64) - query, axis=1)
    best = np.full(len(bounds.radii), np.inf)
    np.minimum.at(
        best, np.repeat(np.arange(len(bounds.radii)), np.diff(bounds.offsets)), d[bounds.members]
    )
    kth = np.sort(best)[k - 1]
    lower = np.linalg.norm(bounds.centroids - query, axis=1) - bounds.radii
    return max(4 * k, int((lower <= kth).sum()))


# Times Recommender.search (200 catalog vectors, k=10, one at a time, best of 3) with the
# lookalike found first on sys.path: the code under test.
TIME_SEARCH = """
import json, os, sys, time
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import numpy as np
from threadpoolctl import threadpool_limits
threadpool_limits(limits=1, user_api="blas")  # as configure_for_queries (not in old code)
sys.path.insert(0, sys.argv[1])
from lookalike.recommend import Recommender
rec = Recommender.from_bundle(sys.argv[2])
n = len(rec.embeddings)
queries = rec.embeddings[np.random.default_rng(0).choice(n, min(200, n), replace=False)]
best = []
for filters in (None, {"Gender": ["Girls"]}):
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        for row in range(len(queries)):
            rec.search(queries[row : row + 1], 10, filters=filters)
        runs.append(time.perf_counter() - started)
    best.append(1000 * min(runs) / len(queries))
print(json.dumps(best))
"""


def one_photo_against(code_dir: str, bundle: str, runs: int) -> dict[str, dict[str, float]]:
    """ms per query of Recommender.search on the one-photo bundle: this checkout vs the code
    in ``code_dir`` (e.g. a worktree of the commit before issue 18), interleaved processes,
    median of ``runs``."""
    here = str(Path(__file__).resolve().parents[1])
    times: dict[str, list[list[float]]] = {"before": [], "now": []}
    for _ in range(runs):
        for name, code in (("before", code_dir), ("now", here)):
            out = subprocess.run(
                [sys.executable, "-c", TIME_SEARCH, code, bundle],
                capture_output=True,
                text=True,
                check=True,
            )
            times[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    result = {}
    for slot, label in ((0, "plain"), (1, "filtered Gender=Girls")):
        before = float(np.median([t[slot] for t in times["before"]]))
        now = float(np.median([t[slot] for t in times["now"]]))
        result[label] = {"before": before, "now": now, "ratio": now / before}
    return result


def fmt(values: dict) -> str:
    return ", ".join(
        f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", default="bundles/demo-hybrid")
    parser.add_argument("--catalog", default=None, help="default: the bundle's catalog")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kinds", default=",".join(KINDS), help="index kinds timed")
    parser.add_argument(
        "--against",
        metavar="DIR",
        help="also time the one-photo bundle's search with the lookalike in DIR (e.g. "
        "`git worktree add /tmp/old eae4651`, the commit before issue 18)",
    )
    parser.add_argument(
        "--against-bundle",
        metavar="DIR",
        help="the one-photo bundle --against times (default --bundle; the old code must be "
        "able to read it)",
    )
    parser.add_argument("--latency-only", action="store_true", help="skip the quality tables")
    parser.add_argument(
        "--extras",
        metavar="NPZ",
        help="the encoded 2nd/3rd photos: read if the file exists, else encoded and written",
    )
    parser.add_argument("--out", default=str(RESULTS_DIR / "products.json"))
    args = parser.parse_args()
    base = Recommender.from_bundle(args.bundle)
    catalog = Path(args.catalog or base.data.config["catalog"])
    split = read_split(catalog / "split.csv")
    test = np.array([r for r, i in enumerate(base.items.ids) if split.get(i) == "test"])
    print(f"{len(base.items)} products, {len(test)} test products")
    extra2, extra3 = extra_photos(base, args.extras)

    results: dict = {"machine": machine_info(), "bundle": args.bundle, "threads": QUERY_THREADS}
    if not args.latency_only:
        quality_tables(base, catalog, test, extra2, results)
    catalog3 = with_photos(base, [extra2, extra3])
    results["grouping depth (3 photos per product, flat, k=10)"] = grouping_depth(catalog3)
    print("grouping depth: " + fmt(results["grouping depth (3 photos per product, flat, k=10)"]))
    if args.against:
        against = args.against_bundle or args.bundle
        print(f"one-photo search, this checkout vs {args.against} (median of {args.runs}):")
        results["one photo vs before"] = one_photo_against(args.against, against, args.runs)
        results["one photo vs before"]["bundle"] = against
        for label, values in results["one photo vs before"].items():
            print(f"  {label}: " + (fmt(values) if isinstance(values, dict) else str(values)))
    print(f"latency, ms per query (Recommender.search, k=10, median of {args.runs} runs):")
    kinds = tuple(args.kinds.split(","))
    results["latency ms per query"] = latency(base, catalog3, args.runs, kinds)
    write_json(results, "products", Path(args.out))
    print(f"wrote {args.out}")


def extra_photos(base: Recommender, cache: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Every product's 2nd and 3rd photo (second_photo, third_photo) encoded, or read from
    ``cache`` (.npz) when it exists; written there when it does not."""
    if cache and Path(cache).is_file():
        with np.load(cache, allow_pickle=False) as saved:
            print(f"  extra photos read from {cache}")
            return saved["second"], saved["third"]
    started = time.perf_counter()
    batch = load_images(list(base.items.paths), base.encoder.input_size)
    assert len(batch.ok) == len(base.items), "every catalog photo must decode"
    rng = np.random.default_rng(0)
    seconds = np.stack([second_photo(image, rng) for image in batch.images])
    thirds = np.stack([third_photo(image, rng) for image in batch.images])
    extra2 = encode_in_batches(base.encoder.encode, seconds, batch_size=128, progress=False)
    extra3 = encode_in_batches(base.encoder.encode, thirds, batch_size=128, progress=False)
    print(f"  encoded {2 * len(batch.ok)} extra photos in {time.perf_counter() - started:.0f}s")
    if cache:
        np.savez(cache, second=extra2, third=extra3)
    return extra2, extra3


def quality_tables(
    base: Recommender, catalog: Path, test: np.ndarray, extra2: np.ndarray, results: dict
) -> None:
    """Repeats and precision with and without grouping, and product queries (into results)."""
    photos2, vectors2 = with_photos(base, [extra2])
    rec2 = recommender_over(base, base.items, photos2, vectors2)
    items_d, photos_d = paired_duplicates(base, catalog)
    rec_d = recommender_over(base, items_d, photos_d, base.photo_embeddings)
    test_d = np.unique(photos_d.product_rows()[test])
    for name, rec, queries in (
        ("one photo (as today)", base, test),
        ("second photo", rec2, test),
        ("duplicates paired", rec_d, test_d),
    ):
        results[name] = {
            "products": len(rec.items),
            "photos": len(rec.photos),
            **quality(rec, queries),
            "product query": product_queries(rec, queries),
        }
        print(f"{name}: " + fmt({k: v for k, v in results[name].items() if k != "product query"}))
        for combine, values in results[name]["product query"].items():
            print(f"  product query {combine}: " + fmt(values))


if __name__ == "__main__":
    main()
