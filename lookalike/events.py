"""A time-aware shoppers' event log, held sparse: ``user_id,item_id,event[,timestamp]``.

The log is read in chunks (CSV through the standard library, Parquet through pyarrow's
record batches), so a file of millions of rows never becomes one Python list: each chunk's
ids are mapped to integer rows and kept as numpy arrays. The result is one event per entry,
sorted by (shopper, time), with ``indptr`` giving each shopper's slice: a CSR matrix of
shoppers x items whose entries also carry an event code and a timestamp. Per-event count
matrices (:func:`event_matrix`) and their transposes are :class:`~lookalike.csr.Csr` values
built from it (the CSR type and its helpers live in :mod:`lookalike.csr`; their old import
path, this module, still works).

Memory: 4 + 4 + 8 + 1 bytes per event plus one Python string per shopper, i.e. about 0.35 GB
of arrays for 20M events (1M shoppers with 20 events each).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lookalike.csr import (  # noqa: F401 - re-exported: their import path before lookalike.csr
    Csr,
    co_occurrence,
    csr_from_coo,
    gather_rows,
    gather_rows_sparse,
    transpose,
)
from lookalike.extras import require

#: Event types in code order; a log's event codes index this tuple (or the one passed in).
EVENT_NAMES = ("view", "click", "like", "cart", "purchase")
#: Rows per chunk: big enough that numpy does the work, small enough to stay a few MB.
CHUNK_ROWS = 65_536
#: At most this many problem lines are kept (the rest are counted), so a log with a million
#: bad rows reports without holding a million strings.
MAX_PROBLEMS = 1000
SECONDS_PER_DAY = 86_400


class EventLogError(ValueError):
    """A row of an event log cannot be read; the message names the file and line."""


@dataclass
class EventLog:
    """Events sorted by (shopper, time); shopper ``u``'s are ``indptr[u]:indptr[u + 1]``.

    Attributes:
        users: user ids; position = shopper row.
        n_items: catalog rows (the item rows' upper bound).
        indptr: int64 (n_users + 1,) offsets into the event arrays.
        items: int32 (n_events,) catalog rows.
        events: int8 (n_events,) codes into ``event_names``.
        times: int64 (n_events,) seconds since 1970-01-01 UTC (0 when the log has no time).
        event_names: the event vocabulary.
        has_time: whether the file had a timestamp column.
        unknown_items: events skipped because their item is not in the catalog.
        problems: what was skipped and why (at most MAX_PROBLEMS lines, then a count).
    """

    users: list[str]
    n_items: int
    indptr: np.ndarray
    items: np.ndarray
    events: np.ndarray
    times: np.ndarray
    event_names: tuple[str, ...] = EVENT_NAMES
    has_time: bool = True
    unknown_items: int = 0
    problems: list[str] = field(default_factory=list)
    _user_rows: dict[str, int] | None = field(default=None, repr=False, compare=False)

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def user_of_event(self) -> np.ndarray:
        """int32 (n_events,): the shopper row of every event."""
        return np.repeat(np.arange(self.n_users, dtype=np.int32), np.diff(self.indptr))

    def user_row(self, user: str) -> int | None:
        """Row of ``user`` (None for a shopper the log has never seen)."""
        if self._user_rows is None:
            self._user_rows = {u: i for i, u in enumerate(self.users)}
        return self._user_rows.get(str(user))

    def event_code(self, name: str) -> int:
        """Code of event ``name`` (ValueError for one the log does not know)."""
        try:
            return self.event_names.index(name.lower())
        except ValueError:
            known = ", ".join(self.event_names)
            raise ValueError(f"unknown event {name!r}; known: {known}") from None


def parse_times(values: Sequence[str]) -> np.ndarray:
    """Seconds since the epoch of ISO dates/times (``2020-09-22``, ``2020-09-22 10:00:00``,
    ``...T10:00``) or whole epoch seconds; ValueError names the first bad value.

    Args:
        values: strings.

    Returns:
        int64 array.
    """
    values = [v.strip() for v in values]
    digits = np.array([v.isdigit() for v in values], bool)
    out = np.zeros(len(values), np.int64)
    if digits.any():
        out[digits] = [int(v) for v, d in zip(values, digits, strict=True) if d]
    if not digits.all():
        text = [v.removesuffix("Z") for v, d in zip(values, digits, strict=True) if not d]
        try:
            out[~digits] = np.array(text, dtype="datetime64[s]").astype(np.int64)
        except ValueError:
            for v in text:  # find the culprit for the message
                try:
                    np.datetime64(v, "s")
                except ValueError:
                    raise ValueError(f"bad timestamp {v!r}") from None
            raise
        nat = out == np.iinfo(np.int64).min  # numpy reads "" and "NaT" as not-a-time
        if nat.any():
            raise ValueError(f"bad timestamp {values[int(np.flatnonzero(nat)[0])]!r}")
    return out


def parse_duration(text: str) -> int:
    """Seconds in ``28d``, ``12h``, ``2w``, ``90m`` or a plain number of days."""
    text = text.strip().lower()
    units = {"w": 7 * SECONDS_PER_DAY, "d": SECONDS_PER_DAY, "h": 3600, "m": 60, "s": 1}
    unit = units.get(text[-1:]) if text else None
    number = text[:-1] if unit else text
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"bad duration {text!r}; use e.g. 28d, 12h, 2w") from None
    if value <= 0:
        raise ValueError(f"duration must be positive, got {text!r}")
    return int(value * (unit or SECONDS_PER_DAY))


def _csv_chunks(path: Path, chunk_rows: int) -> Iterator[tuple[int, list[list[str]], list[str]]]:
    """(first line number, rows, header) chunks of a CSV (the header read once)."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise EventLogError(f"{path.name}: empty file (expected a header row)")
        header = [h.strip().lower() for h in header]
        chunk: list[list[str]] = []
        first = 2
        for row in reader:
            chunk.append(row)
            if len(chunk) == chunk_rows:
                yield first, chunk, header
                first += len(chunk)
                chunk = []
        if chunk:
            yield first, chunk, header


def _parquet_chunks(
    path: Path, chunk_rows: int
) -> Iterator[tuple[int, list[list[str]], list[str]]]:
    """The same chunks from a Parquet file (row numbers counted from 1, no header line)."""
    parquet = require("pyarrow.parquet", "ray")
    file = parquet.ParquetFile(path)
    header = [name.lower() for name in file.schema_arrow.names]
    first = 1
    for batch in file.iter_batches(batch_size=chunk_rows):
        columns = [
            ["" if v is None else str(v) for v in column.to_pylist()] for column in batch.columns
        ]
        rows = [list(r) for r in zip(*columns, strict=True)]
        yield first, rows, header
        first += len(rows)


def read_events(
    path: str | Path,
    item_rows: dict[str, int],
    *,
    event_names: Sequence[str] = EVENT_NAMES,
    strict: bool = True,
    default_event: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> EventLog:
    """Read a ``user_id,item_id,event[,timestamp]`` CSV or Parquet file, chunk by chunk.

    Args:
        path: ``.csv`` (header row; columns in any order, names case-insensitive) or
            ``.parquet``; ``timestamp`` is optional (every time is then 0).
        item_rows: catalog item id -> row.
        event_names: accepted events (case-insensitive); the codes index this tuple.
        strict: a malformed row (missing field, unknown event, bad timestamp) raises
            :class:`EventLogError` naming its line; False skips it into ``problems``.
        default_event: the event of a row whose event is empty (None: a malformed row).
        chunk_rows: rows parsed at a time.

    Returns:
        An :class:`EventLog`; events of unknown items are skipped and counted
        (``unknown_items``), with the first few named in ``problems``.

    Raises:
        EventLogError: a missing column, or (strict) a malformed row.
    """
    path = Path(path)
    chunks = (
        _parquet_chunks(path, chunk_rows)
        if path.suffix.lower() in {".parquet", ".pq"}
        else _csv_chunks(path, chunk_rows)
    )
    return read_event_chunks(
        chunks, path.name, item_rows, event_names, strict=strict, default_event=default_event
    )


def read_event_chunks(
    chunks: Iterator[tuple[int, list[list[str]], list[str]]],
    name: str,
    item_rows: dict[str, int],
    event_names: Sequence[str] = EVENT_NAMES,
    *,
    strict: bool = True,
    default_event: str | None = None,
) -> EventLog:
    """:func:`read_events` over ``(first line number, rows, lower-cased header)`` chunks
    (e.g. the lines appended to a log since it was last read); ``name`` names the file in
    messages."""
    names = tuple(e.lower() for e in event_names)
    codes = {event: i for i, event in enumerate(names)}
    if len(names) > 127:
        raise ValueError("at most 127 event types")
    users: dict[str, int] = {}
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    problems: list[str] = []
    n_problems = unknown = 0
    has_time = False

    def problem(line: int, message: str) -> None:
        nonlocal n_problems
        if strict:
            raise EventLogError(f"{name} line {line}: {message}")
        n_problems += 1
        if len(problems) < MAX_PROBLEMS:
            problems.append(f"interactions line {line}: {message}")

    for first, rows, header in chunks:
        try:
            cu, ci = header.index("user_id"), header.index("item_id")
        except ValueError:
            raise EventLogError(
                f"{name}: needs columns user_id,item_id[,event][,timestamp]; has {header}"
            ) from None
        ce = header.index("event") if "event" in header else None
        ct = header.index("timestamp") if "timestamp" in header else None
        has_time = ct is not None
        width = max(cu, ci, ce or 0, ct or 0) + 1
        u_rows, i_rows, e_codes, stamps, lines = [], [], [], [], []
        for offset, row in enumerate(rows):
            line = first + offset
            if not any(cell.strip() for cell in row):
                continue  # a blank line
            if len(row) < width:
                problem(line, "missing fields")
                continue
            user, item = row[cu].strip(), row[ci].strip()
            if not user or not item:
                problem(line, "missing user_id or item_id")
                continue
            event = row[ce].strip().lower() if ce is not None else ""
            code = codes.get(event or (default_event or "").lower())
            if code is None:
                problem(line, f"unknown event {event!r}" if event else "missing event")
                continue
            item_row = item_rows.get(item)
            if item_row is None:
                unknown += 1
                if not strict:
                    problem(line, f"unknown item {item!r}")
                elif unknown <= 5:  # counted, not an error: name the first few
                    problems.append(f"{name} line {line}: unknown item {item!r}")
                continue
            u_rows.append(users.setdefault(user, len(users)))
            i_rows.append(item_row)
            e_codes.append(code)
            stamps.append(row[ct] if ct is not None else "0")
            lines.append(line)
        times, keep = _chunk_times(stamps, lines, problem)
        parts.append(
            (
                np.asarray(u_rows, np.int32)[keep],
                np.asarray(i_rows, np.int32)[keep],
                np.asarray(e_codes, np.int8)[keep],
                times[keep],
            )
        )
    if n_problems > len(problems):
        problems.append(f"... {n_problems - len(problems)} more rows skipped")
    if strict and unknown > 5:
        problems.append(f"{name}: {unknown} events of unknown items skipped in all")
    u, i, e, t = (
        np.concatenate([p[j] for p in parts]) if parts else np.zeros(0, dt)
        for j, dt in enumerate((np.int32, np.int32, np.int8, np.int64))
    )
    return log_from_arrays(
        list(users), len(item_rows), u, i, e, t, names, has_time, unknown, problems
    )


def _chunk_times(stamps: list[str], lines: list[int], problem) -> tuple[np.ndarray, np.ndarray]:
    """(timestamps, readable) of a chunk; ``problem`` hears of each bad one (and may raise)."""
    try:
        return parse_times(stamps), np.ones(len(stamps), bool)
    except ValueError:  # parse row by row only now, to name the lines
        out, ok = np.zeros(len(stamps), np.int64), np.ones(len(stamps), bool)
        for j, (stamp, line) in enumerate(zip(stamps, lines, strict=True)):
            try:
                out[j] = parse_times([stamp])[0]
            except ValueError:
                problem(line, f"bad timestamp {stamp!r}")
                ok[j] = False
        return out, ok


def log_from_arrays(
    users: list[str],
    n_items: int,
    user_rows: np.ndarray,
    item_rows: np.ndarray,
    events: np.ndarray,
    times: np.ndarray,
    event_names: Sequence[str] = EVENT_NAMES,
    has_time: bool = True,
    unknown_items: int = 0,
    problems: list[str] | None = None,
) -> EventLog:
    """An :class:`EventLog` from parallel arrays in any order (sorted here by shopper, time).

    Args:
        users: user ids (``user_rows`` index it).
        n_items: catalog rows.
        user_rows, item_rows, events, times: one entry per event.
        event_names: the vocabulary ``events`` codes index.
        has_time, unknown_items, problems: carried into the log.
    """
    order = np.lexsort((times, user_rows))
    counts = np.bincount(user_rows, minlength=len(users)) if len(users) else np.zeros(0, int)
    indptr = np.zeros(len(users) + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    return EventLog(
        users=list(users),
        n_items=int(n_items),
        indptr=indptr,
        items=np.asarray(item_rows, np.int32)[order],
        events=np.asarray(events, np.int8)[order],
        times=np.asarray(times, np.int64)[order],
        event_names=tuple(event_names),
        has_time=has_time,
        unknown_items=unknown_items,
        problems=list(problems or []),
    )


def select_events(log: EventLog, mask: np.ndarray) -> EventLog:
    """The events where ``mask`` is true (same shoppers and rows, e.g. those before a cutoff)."""
    user_rows = log.user_of_event[mask]
    return log_from_arrays(
        log.users,
        log.n_items,
        user_rows,
        log.items[mask],
        log.events[mask],
        log.times[mask],
        log.event_names,
        log.has_time,
        log.unknown_items,
        log.problems,
    )


def event_matrix(
    log: EventLog, event: str, weights: np.ndarray | None = None, binary: bool = False
) -> Csr:
    """Shoppers x items counts of one event type.

    Args:
        log: the log.
        event: event name (e.g. ``purchase``).
        weights: a weight per event of the log (e.g. an age decay), default 1.
        binary: 1 wherever the shopper had the event at least once.
    """
    mask = log.events == log.event_code(event)
    values = np.ones(int(mask.sum())) if weights is None else np.asarray(weights)[mask]
    matrix = csr_from_coo(
        log.user_of_event[mask], log.items[mask], values, (log.n_users, log.n_items)
    )
    if binary:
        return Csr(matrix.indptr, matrix.indices, np.ones_like(matrix.data), matrix.shape)
    return matrix


def age_decay(times: np.ndarray, now: int, half_life_days: float) -> np.ndarray:
    """0.5 ** (age / half-life) for events at ``times`` seen at ``now`` (future events: 0).

    Args:
        times: int64 seconds.
        now: int seconds.
        half_life_days: the age at which an event weighs half (inf: no decay).
    """
    age_days = (now - np.asarray(times, np.float64)) / SECONDS_PER_DAY
    decay = np.power(0.5, np.maximum(age_days, 0) / half_life_days)
    return np.where(age_days >= 0, decay, 0.0)
