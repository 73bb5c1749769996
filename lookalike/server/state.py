"""What the routes share: the served catalog, the live reloading of it, and the app state.

Living catalog: the app serves whatever version the bundle's ``CURRENT`` names. Each request
``stat``s that file (microseconds); when it changed - an update through this API, another
server process or ``lookalike add`` - the new version is loaded once (reusing the encoder when
its files are unchanged) and the served catalog object is swapped in one assignment, so
requests already running finish on the old one.

:class:`ServerState` holds everything ``create_app`` sets up; it lives on
``app.state.lookalike`` and routes reach it through the dependencies in ``deps.py``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path
from typing import Any, TypeVar

import anyio
from anyio.lowlevel import RunVar
from starlette.applications import Starlette
from starlette.requests import Request

from lookalike.bundle import CURRENT, ENCODER_DIR, BundleData, read_bundle
from lookalike.encoders import Encoder, load_encoder
from lookalike.encoders.base import warm_up
from lookalike.index import load_index
from lookalike.recommend import FilterError, Recommender
from lookalike.server.interactions import InteractionSource
from lookalike.server.memory import DecodeBudget
from lookalike.server.schemas import MAX_FACET_VALUES, Facet, FacetValue
from lookalike.server.thumbnails import ThumbnailCache

log = logging.getLogger("lookalike.server")

# After a failed reload, requests keep the old catalog and retry at most this often.
RELOAD_RETRY_S = 1.0

T = TypeVar("T")


class ServedCatalog:
    """The loaded recommender plus what the endpoints derive from it once.

    (Not :class:`lookalike.catalog.Catalog`, which reads a folder of images: this is one
    loaded bundle version as the server answers from it.)
    """

    def __init__(
        self,
        recommender: Recommender,
        thumbnails: ThumbnailCache,
        max_queries: int,
        limiter: RunVar[anyio.CapacityLimiter] | None = None,
    ):
        """Args:
        recommender: the loaded bundle.
        thumbnails: the thumbnail cache.
        max_queries: how many searches may run at once (each already uses every core).
        limiter: the query limiter to share with the catalog this one replaces (so a
            reload never lets more than ``max_queries`` searches run at once).
        """
        self.recommender = recommender
        self.thumbnails = thumbnails
        self.max_queries = max_queries
        # Computing the column list scans every item, so do it once, not per request.
        self.columns = list(recommender.metadata_columns)
        self._column_set = frozenset(self.columns)
        self._folded: dict[str, list[str]] = {}
        for column in self.columns:
            self._folded.setdefault(column.casefold(), []).append(column)
        # One limiter per event loop (anyio's own pattern for its default thread limiter).
        self._limiter: RunVar[anyio.CapacityLimiter] = limiter or RunVar("lookalike_query_limiter")

    @property
    def version(self) -> str:
        """Name of the bundle version this catalog was loaded from."""
        return self.recommender.data.version_dir.name

    def replaced_by(self, recommender: Recommender) -> ServedCatalog:
        """A catalog over ``recommender`` sharing this one's thumbnails and query limiter."""
        return ServedCatalog(recommender, self.thumbnails, self.max_queries, self._limiter)

    @cached_property
    def facets(self) -> list[Facet]:
        """Columns with 2..50 distinct values that repeat (not ids or titles)."""
        rec = self.recommender
        facets = []
        for column in self.columns:
            counts = Counter(str(v) for v in rec.column(column) if str(v).strip())
            # A column where most values are unique (a title) is no use as a filter chip.
            if not 2 <= len(counts) <= min(MAX_FACET_VALUES, max(2, len(rec) // 2)):
                continue
            ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].lower()))
            values = [FacetValue(value=v, count=c) for v, c in ordered]
            facets.append(Facet(column=column, values=values))
        return facets

    def facet_counts(self, filters: dict[str, list[str]]) -> list[Facet]:
        """:attr:`facets` with each column's counts under the filters on the *other*
        columns (so chips show how many items a click would add); values keep their order."""
        if not filters:
            return self.facets
        rec = self.recommender
        out = []
        for facet in self.facets:
            rows = rec.allowed_rows({c: v for c, v in filters.items() if c != facet.column})
            column = rec.column(facet.column)
            counts = Counter(str(v) for v in (column if rows is None else column[rows]))
            values = [FacetValue(value=v.value, count=counts.get(v.value, 0)) for v in facet.values]
            out.append(Facet(column=facet.column, values=values))
        return out

    def column_named(self, name: str) -> str:
        """The metadata column a filter ``name`` means: the column of that exact name, else
        the one column equal to it ignoring case (``gender`` -> ``Gender``).

        Raises:
            FilterError: no column has that name, or several differ from it only in case.
        """
        if name in self._column_set:
            return name
        matches = self._folded.get(name.casefold(), [])
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise FilterError(
                f"ambiguous filter column {name!r}: columns {', '.join(sorted(matches))} "
                "differ only in case; use one of those names exactly"
            )
        raise FilterError(
            f"unknown filter column {name!r}; columns: {', '.join(sorted(self.columns))}"
        )

    def filters(self, request: Request, reserved: Iterable[str]) -> dict[str, list[str]]:
        """Filters from the query string: every parameter not in ``reserved``, keyed by the
        column it names (see :meth:`column_named`).

        Raises:
            FilterError: a parameter names no metadata column, or several (checked here,
                before any upload is read or search is run).
        """
        skip = set(reserved)
        filters: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            if key in skip:
                continue
            values = filters.setdefault(self.column_named(key), [])
            if value.strip() and value.strip() not in values:
                values.append(value.strip())
        return {k: v for k, v in filters.items() if v}

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a CPU-heavy library call in a worker thread, a few at a time, so the event
        loop keeps answering (thumbnails, health checks) while models run."""
        try:
            limiter = self._limiter.get()
        except LookupError:
            limiter = anyio.CapacityLimiter(self.max_queries)
            self._limiter.set(limiter)
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=limiter)

    def row(self, item_id: str) -> int:
        """Row of ``item_id``; the only way a request reaches a file (UnknownItemError)."""
        return self.recommender.row(item_id)

    def source_path(self, item_id: str) -> Path:
        """The catalog image file of ``item_id``, from the bundle (never from the request)."""
        return Path(self.recommender.items.paths[self.row(item_id)])


def same_encoder(manifest: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether two versions' manifests list byte-identical encoder files (by sha256)."""

    def encoder_files(manifest: dict[str, Any]) -> dict[str, Any]:
        files = manifest.get("files", {})
        return {k: v for k, v in files.items() if k.startswith(ENCODER_DIR + "/")}

    mine = encoder_files(manifest)
    return bool(mine) and mine == encoder_files(other)


def encoder_for(data: BundleData, served: Recommender | None) -> Encoder:
    """The encoder of bundle version ``data``: ``served``'s own when the encoder files are
    byte-identical (updates hard-link them), which saves loading a model; else loaded."""
    if served is not None and same_encoder(data.manifest, served.data.manifest):
        return served.encoder
    return load_encoder(data.encoder_dir)


def load_version(bundle_dir: Path, previous: Recommender | None = None) -> Recommender:
    """Load the live version of ``bundle_dir``, reusing ``previous``'s encoder when the
    encoder files are byte-identical, so a reload costs only the items, embeddings and index."""
    data = read_bundle(bundle_dir)
    encoder = encoder_for(data, previous)
    if previous is None or encoder is not previous.encoder:
        warm_up(encoder)  # here, not in the first request that needs it
    recommender = Recommender(data, encoder, load_index(data.index_dir))
    if recommender.focuses:
        # Photos the encoder is unsure about are parsed: the parser's session is made at the
        # first load (warm) and passed on to each later version.
        if previous is not None and previous.focuses:
            recommender.garment_parser = previous.garment_parser
        else:
            recommender.garment_parser.warm_up()
    return recommender


class LiveCatalog:
    """The catalog being served; follows the bundle's ``CURRENT`` pointer.

    ``current()`` costs one ``stat`` when nothing changed. When the pointer changed, one
    caller loads the new version while the others keep answering from the old catalog;
    the swap is a single attribute assignment, so every request sees one whole catalog.
    """

    def __init__(
        self,
        bundle_dir: Path,
        catalog: ServedCatalog,
        on_swap: Callable[[ServedCatalog], None] | None = None,
    ):
        """Args:
        bundle_dir: the bundle folder.
        catalog: the catalog loaded at startup.
        on_swap: called with each newly loaded catalog.
        """
        self.bundle_dir = Path(bundle_dir)
        self._pointer = self.bundle_dir / CURRENT
        self._catalog = catalog
        self._on_swap = on_swap
        self._seen = self._pointer_state()
        self._retry_at = 0.0
        self._lock = threading.Lock()
        self.reloads = 0  # versions loaded after startup (for tests and logs)

    def _pointer_state(self) -> tuple[int, int, int] | None:
        # os.replace gives CURRENT a new inode on every publish, so this changes even when
        # two versions are published within the filesystem's timestamp granularity.
        try:
            st = os.stat(self._pointer)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    @property
    def catalog(self) -> ServedCatalog:
        """The catalog being served right now (no freshness check)."""
        return self._catalog

    def current(self) -> ServedCatalog:
        """The catalog to answer a request with, reloaded first if ``CURRENT`` moved.
        Blocking: call from a worker thread."""
        if self._pointer_state() != self._seen and time.monotonic() >= self._retry_at:
            self.refresh(wait=False)
        return self._catalog

    async def acurrent(self) -> ServedCatalog:
        """:meth:`current` for the event loop (the reload runs in a worker thread)."""
        if self._pointer_state() != self._seen and time.monotonic() >= self._retry_at:
            await anyio.to_thread.run_sync(self.refresh)
        return self._catalog

    def encoder_for(self, data: BundleData) -> Encoder:
        """The encoder of bundle version ``data``, the served one when its files match."""
        return encoder_for(data, self._catalog.recommender)

    def refresh(self, wait: bool = False) -> bool:
        """Load the version ``CURRENT`` names if it is not the one served.

        Args:
            wait: wait for a reload already running elsewhere (after this app's own
                updates); otherwise return at once and keep serving the old catalog.

        Returns:
            Whether a new catalog was swapped in.
        """
        if not self._lock.acquire(blocking=wait):
            return False
        try:
            state = self._pointer_state()
            if state == self._seen:
                return False
            old = self._catalog
            try:
                name = self._pointer.read_text().strip()
                if name == old.version:
                    self._seen = state
                    return False
                recommender = load_version(self.bundle_dir, old.recommender)
            except Exception:  # noqa: BLE001 - keep serving the old version, retry later
                log.exception("could not load the new version of %s", self.bundle_dir)
                self._retry_at = time.monotonic() + RELOAD_RETRY_S
                return False
            self._catalog = old.replaced_by(recommender)
            self._seen = state
            self.reloads += 1
            if self._on_swap is not None:
                self._on_swap(self._catalog)
            log.info(
                "now serving %s (%s): %d items",
                self.bundle_dir,
                self._catalog.version,
                len(recommender),
            )
            return True
        finally:
            self._lock.release()


@dataclass
class ServerState:
    """Everything the routes share, set up once by ``create_app``."""

    bundle_dir: Path
    live: LiveCatalog
    thumbnails: ThumbnailCache
    max_upload_bytes: int
    api_key: str | None
    interactions: InteractionSource | None = None
    #: Memory all decodes in flight share (server/memory.py).
    decode_budget: DecodeBudget = field(default_factory=DecodeBudget)
    # Updates queue here (one at a time per event loop) rather than each holding a worker
    # thread while it waits for the bundle's file lock.
    _update_limiter: RunVar[anyio.CapacityLimiter] = field(
        default_factory=lambda: RunVar("lookalike_update_limiter"), repr=False
    )

    async def run_update(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a bundle update in a worker thread, one at a time."""
        try:
            limiter = self._update_limiter.get()
        except LookupError:
            limiter = anyio.CapacityLimiter(1)
            self._update_limiter.set(limiter)
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=limiter)


def state_of(app: Starlette) -> ServerState:
    """The :class:`ServerState` of an app made by ``create_app``."""
    return app.state.lookalike


def use_interactions(app: Starlette, path: str | Path | None) -> None:
    """Blend the interaction log at ``path`` into profile recommendations (None: stop).

    Raises:
        ValueError: ``path`` is not a file.
    """
    state_of(app).interactions = InteractionSource(path) if path is not None else None
