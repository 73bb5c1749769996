"""Shoppers' events (need the API key): ``POST /api/events`` appends rows to the event log
the server points at (``lookalike serve --interactions LOG``), atomically
(:func:`lookalike.server.personal_log.append_events`). The next profile request reads them.

Body: ``{"events": [{"user_id": "u1", "item_id": "101", "event": "purchase",
"timestamp": "2020-09-01T10:00:00"}]}`` (up to :data:`MAX_EVENTS` rows; ``timestamp`` ISO or
epoch seconds, default now; ``event`` one of :data:`lookalike.events.EVENT_NAMES`). The whole
batch is checked first: nothing is written when one row is bad.

Errors: no log 409 ``no_event_log``; not JSON 422 ``invalid_json``; a bad row 422
``invalid_event`` (its index and the problem), an unknown item 422 ``unknown_item`` (the
body's ``unknown_ids``); 413 over :data:`MAX_BODY_BYTES`.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request

from lookalike.events import EVENT_NAMES, parse_times
from lookalike.recommend import Recommender, UnknownItemError
from lookalike.server.deps import CurrentCatalog, Interactions, require_api_key
from lookalike.server.errors import ApiError, error_response, shown_id
from lookalike.server.jsonbody import JsonBodyError, parse_json
from lookalike.server.personal_log import append_events
from lookalike.server.schemas import ERROR_RESPONSES, KEY_ERRORS, error_doc

EVENTS_PATH = "/api/events"
MAX_EVENTS = 1000
MAX_BODY_BYTES = 512 * 1024
MAX_ID_LENGTH = 200

router = APIRouter(dependencies=[Depends(require_api_key)])


def _bad(index: int, message: str) -> ApiError:
    return ApiError(422, "invalid_event", f"events[{index}]: {message}")


def check_rows(data: Any, known_item, now: int | None = None) -> tuple[list[dict], list[str]]:
    """The rows of an events body, checked, as strings ready to write, and the unknown item
    ids (rows of those are not returned).

    Args:
        data: the parsed JSON body.
        known_item: item id -> whether the catalog has it.
        now: the timestamp of rows without one (default: the current time).

    Raises:
        ApiError: 422 naming the first bad row and what is wrong with it.
    """
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise ApiError(
            422,
            "invalid_json",
            'the body must be a JSON object like {"events": [{"user_id": "u1", '
            '"item_id": "101", "event": "purchase"}]}',
        )
    events = data["events"]
    if extra := sorted(set(data) - {"events"}):
        raise ApiError(422, "invalid_json", f"unexpected field {extra[0]!r}; send only events")
    if not 1 <= len(events) <= MAX_EVENTS:
        raise ApiError(422, "invalid_event", f"send 1 to {MAX_EVENTS} events, got {len(events)}")
    stamp_now = str(int(time.time()) if now is None else now)
    rows, unknown = [], []
    for i, event in enumerate(events):
        if not isinstance(event, dict):
            raise _bad(i, "each event must be an object")
        if extra := sorted(set(event) - {"user_id", "item_id", "event", "timestamp"}):
            raise _bad(i, f"unexpected field {extra[0]!r}")
        row = {}
        for name in ("user_id", "item_id"):
            value = event.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str) or not value.strip():
                raise _bad(i, f"{name} must be a non-empty string")
            if len(value) > MAX_ID_LENGTH or any(c in value for c in "\r\n\0"):
                raise _bad(i, f"{name} must be one line of at most {MAX_ID_LENGTH} characters")
            row[name] = value.strip()
        name = event.get("event")
        if not isinstance(name, str) or name.strip().lower() not in EVENT_NAMES:
            raise _bad(i, f"event must be one of {', '.join(EVENT_NAMES)}, got {name!r}")
        row["event"] = name.strip().lower()
        stamp = event.get("timestamp")
        if stamp is None:
            row["timestamp"] = stamp_now
        else:
            if isinstance(stamp, bool) or not isinstance(stamp, (str, int)):
                raise _bad(i, "timestamp must be an ISO date/time or epoch seconds")
            try:
                parse_times([str(stamp)])
            except ValueError:
                raise _bad(i, f"bad timestamp {stamp!r} (ISO date/time or epoch seconds)") from None
            row["timestamp"] = str(stamp).strip()
        if not known_item(row["item_id"]):
            unknown.append(row["item_id"])
            continue
        rows.append(row)
    return rows, list(dict.fromkeys(unknown))


def _known(rec: Recommender, item_id: str) -> bool:
    try:
        rec.row(item_id)
    except UnknownItemError:
        return False
    return True


@router.post(
    EVENTS_PATH,
    responses={
        **ERROR_RESPONSES,
        **KEY_ERRORS,
        409: error_doc("the server has no event log (serve --interactions LOG)"),
        413: error_doc("body too large"),
        422: error_doc("not JSON, a bad row, or an unknown item id"),
    },
)
async def post_events(request: Request, cat: CurrentCatalog, source: Interactions) -> Any:
    """Append shoppers' events to the server's event log (all rows or none)."""
    if source is None:
        raise ApiError(
            409,
            "no_event_log",
            "this server has no event log; start it with `lookalike serve --interactions LOG`",
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(
                413, "payload_too_large", f"the body is over {MAX_BODY_BYTES // 1024} KB"
            )
    try:
        data = parse_json(bytes(body or b"{}"), "the body", max_bytes=MAX_BODY_BYTES)
    except JsonBodyError as exc:
        raise ApiError(422, "invalid_json", str(exc)) from None
    rows, unknown = check_rows(data, lambda item: _known(cat.recommender, item))
    if unknown:
        shown = ", ".join(shown_id(i) for i in unknown[:10])
        return error_response(
            422,
            "unknown_item",
            f"unknown item ids {shown}: not in the catalog; nothing was written",
            unknown_ids=unknown,
        )
    try:
        written = await anyio.to_thread.run_sync(append_events, source.path, rows)
    except (OSError, ValueError) as exc:
        raise ApiError(409, "no_event_log", f"cannot append to the event log: {exc}") from None
    return {"appended": written}
