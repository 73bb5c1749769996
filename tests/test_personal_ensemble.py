"""lookalike.personal_ensemble: members' per-shopper z-scores summed, their shares, JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from lookalike.personal_ensemble import EnsembleRanker, per_shopper_spread
from tests.tolerances import approx


@dataclass
class LinearMember:
    """A stand-in member: score = x @ w * gain + offset (shares: x * w * gain)."""

    w: np.ndarray
    gain: float = 1.0
    offset: float = 0.0

    def score(self, x: np.ndarray) -> np.ndarray:
        return x @ self.w * self.gain + self.offset

    def contributions(self, x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        return (x if rows is None else x[rows]) * self.w * self.gain

    def to_json(self) -> dict:
        return {"w": self.w.tolist(), "gain": self.gain, "offset": self.offset}


def _from_json(data: dict) -> LinearMember:
    return LinearMember(np.asarray(data["w"]), data["gain"], data["offset"])


def _shopper(n: int = 40, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 4))


def test_members_weigh_alike_whatever_their_scale():
    x = _shopper()
    a, b = LinearMember(np.array([1.0, 0, 0, 0])), LinearMember(np.array([0, 1.0, 0, 0]))
    both = EnsembleRanker([a, b]).score(x)
    za = (x[:, 0] - x[:, 0].mean()) / x[:, 0].std()
    zb = (x[:, 1] - x[:, 1].mean()) / x[:, 1].std()
    assert both == approx(za + zb)
    # a member's log-odds 100x wider (and shifted) does not outvote the other
    wide = EnsembleRanker([LinearMember(a.w, gain=100.0, offset=7.0), b]).score(x)
    assert wide == approx(both)
    # a constant member adds nothing; no candidates, no scores
    flat = EnsembleRanker([a, LinearMember(np.zeros(4), offset=3.0)]).score(x)
    assert flat == approx(za)
    nothing = EnsembleRanker([a, b]).score(np.zeros((0, 4)))
    assert nothing.shape == (0,)
    assert per_shopper_spread(np.full(5, 2.0)) == approx(1.0)


def test_shares_of_some_rows_add_up_to_their_scores_on_the_whole_list():
    x = _shopper(60, seed=1)
    ranker = EnsembleRanker(
        [LinearMember(np.array([1.0, -2, 0, 0.5]), gain=3.0), LinearMember(np.array([0, 1, 1, 0]))]
    )
    rows = np.array([5, 17, 40])
    shares = ranker.contributions(x, rows)
    assert shares.shape == (3, 4)
    # the same spreads as the whole list's scores: only the per-shopper means are left out
    offset = ranker.score(x)[rows] - shares.sum(axis=1)
    assert offset == approx(np.full(3, offset[0]))
    assert ranker.contributions(x)[rows] == approx(shares)


def test_json_round_trip_and_an_empty_ensemble_is_refused():
    x = _shopper()
    ranker = EnsembleRanker(
        [LinearMember(np.array([1.0, 0, 2, 0])), LinearMember(np.array([0, 1.0, 0, -1]), 5.0)],
        examples=100,
        positives=7,
        customers=3,
    )
    loaded = EnsembleRanker.from_json(json.loads(json.dumps(ranker.to_json())), _from_json)
    assert loaded.score(x) == approx(ranker.score(x))
    assert (loaded.examples, loaded.positives, loaded.customers) == (100, 7, 3)
    assert ranker.to_json()["kind"] == "ensemble"
    with pytest.raises(ValueError, match="at least one member"):
        EnsembleRanker.from_json({"kind": "ensemble", "members": []}, _from_json)
