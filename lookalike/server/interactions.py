"""The shoppers' interaction log that profile recommendations may blend in (collaborative
filtering), read against the catalog being served. Enable it with
:func:`lookalike.server.state.use_interactions` (``lookalike serve --interactions CSV``)."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from lookalike.events import read_events
from lookalike.personal import InteractionLog, read_interactions
from lookalike.recommend import Recommender
from lookalike.server.personal_log import PersonalModel, build_personal_model

log = logging.getLogger("lookalike.server")


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
        self._personal_key: tuple[int, int, int] | None = None
        self._personal_recommender: Recommender | None = None
        self._personal: PersonalModel | None = None
        self._ranker_for: Recommender | None = None

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def personal_for(self, recommender: Recommender) -> PersonalModel | None:
        """The time-aware log over ``recommender``'s rows with its sources and learned blend
        (None when the file has no timestamps or cannot be read). Re-read when the file or the
        catalog changes; the learned blend is trained once per catalog (appended events reach
        the sources at once, the blend's weights at the next catalog). Blocking: call from a
        worker thread."""
        key = self._stamp()
        if key is None:
            return None
        with self._personal_lock:
            if self._personal_recommender is recommender and self._personal_key == key:
                return self._personal
            item_rows = {item_id: row for row, item_id in enumerate(recommender.items.ids)}
            model = None
            try:
                events = read_events(self.path, item_rows, strict=False, default_event="like")
                if events.has_time:
                    retrain = self._ranker_for is not recommender or self._personal is None
                    model = build_personal_model(events, recommender, learn=retrain)
                    if not retrain:
                        model.ranker = self._personal.ranker
                    log.info(
                        "event log %s: %d shoppers, %d events, %s blend",
                        self.path,
                        events.n_users,
                        len(events.items),
                        "learned" if model.ranker is not None else "fixed",
                    )
            except Exception:  # noqa: BLE001 - a bad log must not take recommendations down
                log.exception("could not read event log %s", self.path)
            self._personal_recommender, self._personal_key, self._personal = (
                recommender,
                key,
                model,
            )
            self._ranker_for = recommender if model is not None else None
            return model

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
