"""The time-aware event log behind the server's personal picks, and appends to it.

:class:`PersonalModel` is what a profile request with a known shopper needs: the sparse
:class:`~lookalike.events.EventLog` over the served catalog's rows, the candidate sources'
:class:`~lookalike.personal_candidates.SourceContext` at the log's latest event, and the
learned blend (None: the fixed blend). :func:`personal_picks` answers one shopper with a
reason per pick; :func:`append_events` adds rows to the log file so that no reader ever sees
half a row (one ``write`` of whole lines under an exclusive ``flock``, then ``fsync``).
"""

from __future__ import annotations

import csv
import fcntl
import io
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.events import SECONDS_PER_DAY, EventLog
from lookalike.personal_candidates import SourceContext
from lookalike.personal_ranker import Ranker, learned_picks, train_ranker
from lookalike.personal_sources import Candidates, blend, recommender_search

#: Metadata columns tried, in order, for the titles the reasons name and the segments.
TITLE_COLUMNS = ("ProductTitle", "title", "name")
COLOUR_COLUMNS = ("Colour", "color", "colour")
SEGMENT_COLUMNS = ("ProductType", "type", "category")
#: The learned blend's label window and training windows on a server.
TRAIN_WINDOW = 28 * SECONDS_PER_DAY
TRAIN_WINDOWS = 2

_append_lock = threading.Lock()


@dataclass
class PersonalModel:
    """What the personal sources need for one log file over one served catalog."""

    events: EventLog
    context: SourceContext
    ranker: Ranker | None

    def knows(self, user: str | None) -> int | None:
        """The shopper row of ``user`` when the log has events of theirs."""
        if user is None:
            return None
        row = self.events.user_row(user)
        if row is None or self.events.indptr[row + 1] == self.events.indptr[row]:
            return None
        return row


def _first_column(recommender, names: Sequence[str]) -> np.ndarray | None:
    columns = {c.casefold(): c for c in recommender.metadata_columns}
    for name in names:
        if name.casefold() in columns:
            return np.asarray([str(v) for v in recommender.column(columns[name.casefold()])])
    return None


def build_personal_model(events: EventLog, recommender, *, learn: bool = True) -> PersonalModel:
    """The sources' context at the log's latest event (+1 s) and, when ``learn`` and the log
    is big enough, the learned blend trained on its last :data:`TRAIN_WINDOWS` windows.

    Args:
        events: the log over ``recommender``'s rows (with timestamps).
        recommender: the served Recommender.
        learn: train the learned blend (False: the fixed blend answers).
    """
    now = int(events.times.max()) + 1 if len(events.times) else 1
    options = {
        "search": recommender_search(recommender),
        "titles": _first_column(recommender, TITLE_COLUMNS),
        "segments": _first_column(recommender, SEGMENT_COLUMNS),
        "colours": _first_column(recommender, COLOUR_COLUMNS),
        "embeddings": recommender.embeddings,
    }
    ranker = (
        train_ranker(events, now, TRAIN_WINDOW, windows=TRAIN_WINDOWS, **options) if learn else None
    )
    return PersonalModel(events, SourceContext.build(events, now, **options), ranker)


def personal_picks(
    model: PersonalModel,
    user_row: int,
    k: int,
    *,
    liked: Candidates | None = None,
    banned: set[int] | frozenset[int] = frozenset(),
    allowed: np.ndarray | None = None,
) -> Candidates:
    """``k`` picks for a shopper with a history, each with its reason phrase.

    Args:
        model: the log's :class:`PersonalModel`.
        user_row: the shopper's row in the log.
        k: how many.
        liked: picks from the shopper's likes (fused with equal weight), or None.
        banned: rows never returned (liked and disliked items).
        allowed: rows that may be returned (the request's filters), None: all.
    """
    wanted = 4 * k + len(banned)
    history = learned_picks(model.context, user_row, model.ranker, wanted)
    sources = {"history": history}
    if liked is not None and len(liked.rows):
        sources["likes"] = liked
    room = sum(len(found.rows) for found in sources.values())
    fused = blend(sources, {"history": 1.0, "likes": 1.0}, room)
    keep = np.array([int(r) not in banned for r in fused.rows], bool)
    if allowed is not None:
        keep &= np.isin(fused.rows, allowed)
    index = np.flatnonzero(keep)[:k]
    return Candidates(fused.rows[index], fused.scores[index], [fused.reasons[i] for i in index])


#: The columns a new log file gets.
LOG_HEADER = ("user_id", "item_id", "event", "timestamp")


def append_events(path: str | Path, rows: Sequence[dict[str, str]]) -> int:
    """Append event rows to a CSV log so that readers never see a partial row.

    The file's own header decides the column order (columns it lacks are dropped, e.g. a log
    without timestamps). All rows go in one ``write`` of whole lines under an exclusive
    ``flock`` (other appenders wait; a reader sees the file before or after), preceded by a
    newline when the file does not end with one; then ``fsync``.

    Args:
        path: an existing CSV log with a header row.
        rows: dicts with ``user_id``, ``item_id``, ``event`` and ``timestamp`` (checked).

    Returns:
        The number of rows written.

    Raises:
        ValueError: the file is not a CSV log with ``user_id`` and ``item_id`` columns.
    """
    path = Path(path)
    if path.suffix.lower() in {".parquet", ".pq"}:
        raise ValueError("events can be appended to a CSV log only, not Parquet")
    with _append_lock, open(path, "r+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            first = handle.readline().decode("utf-8-sig", "replace")
            header = [h.strip().lower() for h in next(csv.reader([first]), [])]
            if "user_id" not in header or "item_id" not in header:
                raise ValueError(f"{path.name} has no user_id,item_id header")
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            for row in rows:
                writer.writerow([row.get(column, "") for column in header])
            size = handle.seek(0, os.SEEK_END)
            if size:
                handle.seek(size - 1)
                if handle.read(1) not in (b"\n", b"\r"):
                    out = io.StringIO("\n" + out.getvalue())
            handle.seek(0, os.SEEK_END)
            handle.write(out.getvalue().encode())
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return len(rows)


def like_reasons(
    recommender, rows: Sequence[int], liked_rows: Sequence[int], photos: np.ndarray | None
) -> list[str]:
    """Per picked row, "looks like <the liked item nearest to it>" (or "your photo")."""
    titles = _first_column(recommender, TITLE_COLUMNS)
    emb = recommender.embeddings
    anchors = [emb[r] for r in liked_rows] + ([] if photos is None else list(photos))
    names = [
        f"looks like {titles[r] if titles is not None and titles[r] else recommender.items.ids[r]}"
        for r in liked_rows
    ] + ["looks like your photo"] * (0 if photos is None else len(photos))
    if not anchors or not len(rows):
        return ["" for _ in rows]
    a = np.asarray(anchors, np.float64)
    picked = emb[np.asarray(rows, np.int64)].astype(np.float64)
    nearest = np.linalg.norm(picked[:, None, :] - a[None, :, :], axis=2).argmin(axis=1)
    return [names[i] for i in nearest]


def profile_answer(
    recommender,
    model: PersonalModel,
    user_row: int,
    k: int,
    *,
    liked_rows: Sequence[int],
    disliked_rows: Sequence[int],
    liked: Candidates | None,
    photos: np.ndarray | None,
    filters: dict[str, list[str]] | None,
) -> tuple[list, list[str]]:
    """(Recommendations, reasons) for a shopper the log knows: :func:`personal_picks` fused
    with the picks of their likes; a result's distance is to the nearest liked item or photo,
    else to the nearest item of the shopper's history.

    Args:
        recommender: the served Recommender.
        model: the log's :class:`PersonalModel`.
        user_row: the shopper's row in the log.
        k: how many.
        liked_rows, disliked_rows: the request's catalog rows (never returned).
        liked: the likes' own picks with their reasons, or None.
        photos: liked photos' embeddings, or None.
        filters: the request's metadata filters.
    """
    banned = set(liked_rows) | set(disliked_rows)
    allowed = recommender.allowed_rows(filters) if filters else None
    picks = personal_picks(model, user_row, k, liked=liked, banned=banned, allowed=allowed)
    emb = recommender.embeddings
    anchors = [emb[r] for r in liked_rows] + ([] if photos is None else list(photos))
    if not anchors:
        own = model.events.items[model.events.indptr[user_row] : model.events.indptr[user_row + 1]]
        anchors = [emb[r] for r in np.unique(own)]
    a = np.asarray(anchors, np.float64)
    picked = emb[picks.rows].astype(np.float64)
    distances = np.linalg.norm(picked[:, None, :] - a[None, :, :], axis=2).min(axis=1)
    results = [
        recommender.item(int(r), float(d), rank=i + 1)
        for i, (r, d) in enumerate(zip(picks.rows, distances, strict=True))
    ]
    return results, list(picks.reasons)
