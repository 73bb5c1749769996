"""What a query answers: one :class:`Recommendation` per item, a :class:`QueryResult` per
query, and the merge of several ranked lists into one (a product asked by each photo)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from lookalike.imaging import Crop


@dataclass
class Recommendation:
    """One recommended item."""

    id: str
    distance: float
    rank: int
    metadata: dict[str, str]
    path: str
    #: ids of the near-identical items this result stands for (collapsed duplicates).
    duplicates: list[str] = field(default_factory=list)
    #: how close, in words: ``same``, ``close``, ``similar`` or ``distant``.
    match: str = ""
    #: the number of the product's photo that matched (1 = its main photo).
    photo: int = 1
    #: every photo number of the product, in order (``[1]`` for a one-photo product).
    photos: list[int] = field(default_factory=lambda: [1])
    #: the file of the photo that matched (``path`` is the main photo's).
    photo_path: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass
class QueryResult:
    """The ranked list for one query (an image path, an item id or a profile)."""

    query: str
    results: list[Recommendation] = field(default_factory=list)
    error: str | None = None
    #: For a photo: the region (x, y, w, h fractions) the results answer: the shopper's crop,
    #: or the garment focus's pick; None = the whole photo.
    crop: Crop | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: the query and its ranked list (or its error), and the region
        of the photo answered when it is not the whole photo."""
        payload: dict[str, Any] = {
            "query": self.query,
            "results": [r.to_dict() for r in self.results],
        }
        if self.error:
            payload["error"] = self.error
        if self.crop is not None:
            payload["crop"] = [round(v, 4) for v in self.crop]
        return payload


def merge_nearest(lists: Sequence[Sequence[Recommendation]], k: int) -> list[Recommendation]:
    """The ``k`` nearest distinct ids over several ranked lists (each id at its smallest
    distance), re-ranked from 1. The exact top k by min distance when each list is its
    query's top k (a product ranked k-th by its minimum is in the top k of the query that
    gave that minimum)."""
    best: dict[str, Recommendation] = {}
    for results in lists:
        for result in results:
            if result.id not in best or result.distance < best[result.id].distance:
                best[result.id] = result
    merged = sorted(best.values(), key=lambda r: r.distance)[:k]
    for rank, result in enumerate(merged, start=1):
        result.rank = rank
    return merged


@dataclass
class GarmentResult:
    """One garment found in a photo (shop the look) and its own lookalikes."""

    #: what the garment parser calls it (``top``, ``dress``, ``shoes``...; ``photo`` when no
    #: garment was found and the whole photo is answered).
    kind: str
    #: where it is: (x, y, w, h) fractions of the photo, usable as a ``crop``.
    box: Crop
    #: the share of the photo it covers, and how sure the parser is (0..1).
    area: float
    score: float
    results: list[Recommendation] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: kind, box, area, score and the ranked list."""
        return {
            "kind": self.kind,
            "box": [round(v, 4) for v in self.box],
            "area": round(self.area, 4),
            "score": round(self.score, 4),
            "results": [r.to_dict() for r in self.results],
        }


@dataclass
class LookResult:
    """Shop the look: the garments found in one photo, each with its lookalikes."""

    query: str
    garments: list[GarmentResult] = field(default_factory=list)
    #: index into ``garments`` of the garment the photo is most about (None: no garment).
    main: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: the query, its garments (largest first) and which is the main one
        (or the error)."""
        payload: dict[str, Any] = {
            "query": self.query,
            "garments": [g.to_dict() for g in self.garments],
            "main": self.main,
        }
        if self.error:
            payload["error"] = self.error
        return payload
