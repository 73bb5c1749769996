"""The shoppers' interaction log that profile recommendations may blend in (collaborative
filtering), read against the catalog being served. Enable it with
:func:`lookalike.server.state.use_interactions` (``lookalike serve --interactions CSV``)."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from lookalike.personal import InteractionLog, read_interactions
from lookalike.personal_ranker import Ranker
from lookalike.recommend import Recommender
from lookalike.server.log_tail import EventLogTail
from lookalike.server.personal_log import PersonalModel, build_personal_model

log = logging.getLogger("lookalike.server")

#: Retrain the learned blend once the log has this many more events (a share) than when
#: it was last trained.
RETRAIN_GROWTH = 0.2


class InteractionSource:
    """An interactions CSV read against the catalog being served.

    The log's columns are catalog rows, so it is re-read when the served catalog changes
    (a reload after an update) or the file does; otherwise the parsed log is reused.
    """

    def __init__(self, path: str | Path):
        """Args:
        path: a ``user_id,item_id,event[,timestamp]`` CSV (see ``lookalike.personal``).

        Raises:
            ValueError: ``path`` is not a file.
        """
        self.path = Path(path)
        if not self.path.is_file():
            raise ValueError(f"interactions file {self.path} does not exist")
        self._lock = threading.Lock()
        self._key: tuple[int, int, int] | None = None
        self._recommender: Recommender | None = None
        self._log: InteractionLog | None = None
        self._personal_lock = threading.Lock()
        self._personal_recommender: Recommender | None = None
        self._personal: PersonalModel | None = None
        self._tail: EventLogTail | None = None
        self._ranker: Ranker | None = None
        self._trained_at = 0
        self.retrain_thread: threading.Thread | None = None

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def personal_for(self, recommender: Recommender) -> PersonalModel | None:
        """The time-aware log over ``recommender``'s rows with its sources and learned blend
        (None when the file has no timestamps or cannot be read).

        The file is read incrementally (:class:`~lookalike.server.log_tail.EventLogTail`):
        after an append only the new bytes are parsed and the sources' context is rebuilt
        over the kept arrays; a replaced or truncated file, or another catalog, is read
        whole. The learned blend is trained at the first read of a catalog and again, in a
        background thread, once the log has grown by :data:`RETRAIN_GROWTH` since (the old
        weights answer meanwhile). Blocking: call from a worker thread."""
        if self._stamp() is None:
            return None
        with self._personal_lock:
            if self._tail is None or self._personal_recommender is not recommender:
                item_rows = {item_id: row for row, item_id in enumerate(recommender.items.ids)}
                self._tail, self._personal, self._trained_at = (
                    EventLogTail(self.path, item_rows),
                    None,
                    0,
                )
                self._personal_recommender = recommender
            try:
                if not self._tail.refresh() and self._personal is not None:
                    return self._personal
                events = self._tail.log
                if events is None or not events.has_time:
                    self._personal = None
                    return None
                first = self._personal is None and self._trained_at == 0
                model = build_personal_model(events, recommender, learn=first)
                if first:
                    self._trained_at = max(len(events.items), 1)
                else:
                    model.ranker = self._ranker
                    if len(events.items) >= (1 + RETRAIN_GROWTH) * self._trained_at:
                        self._retrain_in_background(events, recommender)
                self._ranker = model.ranker
                log.info(
                    "event log %s: %d shoppers, %d events (%d rows parsed, %d full reads), "
                    "%s blend",
                    self.path,
                    events.n_users,
                    len(events.items),
                    self._tail.rows_parsed,
                    self._tail.full_reads,
                    "learned" if model.ranker is not None else "fixed",
                )
            except Exception:  # noqa: BLE001 - a bad log must not take recommendations down
                log.exception("could not read event log %s", self.path)
                self._tail, model = None, None
            self._personal = model
            return model

    def _retrain_in_background(self, events, recommender: Recommender) -> None:
        """Train the learned blend on ``events`` in a thread (one at a time); the model of
        the same catalog takes its weights when done."""
        if self.retrain_thread is not None and self.retrain_thread.is_alive():
            return
        self._trained_at = len(events.items)

        def train() -> None:
            ranker = build_personal_model(events, recommender).ranker
            with self._personal_lock:
                if self._personal_recommender is recommender:
                    self._ranker = ranker
                    if self._personal is not None:
                        self._personal.ranker = ranker
            log.info(
                "event log %s: learned blend retrained on %d events", self.path, len(events.items)
            )

        self.retrain_thread = threading.Thread(target=train, name="retrain-blend", daemon=True)
        self.retrain_thread.start()

    def log_for(self, recommender: Recommender) -> InteractionLog | None:
        """The log over ``recommender``'s rows (None when the file cannot be read).
        Blocking: call from a worker thread."""
        try:
            st = os.stat(self.path)
        except OSError:
            log.warning("interactions file %s is gone; recommending without it", self.path)
            return None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            if self._recommender is recommender and self._key == key:
                return self._log
            item_rows = {item_id: row for row, item_id in enumerate(recommender.items.ids)}
            try:
                parsed = read_interactions(self.path, item_rows)
            except Exception:  # noqa: BLE001 - a bad log must not take recommendations down
                log.exception("could not read interactions file %s", self.path)
                parsed = None
            if parsed is not None:
                log.info(
                    "interactions %s: %d shoppers, %d rows skipped",
                    self.path,
                    len(parsed.users),
                    len(parsed.problems),
                )
            self._recommender, self._key, self._log = recommender, key, parsed
            return parsed
