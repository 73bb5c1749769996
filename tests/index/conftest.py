"""Shared data for the index tests: clustered vectors, one built index per kind, references.

``data`` and ``built`` are package-scoped: built once for every tests/index module
(tests that mutate an index build their own).
"""

from __future__ import annotations

import numpy as np
import pytest

from lookalike import index as ix

N, DIM, NQ = 5000, 64, 40

# "ivfpq-flat" is ivfpq with raw-float re-ranking: exact distances on returned ids.
CONFIGS = {
    "flat": ("flat", {}),
    "hnsw": ("hnsw", {}),
    "ivfpq": ("ivfpq", {}),
    "ivfpq-flat": ("ivfpq", {"refine": "flat"}),
}
ALL = list(CONFIGS)


def clustered(n: int, dim: int, seed: int, clusters: int = 50) -> np.ndarray:
    """Gaussian blobs: closer to real embeddings than iid noise, where ANN is meaningless."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, dim)) * 3.0
    return (centers[rng.integers(clusters, size=n)] + rng.normal(size=(n, dim))).astype(np.float32)


@pytest.fixture(scope="package")
def data() -> tuple[np.ndarray, np.ndarray]:
    return clustered(N, DIM, seed=0), clustered(NQ, DIM, seed=1)


def build(name: str, x: np.ndarray, ids: np.ndarray | None = None):
    kind, params = CONFIGS[name]
    return ix.build_index(x, ids, kind=kind, **params)


@pytest.fixture(scope="package")
def built(data):
    """One read-only index per config (tests that mutate build their own)."""
    x, _ = data
    return {name: build(name, x) for name in ALL}


def brute(x: np.ndarray, q: np.ndarray, k: int, subset: np.ndarray | None = None):
    """Reference (distances, ids) via the full distance matrix, optionally over a subset."""
    ids = np.arange(len(x)) if subset is None else np.sort(subset)
    d = np.linalg.norm(q[:, None, :].astype(np.float64) - x[ids][None, :, :], axis=2)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, order, axis=1), ids[order]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)])
