"""One bounded JSON parser for every JSON-bearing input of the API.

Request bodies (``POST /api/recommend/profile``), the multipart ``filters`` field and the
``metadata`` field of ``POST /api/items`` all go through :func:`parse_json`, which refuses,
with a :class:`JsonBodyError` naming the problem, what ``json.loads`` would choke on or let
through:

- more than ``max_bytes`` of text;
- bytes that are not UTF-8 (RFC 8259);
- nesting deeper than ``max_depth`` (``json.loads`` recurses once per level: 1,000 ``[``
  in 2 KB raise ``RecursionError``). The depth is measured *before* parsing, in one
  vectorised pass over the text with its string literals blanked out;
- more than ``max_items`` values in all, or more than ``max_keys`` keys in one object;
- strings that are not valid Unicode (a ``"\\ud800"`` escape decodes to a lone surrogate,
  which no encoder can write back: it crashed the JSON writer of the bundle and the 404
  message of the profile route);
- repeated keys in one object (JSON leaves their meaning open).

``NaN``, ``Infinity`` and numbers past a float's range parse (as Python's ``json`` does) so
that the schema of the field they land in can name it in its own message.

:func:`check_text` applies the Unicode rule to text that arrived some other way (form
fields, file names).
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

#: Defaults: generous for every body the API takes (a profile of 2 x 500 ids and filters).
MAX_JSON_BYTES = 256 * 1024
MAX_DEPTH = 8
MAX_ITEMS = 10_000
MAX_KEYS = 256

# A JSON string literal (escapes included); blanked out before the brackets are counted.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPEN = np.frombuffer(b"[{", np.uint8)
_CLOSE = np.frombuffer(b"]}", np.uint8)


class JsonBodyError(ValueError):
    """JSON that :func:`parse_json` refuses; ``str()`` says why, for the client.

    ``too_large`` is True when the text is over the size limit (the API answers 413).
    """

    def __init__(self, message: str, *, too_large: bool = False):
        super().__init__(message)
        self.too_large = too_large


def nesting_depth(raw: bytes) -> int:
    """The deepest nesting of ``[``/``{`` in JSON text ``raw`` (0 for a scalar), brackets
    inside string literals not counted; linear time, no recursion."""
    blank = _STRING.sub(b'""', raw)
    codes = np.frombuffer(blank, np.uint8)
    if not len(codes):
        return 0
    steps = np.isin(codes, _OPEN).astype(np.int32) - np.isin(codes, _CLOSE).astype(np.int32)
    return int(max(0, np.cumsum(steps).max()))


def check_text(value: str, where: str) -> None:
    """Refuse text that is not valid Unicode (lone surrogates); what else a field may hold
    (NUL, control characters) is for that field's own check to say.

    Raises:
        JsonBodyError: naming ``where`` (e.g. ``"filters.Colour[0]"``).
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = value[exc.start]
        raise JsonBodyError(
            f"{where} is not valid Unicode: it holds the lone surrogate U+{ord(bad):04X} "
            f"at character {exc.start}"
        ) from None


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JsonBodyError(f"the key {key[:80]!r} appears twice in one object")
        out[key] = value
    return out


def _walk(value: Any, what: str, max_items: int, max_keys: int) -> None:
    """Check every string and count every value (iterative: depth is already bounded)."""
    count = 0
    stack: list[tuple[Any, str]] = [(value, what)]
    while stack:
        node, where = stack.pop()
        count += 1
        if count > max_items:
            raise JsonBodyError(f"{what} has more than {max_items:,} values")
        if isinstance(node, str):
            check_text(node, where)
        elif isinstance(node, dict):
            if len(node) > max_keys:
                raise JsonBodyError(f"{where} has {len(node):,} keys; at most {max_keys:,}")
            for key, item in node.items():
                check_text(key, f"a key of {where}")
                stack.append((item, f"{where}.{key[:40]}"))
        elif isinstance(node, list):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(node))


def parse_json(
    raw: bytes | str,
    what: str = "the body",
    *,
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_DEPTH,
    max_items: int = MAX_ITEMS,
    max_keys: int = MAX_KEYS,
) -> Any:
    """Parse JSON text within the limits above.

    Args:
        raw: the text, as UTF-8 bytes or a string.
        what: how messages name it (``"the body"``, ``"the metadata field"``).
        max_bytes: largest accepted text, in UTF-8 bytes.
        max_depth: deepest accepted nesting of arrays and objects.
        max_items: most values in all (every string, number, array, object counts one).
        max_keys: most keys in one object.

    Returns:
        The parsed value (dicts, lists, str, int, float, bool, None).

    Raises:
        JsonBodyError: the text breaks a limit or is not valid JSON; the message says which
            (``too_large`` set for the size limit).
    """
    if isinstance(raw, str):
        check_text(raw, what)
        data = raw.encode("utf-8")
    else:
        data = bytes(raw)
    if len(data) > max_bytes:
        raise JsonBodyError(
            f"{what} is {len(data):,} bytes, over the {max_bytes // 1024} KB limit",
            too_large=True,
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonBodyError(
            f"{what} is not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
    depth = nesting_depth(data)
    if depth > max_depth:
        raise JsonBodyError(f"{what} nests arrays/objects {depth} deep; at most {max_depth} levels")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_pairs,
        )
    except JsonBodyError as exc:
        raise JsonBodyError(f"{what}: {exc}") from None
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and integers over Python's digit limit.
        raise JsonBodyError(f"{what} is not valid JSON: {str(exc)[:200]}") from None
    _walk(value, what, max_items, max_keys)
    return value


__all__ = [
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MAX_JSON_BYTES",
    "MAX_KEYS",
    "JsonBodyError",
    "check_text",
    "nesting_depth",
    "parse_json",
]
