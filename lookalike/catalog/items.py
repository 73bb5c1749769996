"""A catalog's items and the rules every reader applies to them.

:class:`Item` (a product: id, main photo, more photos, metadata), :class:`Catalog` (the items
in a stable order plus the problems met), :class:`CatalogError`, and the helpers each layout's
reader shares: :func:`add_photo` (one more photo of a product), :func:`with_valid_ids` (the
id check) and :func:`item_sort_key` (the order).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from lookalike.ids import check_item_id, normalize_item_id


@dataclass(frozen=True)
class Item:
    """One catalog item: a stable id, its image file and its metadata columns.

    ``path`` is a local :class:`~pathlib.Path`, or a ``str`` URI for a manifest row whose
    image lives on a remote filesystem (see :func:`is_uri`).
    """

    id: str
    path: Path | str
    metadata: dict[str, str] = field(default_factory=dict)
    #: The product's other photos, after its main photo ``path`` (empty: one photo).
    more_photos: tuple[Path | str, ...] = ()

    @property
    def photos(self) -> tuple[Path | str, ...]:
        """Every photo of the product, main photo first."""
        return (self.path, *self.more_photos)


@dataclass
class Catalog:
    """Items in a stable order (sorted by id) plus the problems met while reading."""

    root: Path
    items: list[Item]
    problems: list[str] = field(default_factory=list)
    #: How the tree was read when that was detected, not given (e.g. "a folder per product,
    #: detected: ..."); empty otherwise. The build prints it.
    layout_note: str = ""

    def __len__(self) -> int:
        return len(self.items)

    @property
    def photo_count(self) -> int:
        """Photos over all items (= ``len(self)`` for a one-photo-per-product catalog)."""
        return sum(len(item.photos) for item in self.items)

    def metadata_columns(self) -> list[str]:
        """Metadata column names present on at least one item, in first-seen order."""
        seen: dict[str, None] = {}
        for item in self.items:
            seen.update(dict.fromkeys(item.metadata))
        return list(seen)


class CatalogError(ValueError):
    """The catalog as a whole cannot be read (missing folder, unreadable CSV, no images)."""


def add_photo(
    item: Item, path: Path | str, metadata: dict[str, str], where: str, problems: list[str]
) -> Item:
    """``item`` with one more photo, ``path``. A product's rows must agree on its metadata:
    a row whose ``metadata`` differs is named in ``problems`` (its photo is kept, the first
    row's metadata wins)."""
    differ = sorted(
        name
        for name in set(item.metadata) | set(metadata)
        if item.metadata.get(name, "") != metadata.get(name, "")
    )
    if differ:
        shown = ", ".join(
            f"{name} {metadata.get(name, '')!r} vs {item.metadata.get(name, '')!r}"
            for name in differ[:3]
        )
        problems.append(
            f"{where}: duplicate id {item.id!r} whose metadata disagrees with its first row "
            f"({shown}): kept as another photo of the product, with the first row's metadata"
        )
    return dataclasses.replace(item, more_photos=(*item.more_photos, path))


def with_valid_ids(items: list[Item], problems: list[str]) -> list[Item]:
    """The items whose id passes :func:`lookalike.ids.check_item_id` once stored in Unicode NFC
    (a folder copied from macOS names files in NFD); the others are named in ``problems``.

    The same check as for items added later through the CLI or the HTTP API, so a catalog id
    can always be looked up, linked to and shown.
    """
    kept: list[Item] = []
    seen: set[str] = set()
    for item in items:
        item_id = normalize_item_id(item.id)
        reason = check_item_id(item_id)
        if reason is None and item_id in seen:
            reason = "it repeats another id once written in Unicode NFC"
        if reason is not None:
            problems.append(f"{item.path}: id {item.id!r} refused ({reason}); skipped")
            continue
        seen.add(item_id)
        kept.append(item if item_id == item.id else dataclasses.replace(item, id=item_id))
    return kept


def item_sort_key(item: Item) -> tuple[int, int, str, str]:
    """Numeric ids in numeric order first, then the rest alphabetically."""
    if item.id.isascii() and item.id.isdigit():
        # Compare by magnitude without int(): leading zeros must not make "007" sort after "10".
        digits = item.id.lstrip("0")
        return (0, len(digits), digits, item.id)
    return (1, 0, item.id, item.id)
