"""The server's event log, read incrementally: what was read is kept, and a later refresh
parses only the bytes appended since (``POST /api/events`` appends whole lines).

:class:`EventLogTail` remembers the file's identity (inode), the byte offset it has parsed
up to and the header. :meth:`EventLogTail.refresh` then

* does nothing when the size and mtime are those it last saw;
* parses ``[offset, size)`` (whole lines only, under a shared ``flock`` so an append under
  :func:`~lookalike.server.personal_log.append_events`' exclusive lock is never seen half
  written) and inserts those events into the sorted arrays, shopper by shopper;
* reads the whole file again when it was replaced (another inode), truncated (smaller than
  the offset) or its header changed (a rewrite).

``rows_parsed`` and ``full_reads`` count the work done (tests and logs read them).
"""

from __future__ import annotations

import csv
import fcntl
import io
import os
from pathlib import Path

import numpy as np

from lookalike.events import EventLog, read_event_chunks, read_events


class EventLogTail:
    """An event log file over one catalog's rows, kept in memory and refreshed by offset."""

    def __init__(self, path: str | Path, item_rows: dict[str, int]):
        """Args:
        path: a ``user_id,item_id,event[,timestamp]`` CSV (a Parquet file is re-read
            whole whenever it changes).
        item_rows: catalog item id -> row.
        """
        self.path = Path(path)
        self.item_rows = item_rows
        self.log: EventLog | None = None
        self.rows_parsed = 0
        self.full_reads = 0
        self._stamp: tuple[int, int, int] | None = None  # inode, mtime_ns, size
        self._offset = 0
        self._header = b""
        self._next_line = 2
        self._user_rows: dict[str, int] = {}

    def refresh(self) -> bool:
        """Bring the log up to date with the file; True when it changed.

        Raises:
            OSError: the file cannot be read.
            lookalike.events.EventLogError: a full read found no usable header.
        """
        st = os.stat(self.path)
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self.log is not None and stamp == self._stamp:
            return False
        tail = self._stamp is not None and self.path.suffix.lower() == ".csv"
        if tail and (st.st_ino != self._stamp[0] or st.st_size < self._offset):
            tail = False
        if not tail or not self._read_tail(stamp):
            self._read_all(stamp)
        return True

    def _read_all(self, stamp: tuple[int, int, int]) -> None:
        with open(self.path, "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH)
            try:
                log = read_events(self.path, self.item_rows, strict=False, default_event="like")
                size = handle.seek(0, os.SEEK_END)
                handle.seek(0)
                header = handle.readline()
                lines = _count_lines(handle)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        self.log, self._stamp, self._offset = log, stamp[:2] + (size,), size
        self._header, self._next_line = header, lines + 2
        self._user_rows = {user: row for row, user in enumerate(log.users)}
        self.rows_parsed += len(log.items) + len(log.problems)
        self.full_reads += 1

    def _read_tail(self, stamp: tuple[int, int, int]) -> bool:
        """Parse the bytes appended since the last read; False: the header changed."""
        with open(self.path, "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH)
            try:
                header = handle.readline()
                handle.seek(self._offset)
                data = handle.read()
                st = os.fstat(handle.fileno())
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        if header != self._header:
            return False
        end = data.rfind(b"\n") + 1  # whole lines only; a partial one waits
        text = data[:end].decode("utf-8", "replace")
        rows = list(csv.reader(io.StringIO(text)))
        names = next(csv.reader([header.decode("utf-8-sig", "replace")]), [])
        columns = [h.strip().lower() for h in names]
        assert self.log is not None
        delta = read_event_chunks(
            iter([(self._next_line, rows, columns)]),
            self.path.name,
            self.item_rows,
            self.log.event_names,
            strict=False,
            default_event="like",
        )
        self.log = self._merge(self.log, delta)
        self._offset += end
        self._next_line += text.count("\n")
        self._stamp = (st.st_ino, st.st_mtime_ns, self._offset)
        if st.st_size != self._offset:  # a partial line: read again next time
            self._stamp = (st.st_ino, -1, self._offset)
        self.rows_parsed += sum(1 for row in rows if any(cell.strip() for cell in row))
        return True

    def _merge(self, log: EventLog, delta: EventLog) -> EventLog:
        """``log`` with ``delta``'s events inserted, each after its shopper's events at or
        before its time (``log`` is not changed: a request may still be reading it)."""
        users = list(log.users)
        local = np.empty(delta.n_users, np.int64)
        for i, user in enumerate(delta.users):
            row = self._user_rows.get(user)
            if row is None:
                row = self._user_rows[user] = len(users)
                users.append(user)
            local[i] = row
        new_users = local[delta.user_of_event]
        n_old = log.n_users
        positions = np.empty(len(new_users), np.int64)
        for j, (user, when) in enumerate(zip(new_users, delta.times, strict=True)):
            if user >= n_old:
                positions[j] = len(log.items)
            else:
                start, stop = log.indptr[user], log.indptr[user + 1]
                positions[j] = start + np.searchsorted(log.times[start:stop], when, "right")
        # by position, then shopper, then time: events that share a position (the end of one
        # shopper's slice and the start of the next; the end of the arrays for new shoppers,
        # whose rows follow the old ones) land in (shopper, time) order
        order = np.lexsort((delta.times, new_users, positions))
        at = positions[order]
        counts = np.zeros(len(users), np.int64)
        counts[:n_old] = np.diff(log.indptr)
        counts += np.bincount(new_users, minlength=len(users))
        items = np.insert(log.items, at, delta.items[order])
        events = np.insert(log.events, at, delta.events[order])
        times = np.insert(log.times, at, delta.times[order])
        indptr = np.zeros(len(users) + 1, np.int64)
        np.cumsum(counts, out=indptr[1:])
        return EventLog(
            users=users,
            n_items=log.n_items,
            indptr=indptr,
            items=items,
            events=events,
            times=times,
            event_names=log.event_names,
            has_time=log.has_time,
            unknown_items=log.unknown_items + delta.unknown_items,
            problems=(log.problems + delta.problems)[:1000],
        )


def _count_lines(handle) -> int:
    """Newlines from the handle's position to its end (1 MB at a time)."""
    count = 0
    while chunk := handle.read(1 << 20):
        count += chunk.count(b"\n")
    return count
