"""Several fitted learned-blend models as one: each member's scores standardised over one
shopper's candidates (z-scores), then summed.

The linear listwise model and LightGBM's trees win on different markets of the purchase
simulator (docs/personalisation.md); their per-shopper z-scores summed keep most of each
one's good markets. Standardising per shopper puts the two on one scale without a weight to
tune: a linear log-odds and a tree's raw score differ in spread, and only the order within a
shopper's list matters.

Pure numpy over the members' ``score`` and ``contributions``; kept as JSON (each member's
own ``to_json`` inside; no pickle).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["EnsembleRanker", "per_shopper_spread"]


def per_shopper_spread(scores: np.ndarray) -> float:
    """The standard deviation of one shopper's candidate scores (1.0 for a constant list,
    so that a member that cannot tell the candidates apart adds nothing)."""
    spread = float(np.std(scores)) if len(scores) else 0.0
    return spread if spread > 0 else 1.0


@dataclass
class EnsembleRanker:
    """Members' per-shopper z-scores, summed.

    Every ``x`` given to :meth:`score` and :meth:`contributions` is the candidates of one
    shopper: the standardisation is over its rows.

    Attributes:
        members: fitted rankers (``score``, ``contributions``, ``to_json``).
        examples, positives, customers: what they were trained on.
    """

    members: Sequence[Any]
    examples: int = 0
    positives: int = 0
    customers: int = 0
    objective: str = "listwise+trees"

    @property
    def features(self) -> tuple[str, ...]:
        """The feature names, in column order (the members')."""
        return tuple(self.members[0].features)

    def score(self, x: np.ndarray) -> np.ndarray:
        """The sum of each member's z-scores over the rows of ``x`` (one shopper's
        candidates)."""
        total = np.zeros(len(x))
        if len(x) == 0:
            return total
        for member in self.members:
            scores = member.score(x)
            total += (scores - scores.mean()) / per_shopper_spread(scores)
        return total

    def contributions(self, x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Each feature's additive share of the :meth:`score` of ``x[rows]`` (all rows when
        None): each member's shares over its spread on all of ``x``, summed; shape
        (len(rows), features). The shares of the per-shopper means are left out."""
        total: np.ndarray | None = None
        for member in self.members:
            share = member.contributions(x, rows) / per_shopper_spread(member.score(x))
            total = share if total is None else total + share
        if total is None:
            return np.zeros((len(x) if rows is None else len(rows), x.shape[1]))
        return total

    def to_json(self) -> dict:
        """A JSON-able dict (:meth:`from_json` reads it back)."""
        return {
            "kind": "ensemble",
            "objective": self.objective,
            "members": [member.to_json() for member in self.members],
            "examples": self.examples,
            "positives": self.positives,
            "customers": self.customers,
        }

    @classmethod
    def from_json(cls, data: dict, member_from_json: Callable[[dict], Any]) -> EnsembleRanker:
        """The model of a :meth:`to_json` dict; ``member_from_json`` reads each member.

        Raises:
            ValueError: no members, or a member trained on other features.
        """
        members = [member_from_json(member) for member in data.get("members", [])]
        if not members:
            raise ValueError("an ensemble ranker needs at least one member")
        return cls(
            members,
            int(data.get("examples", 0)),
            int(data.get("positives", 0)),
            int(data.get("customers", 0)),
            str(data.get("objective", "listwise+trees")),
        )
