"""The catalog protocol's pieces that need a bundle: duplicate-group keys, the raw-pixel
baseline, another bundle's embeddings aligned to this one, and degraded-copy recall."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lookalike.bundle import read_bundle
from lookalike.catalog import read_duplicate_groups
from lookalike.degrade import DEGRADATIONS, degrade_batch
from lookalike.encoders import encoder_resize
from lookalike.evaluation import hit_rate_at_k, label_relevance
from lookalike.imaging import load_images
from lookalike.recommend import product_vectors

ROBUSTNESS_QUERIES = 200


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
