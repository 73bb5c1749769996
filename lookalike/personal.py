"""Personalised recommendations: a shopper's likes and dislikes, and shoppers like them.

Pure scoring functions over row numbers and arrays, plus :func:`recommend_profile`, which runs
them against a :class:`~lookalike.recommend.Recommender`:

* ``mean``: one query at the mean of the liked embeddings;
* ``fusion``: one query per liked item, the ranked lists merged by reciprocal-rank fusion
  (RRF), so a shopper who likes sneakers *and* dresses gets both, not their average;
* dislikes: each disliked item's own neighbour list is fused in with a negative weight, so
  items that look like a dislike sink;
* diversity: maximal marginal relevance (MMR) re-ranks the candidates, trading relevance for
  dissimilarity to what is already in the list (``diversity`` 0 = off, 1 = most diverse);
* collaborative: with an interaction log, the shoppers most similar to this one (user-user
  KNN, cosine over weighted interactions) vote for items; their normalised score is blended
  with the visual one at ``collaborative_weight`` (default 0.3). New shoppers and new items
  have no votes, so they fall back to visual similarity (cold start).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lookalike.events import EventLog, read_events

RRF_K = 60
EVENT_WEIGHTS = {"view": 1.0, "click": 1.0, "like": 3.0, "cart": 4.0, "purchase": 5.0}
CANDIDATES_PER_QUERY = 100
DEFAULT_COLLABORATIVE_WEIGHT = 0.3


def rrf_scores(
    rankings: Sequence[np.ndarray], weights: Sequence[float] | None = None, k0: int = RRF_K
) -> dict[int, float]:
    """Reciprocal-rank fusion: sum over lists of weight / (k0 + rank), rank starting at 1.

    Args:
        rankings: ranked row arrays (-1 entries are padding and ignored).
        weights: one per list (default 1; negative weights push items down).
        k0: the RRF constant (60, as in Cormack et al. 2009).
    """
    weights = [1.0] * len(rankings) if weights is None else list(weights)
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, row in enumerate(ranking, start=1):
            if row >= 0:
                scores[int(row)] = scores.get(int(row), 0.0) + weight / (k0 + rank)
    return scores


def mmr_select(
    candidates: np.ndarray, relevance: np.ndarray, embeddings: np.ndarray, k: int, diversity: float
) -> np.ndarray:
    """Maximal marginal relevance: greedily pick argmax (1-λ)·rel - λ·max cos-sim to picked.

    Args:
        candidates: rows to choose from.
        relevance: their scores (any scale; min-max normalised here).
        embeddings: all rows' vectors (only candidates' rows are read).
        k: how many to pick.
        diversity: λ in [0, 1]; 0 returns the top-k by relevance.
    """
    if not 0 <= diversity <= 1:
        raise ValueError(f"diversity must be in [0, 1], got {diversity}")
    order = np.argsort(-relevance, kind="stable")
    if diversity == 0 or len(candidates) <= 1:
        return candidates[order[:k]]
    span = relevance.max() - relevance.min()
    rel = (relevance - relevance.min()) / span if span > 0 else np.ones_like(relevance)
    vectors = embeddings[candidates].astype(np.float64)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    picked: list[int] = []
    max_sim = np.full(len(candidates), -np.inf)
    available = np.ones(len(candidates), bool)
    for _ in range(min(k, len(candidates))):
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        score = (1 - diversity) * rel - diversity * penalty
        score[~available] = -np.inf
        best = int(np.argmax(score))
        picked.append(best)
        available[best] = False
        max_sim = np.maximum(max_sim, vectors @ vectors[best])
    return candidates[picked]


@dataclass
class InteractionLog:
    """Weighted shopper x item interactions (dense float32; fine to ~10k shoppers x 100k items
    = 4 GB, beyond that a sparse matrix would be needed).

    Attributes:
        users: user ids, row order of ``matrix``.
        matrix: float32 (n_users, n_items), summed event weights, columns = bundle rows.
        problems: rows of the CSV that were skipped, and why.
    """

    users: list[str]
    matrix: np.ndarray
    problems: list[str] = field(default_factory=list)

    def user_row(self, user: str) -> int | None:
        """Row of ``user`` (None for an unknown, i.e. new, shopper)."""
        try:
            return self.users.index(str(user))
        except ValueError:
            return None


def read_interactions(
    path: str | Path, item_rows: dict[str, int], event_weights: dict[str, float] | None = None
) -> InteractionLog:
    """Read a ``user_id,item_id,event[,timestamp]`` CSV or Parquet file into an
    :class:`InteractionLog` (read in chunks by :func:`lookalike.events.read_events`).

    Unknown items and events and malformed rows are skipped and reported; events are
    case-insensitive, an empty event is a ``like``.
    """
    weights = {k.lower(): v for k, v in (event_weights or EVENT_WEIGHTS).items()}
    events = read_events(
        path, item_rows, event_names=tuple(weights), strict=False, default_event="like"
    )
    return interaction_log_from_events(events, weights)


def interaction_log_from_events(
    events: EventLog, event_weights: dict[str, float] | None = None
) -> InteractionLog:
    """The dense weighted matrix of an :class:`~lookalike.events.EventLog` (time ignored).

    Args:
        events: the log.
        event_weights: weight per event name (default EVENT_WEIGHTS; others weigh 0).
    """
    weights = {k.lower(): v for k, v in (event_weights or EVENT_WEIGHTS).items()}
    per_code = np.array([weights.get(name, 0.0) for name in events.event_names], np.float32)
    matrix = np.zeros((events.n_users, events.n_items), np.float32)
    np.add.at(matrix, (events.user_of_event, events.items), per_code[events.events])
    return InteractionLog(list(events.users), matrix, list(events.problems))


def collaborative_scores(
    matrix: np.ndarray, profile: np.ndarray, n_neighbors: int = 20, exclude_user: int | None = None
) -> np.ndarray:
    """User-user KNN: items scored by the cosine-weighted interactions of the ``n_neighbors``
    shoppers most similar to ``profile`` (a weighted item vector). Zeros when nobody is similar.
    """
    if matrix.size == 0 or not profile.any():
        return np.zeros(matrix.shape[1], np.float32)
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(profile)
    similarity = np.divide(matrix @ profile, norms, out=np.zeros(len(matrix)), where=norms > 0)
    if exclude_user is not None:
        similarity[exclude_user] = 0.0
    neighbours = np.argsort(-similarity)[:n_neighbors]
    neighbours = neighbours[similarity[neighbours] > 0]
    if len(neighbours) == 0:
        return np.zeros(matrix.shape[1], np.float32)
    return (similarity[neighbours] @ matrix[neighbours]).astype(np.float32)


@dataclass
class Profile:
    """What a shopper told us: liked/disliked catalog rows, liked photos as vectors."""

    liked_rows: list[int] = field(default_factory=list)
    disliked_rows: list[int] = field(default_factory=list)
    liked_vectors: np.ndarray | None = None
    user: str | None = None


def profile_candidates(
    recommender,
    profile: Profile,
    method: str,
    k_candidates: int,
    filters=None,
    dislike_weight: float = 0.5,
) -> dict[int, float]:
    """Visual relevance of candidate rows for ``profile`` (RRF scores, higher is better)."""
    liked = [recommender.embeddings[r] for r in profile.liked_rows]
    if profile.liked_vectors is not None and len(profile.liked_vectors):
        liked += list(profile.liked_vectors)
    if not liked:
        raise ValueError("a profile needs at least one liked item or photo")
    liked = np.asarray(liked, np.float32)
    allowed = recommender.allowed_rows(filters)
    if method == "mean":
        queries = liked.mean(axis=0, keepdims=True)
    elif method == "fusion":
        queries = liked
    else:
        raise ValueError(f"unknown profile method {method!r}; use 'mean' or 'fusion'")
    # nearest_products: a grouped search, so a product with several photos ranks once.
    _, rows, _ = recommender.nearest_products(queries, k_candidates, allowed)
    rankings, weights = list(rows), [1.0] * len(rows)
    if profile.disliked_rows:
        _, bad, _ = recommender.nearest_products(
            recommender.embeddings[profile.disliked_rows], k_candidates, allowed
        )
        rankings += list(bad)
        weights += [-dislike_weight * len(queries) / len(bad)] * len(bad)
    return rrf_scores(rankings, weights)


def recommend_profile(
    recommender,
    profile: Profile,
    k: int = 10,
    *,
    method: str = "fusion",
    diversity: float = 0.0,
    filters=None,
    interactions: InteractionLog | None = None,
    collaborative_weight: float = DEFAULT_COLLABORATIVE_WEIGHT,
    collapse_duplicates: bool = True,
):
    """Top-``k`` items for a shopper's profile, never an already liked or disliked item.

    Args:
        recommender: a loaded Recommender.
        profile: liked/disliked rows, liked photo vectors, optional user id for the log.
        k: results (1..1000).
        method: ``fusion`` (RRF of per-item lists) or ``mean`` (mean of liked embeddings).
        diversity: MMR trade-off in [0, 1].
        filters: metadata filters, as for Recommender.search.
        interactions: optional log for the collaborative blend.
        collaborative_weight: share of the collaborative score in the blend (0..1).
        collapse_duplicates: one result per distinct image.

    Returns:
        A list of Recommendation (distance = distance to the nearest liked vector).
    """
    if not 1 <= k <= 1000:
        raise ValueError(f"k must be between 1 and 1000, got {k}")
    n_items = len(recommender.items)
    seen = set(profile.liked_rows) | set(profile.disliked_rows)
    n_candidates = min(n_items, max(CANDIDATES_PER_QUERY, 4 * k + len(seen)))
    visual = profile_candidates(recommender, profile, method, n_candidates, filters)
    scores = dict(visual)
    if interactions is not None and collaborative_weight > 0:
        scores = _blend_collaborative(
            recommender, profile, visual, interactions, collaborative_weight, filters
        )
    banned_groups = {int(recommender.duplicate_group[r]) for r in seen}
    rows = np.array(
        [
            r
            for r in scores
            if r not in seen
            and (
                not collapse_duplicates or int(recommender.duplicate_group[r]) not in banned_groups
            )
        ],
        np.int64,
    )
    if len(rows) == 0:
        return []
    relevance = np.array([scores[r] for r in rows])
    if collapse_duplicates:
        order = np.argsort(-relevance, kind="stable")
        keep, groups = [], set()
        for i in order:
            group = int(recommender.duplicate_group[rows[i]])
            if group not in groups:
                groups.add(group)
                keep.append(i)
        rows, relevance = rows[keep], relevance[keep]
    chosen = mmr_select(rows, relevance, recommender.embeddings, k, diversity)
    liked = recommender.embeddings[profile.liked_rows] if profile.liked_rows else None
    if profile.liked_vectors is not None and len(profile.liked_vectors):
        liked = (
            profile.liked_vectors
            if liked is None
            else np.concatenate([liked, profile.liked_vectors])
        )
    distances = np.linalg.norm(
        recommender.embeddings[chosen][:, None, :] - liked[None, :, :], axis=2
    ).min(axis=1)
    return [
        recommender.item(int(r), float(d), rank=i + 1)
        for i, (r, d) in enumerate(zip(chosen, distances, strict=True))
    ]


def _blend_collaborative(
    recommender,
    profile: Profile,
    visual: dict[int, float],
    log: InteractionLog,
    weight: float,
    filters,
) -> dict[int, float]:
    """(1 - w) * visual + w * collaborative, each min-max normalised over the candidates."""
    vector = np.zeros(log.matrix.shape[1], np.float32)
    user_row = log.user_row(profile.user) if profile.user is not None else None
    if user_row is not None:
        vector += log.matrix[user_row]
    vector[profile.liked_rows] += EVENT_WEIGHTS["like"]
    collab = collaborative_scores(log.matrix, vector, exclude_user=user_row)
    allowed = recommender.allowed_rows(filters)
    if allowed is not None:
        mask = np.zeros(len(collab), bool)
        mask[allowed] = True
        collab = np.where(mask, collab, 0)
    if not collab.any():
        return dict(visual)  # cold start: nobody similar, or new items only
    extra = np.argsort(-collab)[:CANDIDATES_PER_QUERY]
    rows = sorted(set(visual) | {int(r) for r in extra if collab[r] > 0})

    def normalised(values: np.ndarray) -> np.ndarray:
        span = values.max() - values.min()
        return (values - values.min()) / span if span > 0 else np.zeros_like(values)

    vis = normalised(np.array([visual.get(r, min(visual.values())) for r in rows]))
    col = normalised(collab[rows].astype(np.float64))
    return {r: (1 - weight) * v + weight * c for r, v, c in zip(rows, vis, col, strict=True)}
