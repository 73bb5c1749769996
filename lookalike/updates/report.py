"""What an update did: the items asked for (:class:`NewItem`), those skipped and why, and
the whole report (:class:`UpdateReport`) the CLI prints and the API returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lookalike.dedup import (
    Duplicate,
)


@dataclass
class NewItem:
    """One item to add.

    Attributes:
        id: the item id (unique in the bundle).
        source: the image file, or its encoded bytes (needs ``store_images``).
        metadata: metadata columns.
        name: how messages name the image (a path or an upload's file name).
    """

    id: str
    source: Path | bytes
    metadata: dict[str, str] = field(default_factory=dict)
    name: str = ""


@dataclass
class Skipped:
    """An input that was not added, and why.

    ``code`` is one of ``not_found``, ``invalid_id``, ``repeated_id``, ``id_exists``,
    ``invalid_image`` and ``non_finite``, for callers (the API) that branch on it.
    """

    name: str
    id: str | None
    reason: str
    code: str = "skipped"


@dataclass
class UpdateReport:
    """What an add or remove did. ``version`` is None when nothing changed."""

    action: str
    previous_version: str
    version: str | None = None
    items: int = 0
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: photos added to, or removed from, products ("ID photo N").
    photos_added: list[str] = field(default_factory=list)
    photos_removed: list[str] = field(default_factory=list)
    unknown_ids: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        """Whether a new version was published."""
        return self.version is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    def lines(self) -> list[str]:
        """Human-readable summary, one finding per line."""
        out = [f"skipped {s.name}: {s.reason}" for s in self.skipped]
        out += [f"unknown id {i!r}: not in the bundle" for i in self.unknown_ids]
        out += [f"warning: {p}" for p in self.problems]
        for d in self.duplicates:
            if d.kind == "exact":
                out.append(f"duplicate: {d.id!r} is a byte-identical copy of {d.of!r}")
            else:
                how = []
                if d.hamming is not None:
                    how.append(f"aHash {d.hamming} bits apart")
                if d.distance is not None:
                    how.append(f"embedding distance {d.distance:.4f}")
                out.append(f"near duplicate: {d.id!r} looks like {d.of!r} ({', '.join(how)})")
        verb = {"add": "added", "remove": "removed"}.get(self.action, self.action)
        out += [f"photo added: {p}" for p in self.photos_added]
        out += [f"photo removed: {p}" for p in self.photos_removed]
        count = len(self.added) if self.action == "add" else len(self.removed)
        extra = f", {len(self.replaced)} replaced" if self.replaced else ""
        if self.version:
            out.append(
                f"{verb} {count} item(s){extra}: bundle version {self.version} now holds "
                f"{self.items} items ({self.seconds:.1f}s)"
            )
        else:
            out.append(f"nothing {verb}; bundle unchanged at {self.previous_version}")
        return out
