"""Duplicate detection: byte-identical images and near duplicates in embedding space.

Used by builds (exact-duplicate groups for the build report) and by updates (added images
that duplicate catalog items or each other). Duplicates are *reported*, never refused: an
image byte-identical to another (same sha256) is an ``exact`` duplicate - recommendations
already show one item per distinct image file - and one closer in embedding space than a
threshold to one of its nearest catalog neighbours, or within :data:`NEAR_HAMMING` bits of its
aHash and closer than :data:`AHASH_FACTOR` times that threshold, is a ``near`` duplicate.
(aHash alone would pair different products with the same silhouette on the white
backgrounds catalogs use.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lookalike.bundle import BundleData
from lookalike.imaging import average_hash, hamming, load_image
from lookalike.neighbours import exact_search

#: aHash (64 bits) distance at or below which two images count as near duplicates:
#: re-encodes and small resizes flip a few bits, different products about half of them.
NEAR_HAMMING = 4
#: An aHash match also needs the embeddings within this many times ``near_threshold``.
AHASH_FACTOR = 5.0
#: Catalog neighbours (by embedding) checked per added image for near duplicates.
NEAR_NEIGHBOURS = 5
#: Default embedding near-duplicate threshold, as a fraction of the catalog's median
#: distance from an item to its nearest other item (scale-free across encoders).
NEAR_FRACTION = 0.1
#: Items sampled to estimate that median distance.
NEIGHBOUR_SAMPLE = 2000


#: Two photos whose embeddings are closer than this fraction of the catalog's median
#: nearest-neighbour distance count as one (near duplicates). Measured on the reference
#: catalog by ``bench/near_duplicates.py`` (docs/near-duplicates.md): its different-file
#: near-identical pairs sit under 0.15 (223 pairs, 222 of the same type and colour); from 0.2
#: to 0.3 only 3 more pairs appear, so 0.25 sits in that gap.
NEAR_COLLAPSE_FRACTION = 0.25
#: Neighbours (besides the item itself) checked per item when grouping near duplicates.
NEAR_COLLAPSE_NEIGHBOURS = 4
#: Upper bounds of the ``match`` words, as multiples of the median nearest-neighbour
#: distance (``same`` below NEAR_COLLAPSE_FRACTION). Measured by bench/near_duplicates.py on
#: the reference catalog: results up to 1.3 share the query's type 98-100 % of the time
#: (shopper photos: 82-86 %), 1.3-1.6 89 % (55 %), beyond 1.6 77 % and less (shopper
#: photos: 14-19 %, hence ``distant``).
MATCH_CLOSE = 1.3
MATCH_SIMILAR = 1.6
#: Rows searched per call while grouping near duplicates at load time.
_GROUP_BATCH = 4096


@dataclass
class Duplicate:
    """An added item that duplicates ``of`` (an existing or another added item).

    ``kind`` is ``exact`` (byte-identical files) or ``near`` (aHash within NEAR_HAMMING
    bits or embedding distance under the threshold; both measures are given when known).
    """

    id: str
    of: str
    kind: str
    hamming: int | None = None
    distance: float | None = None


def duplicate_groups(content_hashes: list[str], ids: list[str]) -> list[list[str]]:
    """Groups of ids whose image files are byte-identical (only groups of 2+)."""
    groups: dict[str, list[str]] = {}
    for item_id, digest in zip(ids, content_hashes, strict=True):
        groups.setdefault(digest, []).append(item_id)
    return [group for group in groups.values() if len(group) > 1]


def near_duplicate_pairs(
    embeddings: np.ndarray, ids: list[str], content_hashes: list[str], threshold: float
) -> list[tuple[str, str, float]]:
    """Pairs of different images whose embeddings are closer than ``threshold`` (Euclidean).

    One exact top-2 search per item (the item itself and its nearest other item).
    """
    if len(embeddings) < 2:
        return []
    distances, positions = exact_search(embeddings, embeddings, 2)
    pairs = []
    for row in range(len(ids)):
        other, distance = int(positions[row, 1]), float(distances[row, 1])
        if other > row and distance < threshold and content_hashes[row] != content_hashes[other]:
            pairs.append((ids[row], ids[other], round(distance, 5)))
    return pairs


def typical_neighbour_distance(embeddings: np.ndarray, index: Any) -> float:
    """Median distance from an item to its nearest *other* item (a sample of items).

    Byte-identical copies (distance 0) are left out so they do not drag the median to 0.
    """
    n = len(embeddings)
    if n < 2:
        return 0.0
    rows = np.random.default_rng(0).choice(n, size=min(n, NEIGHBOUR_SAMPLE), replace=False)
    distances, found = index.search(embeddings[rows], 2)
    other = np.where(found[:, 0] == rows, distances[:, 1], distances[:, 0])
    other = other[(other > 0) & np.isfinite(other)]
    return float(np.median(other)) if len(other) else 0.0


def find_duplicates(
    data: BundleData,
    index: Any,
    new: Sequence[Any],
    hashes: Sequence[str],
    vectors: np.ndarray,
    images: np.ndarray,
    size: int,
    near_threshold: float | None = None,
) -> list[Duplicate]:
    """Exact and near duplicates of the new items among the bundle's items and each other.

    Exact: equal sha256. Near: among each new item's NEAR_NEIGHBOURS nearest (embedding)
    existing items and new items, those closer than ``near_threshold``, or within
    NEAR_HAMMING aHash bits and AHASH_FACTOR * ``near_threshold``; only those candidates are
    decoded for their aHash, so the cost stays a few decodes per added item.

    Args:
        data: the live version (its items, embeddings and image paths).
        index: the live version's index (searched, not changed).
        new: the added items (anything with an ``id``), row-aligned with the next three.
        hashes: their sha256 content hashes.
        vectors: their embeddings, float32 (n, dim).
        images: their decoded images, uint8 (n, size, size, 3).
        size: the side the catalog's images are decoded at for their aHash.
        near_threshold: embedding distance for near duplicates (default: NEAR_FRACTION of
            the catalog's median nearest-neighbour distance).

    Returns:
        One :class:`Duplicate` per pair found, the later item as the duplicate.
    """
    ids = [item.id for item in new]
    found: dict[tuple[str, str], Duplicate] = {}
    first_of: dict[str, str] = {}
    for item_id, digest in zip(data.items.ids, data.items.content_hashes or [], strict=False):
        first_of.setdefault(digest, item_id)
    exact: set[int] = set()
    for position, (item_id, digest) in enumerate(zip(ids, hashes, strict=True)):
        other = first_of.setdefault(digest, item_id)
        if other != item_id:  # (an item replacing itself with the same file is no duplicate)
            found[(item_id, other)] = Duplicate(item_id, other, "exact", 0, 0.0)
            exact.add(position)  # its near duplicates are those of the original

    threshold = (
        NEAR_FRACTION * typical_neighbour_distance(data.embeddings, index)
        if near_threshold is None
        else near_threshold
    )
    new_hash = [average_hash(image) for image in images]
    old_hash: dict[int, int | None] = {}

    def existing_hash(row: int) -> int | None:
        if row not in old_hash:
            try:
                old_hash[row] = average_hash(load_image(data.items.paths[row], size))
            except Exception:  # noqa: BLE001 - a missing/unreadable catalog file: no aHash
                old_hash[row] = None
        return old_hash[row]

    def consider(position: int, other: str, distance: float, their_hash) -> None:
        key = (ids[position], other)
        if position in exact or other == ids[position] or distance >= AHASH_FACTOR * threshold:
            return
        if key in found or (other, ids[position]) in found:
            return
        theirs = their_hash()
        bits = None if theirs is None else hamming(new_hash[position], theirs)
        if distance < threshold or (bits is not None and bits <= NEAR_HAMMING):
            found[key] = Duplicate(ids[position], other, "near", bits, round(distance, 5))

    if len(data.items):
        k = min(NEAR_NEIGHBOURS, len(data.items))
        distances, rows = index.search(vectors, k)
        for position in range(len(ids)):
            for distance, row in zip(distances[position], rows[position], strict=True):
                if row >= 0:
                    row = int(row)
                    other = data.items.ids[row]
                    consider(position, other, float(distance), lambda r=row: existing_hash(r))
    if len(ids) > 1:
        k = min(NEAR_NEIGHBOURS + 1, len(ids))
        distances, rows = exact_search(vectors, vectors, k)
        for position in range(len(ids)):
            for distance, row in zip(distances[position], rows[position], strict=True):
                if 0 <= row < position:  # each pair once, the later item as the duplicate
                    row = int(row)
                    consider(position, ids[row], float(distance), lambda r=row: new_hash[r])
    return list(found.values())


def exact_group_numbers(content_hashes: Sequence[str]) -> np.ndarray:
    """Per row, a group number shared by the rows whose image files are byte-identical."""
    group_of: dict[str, int] = {}
    return np.array([group_of.setdefault(h, len(group_of)) for h in content_hashes], np.int64)


def near_duplicate_groups(
    embeddings: np.ndarray, exact_group: np.ndarray, index: Any
) -> tuple[np.ndarray, float]:
    """Join exact groups whose embeddings are nearly identical and measure the catalog's
    typical neighbour distance.

    Args:
        embeddings: float32 (n, dim), row-aligned with the index's ids.
        exact_group: per row, its byte-identical group number (:func:`exact_group_numbers`).
        index: a ``VectorIndex`` over the rows (searched for each row's nearest neighbours).

    Returns:
        (per row its duplicate group number, the median distance from an item to its
        nearest non-identical item). Groups are joined by union-find over each item's
        NEAR_COLLAPSE_NEIGHBOURS nearest neighbours closer than NEAR_COLLAPSE_FRACTION
        times that median.
    """
    n = len(embeddings)
    k = min(n, NEAR_COLLAPSE_NEIGHBOURS + 1)
    vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
    distances = np.empty((n, k), np.float32)
    rows = np.empty((n, k), np.int64)
    for start in range(0, n, _GROUP_BATCH):
        d, r = index.search(vectors[start : start + _GROUP_BATCH], k)
        distances[start : start + len(d)], rows[start : start + len(d)] = d, r
    own = np.arange(n)[:, None]
    other = (rows >= 0) & (rows != own) & np.isfinite(distances)
    other &= exact_group[np.clip(rows, 0, None)] != exact_group[own]
    nearest = np.where(other, distances, np.inf).min(axis=1)
    nearest = nearest[np.isfinite(nearest) & (nearest > 0)]
    typical = float(np.median(nearest)) if len(nearest) else 0.0
    threshold = NEAR_COLLAPSE_FRACTION * typical
    parent = np.arange(int(exact_group.max()) + 1)

    def find(g: int) -> int:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = int(parent[g])
        return g

    for row, col in zip(*np.nonzero(other & (distances < threshold)), strict=True):
        a, b = find(int(exact_group[row])), find(int(exact_group[rows[row, col]]))
        if a != b:
            parent[max(a, b)] = min(a, b)
    roots = np.array([find(g) for g in range(len(parent))], np.int64)
    return roots[exact_group], typical


def match_word(distance: float, typical_distance: float) -> str:
    """How close ``distance`` is, in words: ``same`` (a near-identical photo), ``close``,
    ``similar`` or ``distant``, relative to ``typical_distance``, the catalog's median
    distance between an item and its nearest neighbour."""
    if typical_distance <= 0:
        return "same" if distance <= 1e-6 else "similar"
    ratio = distance / typical_distance
    if ratio < NEAR_COLLAPSE_FRACTION:
        return "same"
    if ratio <= MATCH_CLOSE:
        return "close"
    return "similar" if ratio <= MATCH_SIMILAR else "distant"
