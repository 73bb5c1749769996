"""The one place that says whether a string may be an item id: catalogs read for a build,
items added by the CLI or the library, and the HTTP API all ask it."""

from __future__ import annotations

import unicodedata
from typing import Any

MAX_ID_LENGTH = 200


#: Unicode categories never allowed in an id: controls, format characters (zero-width
#: spaces and joiners, bidi overrides and isolates, soft hyphen, BOM), private use,
#: surrogates, line and paragraph separators, unassigned code points.
_BAD_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "an invisible format character (zero-width or bidi control)",
    "Co": "a private-use character",
    "Cs": "a lone surrogate (not valid Unicode)",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Cn": "an unassigned code point",
}


#: Default-ignorable code points outside category Cf that render as nothing: the combining
#: grapheme joiner, variation selectors, Mongolian free variation selectors and Hangul
#: fillers. An id holding one looks identical to the id without it.
_INVISIBLE = frozenset(
    [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180F, 0x3164, 0xFFA0]
    + list(range(0xFE00, 0xFE10))
    + list(range(0xE0100, 0xE01F0))
)


def normalize_item_id(item_id: str) -> str:
    """The form a new id is stored in: Unicode NFC, so ids that look the same and differ
    only in composition (``"e\u0301"`` and ``"\u00e9"``) are one id. Check the result with
    :func:`check_item_id`."""
    return unicodedata.normalize("NFC", item_id) if isinstance(item_id, str) else item_id


def check_item_id(item_id: Any) -> str | None:
    """Why ``item_id`` is not acceptable as a new id, or None if it is; the one id check of
    the CLI, the library and the HTTP API.

    Ids appear in URLs, file names and on screens, and two ids must never look alike, so
    these are refused: an empty id or one over :data:`MAX_ID_LENGTH` characters, leading or
    trailing whitespace, ``.``/``..``, ``/`` and ``\\``, ids not in Unicode NFC (see
    :func:`normalize_item_id`), and any character of the categories Cc, Cf, Co, Cs, Zl, Zp
    or Cn (controls, NUL, zero-width and bidi characters, private use, lone surrogates,
    separators, unassigned), invisible default-ignorable ones (variation selectors, Hangul
    fillers) and spaces other than U+0020.
    """
    if not isinstance(item_id, str) or not item_id:
        return "the id is empty"
    if len(item_id) > MAX_ID_LENGTH:
        return f"the id is longer than {MAX_ID_LENGTH} characters"
    if item_id != item_id.strip():
        return "the id has leading or trailing whitespace"
    if item_id in (".", "..") or "/" in item_id or "\\" in item_id:
        return "the id may not be '.', '..' or contain '/' or '\\'"
    for position, char in enumerate(item_id):
        category = unicodedata.category(char)
        what = _BAD_CATEGORIES.get(category)
        if what is None and ord(char) in _INVISIBLE:
            what = "an invisible character"
        if what is None and category == "Zs" and char != " ":
            what = "a space other than U+0020"
        if what is not None:
            return f"the id contains {what} (U+{ord(char):04X} at position {position})"
    if not unicodedata.is_normalized("NFC", item_id):
        return "the id is not in Unicode normal form NFC"
    return None
