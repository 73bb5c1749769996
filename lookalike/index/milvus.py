"""MilvusIndex: the VectorIndex seam over a Milvus collection (pymilvus; Milvus Lite in tests).

One collection per bundle version holds, per item, its row number (the primary key, as every
index kind's ids are bundle rows), its vector, its item id and every metadata column as a
VARCHAR scalar field. ``search`` turns metadata filters into a Milvus boolean expression that
Milvus evaluates *inside* the search, so ``k`` results come back whenever ``k`` items match;
every filter value is written as an escaped string literal, never as expression text.

The URI is a Milvus server (``http://host:19530``) or a Milvus Lite file (``path/x.db``,
started by ``pymilvus`` in-process: one process at a time, for development and tests).
``pip install 'lookalike[milvus]'`` provides both; the module loads only when a ``milvus``
index is asked for.

Updates never touch the live version's collection: the first ``add``/``remove`` after
``load`` copies the collection into a new one (copy-on-write) and changes that; the new
version's manifest names it. ``drop`` deletes a collection (pruned versions).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.extras import require
from lookalike.files import atomic_write_text
from lookalike.index.base import CONFIG_FILE, _as_ids, _padding, _read_config, index_config
from lookalike.neighbours import _check_k, _numeric_2d

__all__ = ["MILVUS_MAX_TOPK", "MilvusIndex", "filter_expression", "string_literal"]

#: Milvus answers at most this many neighbours per query.
MILVUS_MAX_TOPK = 16_384
#: Longest VARCHAR Milvus stores (bytes); longer metadata values are cut (filters on them
#: then compare the cut value).
MAX_VARCHAR = 65_535
_INSERT_ROWS = 2_000
_FIELD_RE = re.compile(r"[^A-Za-z0-9_]")
_CLIENTS: dict[tuple[str, str | None], Any] = {}


def string_literal(value: str) -> str:
    """``value`` as a Milvus string literal: double-quoted, with ``\\`` and ``"`` (and control
    characters) escaped, so no value can end the literal and add to the expression."""
    return json.dumps(str(value), ensure_ascii=False)


def filter_expression(filters: dict[str, Sequence[str]], fields: dict[str, str]) -> str:
    """``field in ["a", "b"] and other in ["c"]`` for column -> values (any value matches;
    every column must match). Columns must be known fields; values are escaped literals."""
    parts = []
    for column, values in filters.items():
        if column not in fields:
            raise ValueError(f"no Milvus field for metadata column {column!r}")
        literals = ", ".join(string_literal(v) for v in values)
        parts.append(f"{fields[column]} in [{literals}]")
    return " and ".join(parts)


def _field_names(columns: Sequence[str]) -> dict[str, str]:
    """Metadata column -> a valid, unique Milvus field name (``m_`` + letters/digits/_)."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for column in columns:
        base = ("m_" + _FIELD_RE.sub("_", column))[:60]
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        names[column] = name
    return names


def _is_lite(uri: str) -> bool:
    return "://" not in uri


def _normalise_uri(uri: str) -> str:
    if not uri:
        raise ValueError("the milvus index needs a uri (http://host:19530 or path/to/x.db)")
    return str(Path(uri).expanduser().resolve()) if _is_lite(uri) else uri


def _client(uri: str, token_env: str | None):
    """One MilvusClient per (uri, token variable) and process (Milvus Lite starts once)."""
    key = (uri, token_env)
    if key not in _CLIENTS:
        pymilvus = require("pymilvus", "milvus")
        token = ""
        if token_env:
            token = os.environ.get(token_env, "")
            if not token:
                raise ValueError(f"the Milvus token variable {token_env} is not set")
        if _is_lite(uri):
            require("milvus_lite", "milvus")
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
        _CLIENTS[key] = pymilvus.MilvusClient(uri=uri, token=token)
    return _CLIENTS[key]


def _cut(value: Any) -> str:
    text = "" if value is None else str(value)
    raw = text.encode()
    return text if len(raw) <= MAX_VARCHAR else raw[:MAX_VARCHAR].decode(errors="ignore")


#: Bytes one search call may make Milvus Lite hold: its brute-force search materialises
#: queries x items x dim float32 differences (a 2,906-item, 1280-d catalog searched with 2,906
#: queries at once asked for 40 GB), so queries go in batches sized to stay under this.
SEARCH_BUDGET_BYTES = 256 << 20
#: Queries per search call at most, whatever the budget allows.
MAX_SEARCH_ROWS = 256


def search_batch_rows(ntotal: int, dim: int) -> int:
    """Queries per search call so one call stays within :data:`SEARCH_BUDGET_BYTES`."""
    per_query = max(1, ntotal) * max(1, dim) * 4
    return max(1, min(MAX_SEARCH_ROWS, SEARCH_BUDGET_BYTES // per_query))


class MilvusIndex:
    """A Milvus collection behind the VectorIndex calls.

    Params: ``uri`` (server URL or Lite file), ``token_env`` (variable holding the token),
    ``prefix`` of collection names, ``index_type`` (``auto``: FLAT, exact, on Milvus Lite;
    HNSW M=32 on a server), and, written by the index itself, ``collection`` and ``fields``
    (metadata column -> field name). ``create`` always makes a new collection.
    """

    kind = "milvus"
    #: build_index hands ``rows`` (item id, metadata) to ``add``.
    stores_rows = True
    #: Recommender passes metadata ``filters`` to ``search`` (evaluated inside Milvus).
    filters_inside = True
    #: ``search(group_by_item=True)`` groups photos by product inside Milvus (its
    #: ``group_by_field`` search on ``item_id``; Milvus Lite supports it too).
    groups_inside = True

    def __init__(self, dim: int, params: dict[str, Any], owned: bool):
        self.dim = int(dim)
        self.uri = _normalise_uri(params["uri"])
        self.token_env = params.get("token_env")
        self.prefix = params.get("prefix") or "lookalike"
        self.index_type = params.get("index_type") or "auto"
        self.collection = params.get("collection")
        self.fields: dict[str, str] = dict(params.get("fields") or {})
        self._owned = owned  # may this object change its collection?
        self.client = _client(self.uri, self.token_env)

    # -- creation ----------------------------------------------------------------------
    @classmethod
    def create(cls, dim: int, **params: Any) -> MilvusIndex:
        """An empty index; its collection is made on the first ``add`` (when the metadata
        columns are known). ``collection`` and ``fields`` params are ignored: every created
        index gets a fresh collection (one per bundle version)."""
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        known = {"uri", "token_env", "prefix", "index_type", "collection", "fields"}
        unknown = set(params) - known
        if unknown:
            raise ValueError(f"milvus index has no param(s) {sorted(unknown)}; {sorted(known)}")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,100}", params.get("prefix") or "x"):
            raise ValueError(f"milvus collection prefix {params.get('prefix')!r} is not valid")
        fresh = {**params, "collection": None, "fields": {}}
        if "uri" not in params:
            raise ValueError("the milvus index needs a uri (http://host:19530 or path/to/x.db)")
        return cls(dim, fresh, owned=True)

    @property
    def is_trained(self) -> bool:
        """Always True (Milvus builds its own index)."""
        return True

    def train(self, vectors: np.ndarray) -> None:
        """Nothing to train."""

    def _new_collection(self, columns: Sequence[str]) -> None:
        pymilvus = require("pymilvus", "milvus")
        data_type = pymilvus.DataType
        name = f"{self.prefix}_{uuid.uuid4().hex[:16]}"
        self.fields = _field_names(list(columns))
        schema = pymilvus.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("row", data_type.INT64, is_primary=True)
        schema.add_field("vector", data_type.FLOAT_VECTOR, dim=self.dim)
        schema.add_field("item_id", data_type.VARCHAR, max_length=MAX_VARCHAR)
        for field in self.fields.values():
            schema.add_field(field, data_type.VARCHAR, max_length=MAX_VARCHAR)
        index_params = self.client.prepare_index_params()
        index_type = self.index_type
        if index_type == "auto":
            index_type = "FLAT" if _is_lite(self.uri) else "HNSW"
        extra = {"M": 32, "efConstruction": 200} if index_type == "HNSW" else {}
        index_params.add_index(
            field_name="vector", index_type=index_type, metric_type="L2", params=extra
        )
        self.client.create_collection(name, schema=schema, index_params=index_params)
        self.collection = name
        self._owned = True

    def _copy_on_write(self) -> None:
        """Before the first change of a loaded index: copy its collection into a new one."""
        if self._owned and self.collection:
            return
        source = self.collection
        columns = list(self.fields)
        old_fields = dict(self.fields)
        self._new_collection(columns)
        if source is None:
            return
        output = ["row", "vector", "item_id", *old_fields.values()]
        iterator = self.client.query_iterator(
            source, batch_size=_INSERT_ROWS, output_fields=output, filter="row >= 0"
        )
        try:
            while batch := iterator.next():
                self.client.insert(self.collection, [dict(r) for r in batch])
        finally:
            iterator.close()

    # -- the VectorIndex calls -----------------------------------------------------------
    @property
    def ntotal(self) -> int:
        """Vectors stored (a strongly consistent count)."""
        if self.collection is None:
            return 0
        result = self.client.query(
            self.collection, filter="", output_fields=["count(*)"], consistency_level="Strong"
        )
        return int(result[0]["count(*)"])

    def add(
        self,
        vectors: np.ndarray,
        ids: np.ndarray,
        rows: Sequence[tuple[str, dict[str, str]]] | None = None,
    ) -> None:
        """Insert vectors with their row ids (and, per row, item id + metadata)."""
        x = _numeric_2d(vectors, "vectors")
        ids = _as_ids(ids, "ids")
        if x.shape[1] != self.dim:
            raise ValueError(f"vectors have dimension {x.shape[1]}, the index {self.dim}")
        if len(ids) != len(x):
            raise ValueError(f"{len(x)} vectors but {len(ids)} ids")
        if len(np.unique(ids)) != len(ids):
            raise ValueError("ids must be unique")
        rows = list(rows) if rows is not None else [("", {})] * len(ids)
        if len(rows) != len(ids):
            raise ValueError(f"{len(ids)} ids but {len(rows)} metadata rows")
        if self.collection is None:
            columns: dict[str, None] = {}
            for _, metadata in rows:
                columns.update(dict.fromkeys(metadata))
            self._new_collection(list(columns))
        else:
            self._copy_on_write()
        if len(ids) and self._present(ids).any():
            raise ValueError("some ids are already in the index")
        for start in range(0, len(ids), _INSERT_ROWS):
            stop = start + _INSERT_ROWS
            batch = []
            for row, vector, (item_id, metadata) in zip(
                ids[start:stop], x[start:stop], rows[start:stop], strict=True
            ):
                entity = {"row": int(row), "vector": vector.tolist(), "item_id": _cut(item_id)}
                for column, field in self.fields.items():
                    entity[field] = _cut(metadata.get(column, ""))
                batch.append(entity)
            self.client.insert(self.collection, batch)
        self.client.load_collection(self.collection)

    def _present(self, ids: np.ndarray) -> np.ndarray:
        found: set[int] = set()
        for start in range(0, len(ids), _INSERT_ROWS):
            chunk = ", ".join(str(int(i)) for i in ids[start : start + _INSERT_ROWS])
            hits = self.client.query(
                self.collection,
                filter=f"row in [{chunk}]",
                output_fields=["row"],
                consistency_level="Strong",
            )
            found.update(int(h["row"]) for h in hits)
        return np.array([int(i) in found for i in ids], dtype=bool)

    def remove(self, ids: np.ndarray) -> int:
        """Delete these row ids; returns how many were present."""
        ids = _as_ids(ids, "ids")
        if self.collection is None or not len(ids):
            return 0
        self._copy_on_write()
        present = ids[self._present(ids)]
        if len(present):
            self.client.delete(self.collection, ids=[int(i) for i in present])
        return len(present)

    def search(
        self,
        queries: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        filters: dict[str, Sequence[str]] | None = None,
        group_by_item: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest rows: Euclidean distances (nearest first) and row ids, -1 padded.

        Args:
            queries: float (q, dim).
            k: neighbours per query (Milvus returns at most MILVUS_MAX_TOPK).
            allowed: rows that may be returned (a ``row in [...]`` expression).
            filters: metadata column -> exact values; evaluated inside Milvus. A column
                without a field (added later) falls back to ``allowed``.
            group_by_item: at most one row per item id (the nearest of a product's photos),
                grouped inside Milvus: k distinct products (see lookalike.index.grouped).
        """
        q = _numeric_2d(queries, "queries")
        if q.shape[1] != self.dim:
            raise ValueError(f"queries have dimension {q.shape[1]}, the index {self.dim}")
        _check_k(k)
        distances, rows = _padding(len(q), k)
        if self.collection is None or not len(q):
            return distances, rows
        expression = ""
        filters = {c: list(v) for c, v in (filters or {}).items() if v is not None}
        if filters and all(c in self.fields for c in filters):
            if any(not v for v in filters.values()):
                return distances, rows
            expression = filter_expression(filters, self.fields)
        elif allowed is not None:
            allowed = _as_ids(allowed, "allowed")
            if not len(allowed):
                return distances, rows
            expression = "row in [" + ", ".join(str(int(r)) for r in allowed) + "]"
        step = search_batch_rows(self.ntotal, self.dim)
        grouping = {"group_by_field": "item_id"} if group_by_item else {}
        for start in range(0, len(q), step):
            hits = self.client.search(
                self.collection,
                data=q[start : start + step].tolist(),
                limit=min(k, MILVUS_MAX_TOPK),
                filter=expression,
                output_fields=["row"],
                search_params={"metric_type": "L2"},
                consistency_level="Strong",
                **grouping,
            )
            for i, found in enumerate(hits, start=start):
                for j, hit in enumerate(found):
                    row = hit["row"] if "row" in hit else hit.get("entity", {}).get("row")
                    rows[i, j] = int(hit["id"] if row is None else row)
                    # Milvus' L2 is the squared distance; the seam's distances are Euclidean.
                    distances[i, j] = np.sqrt(max(float(hit["distance"]), 0.0))
        return distances, rows

    def ids(self) -> np.ndarray:
        """Every stored row id, sorted (``lookalike check`` compares them with the bundle)."""
        if self.collection is None:
            return np.empty(0, np.int64)
        out: list[int] = []
        iterator = self.client.query_iterator(
            self.collection, batch_size=_INSERT_ROWS, output_fields=["row"], filter="row >= 0"
        )
        try:
            while batch := iterator.next():
                out.extend(int(r["row"]) for r in batch)
        finally:
            iterator.close()
        return np.sort(np.array(out, dtype=np.int64))

    def item_ids(self, rows: np.ndarray) -> list[str]:
        """The item ids stored for ``rows`` ('' for rows not stored)."""
        rows = _as_ids(rows, "rows")
        found: dict[int, str] = {}
        for start in range(0, len(rows), _INSERT_ROWS):
            chunk = ", ".join(str(int(i)) for i in rows[start : start + _INSERT_ROWS])
            for hit in self.client.query(
                self.collection,
                filter=f"row in [{chunk}]",
                output_fields=["row", "item_id"],
                consistency_level="Strong",
            ):
                found[int(hit["row"])] = str(hit["item_id"])
        return [found.get(int(r), "") for r in rows]

    def params(self) -> dict:
        """What index.json and the manifest record: uri, collection, fields and options."""
        return {
            "uri": self.uri,
            "collection": self.collection,
            "token_env": self.token_env,
            "prefix": self.prefix,
            "index_type": self.index_type,
            "fields": dict(self.fields),
        }

    def __repr__(self) -> str:
        return f"MilvusIndex(dim={self.dim}, uri={self.uri!r}, collection={self.collection!r})"

    # -- persistence -------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Flush the collection and write ``index.json`` naming it (atomically)."""
        if self.collection is None:
            raise ValueError("cannot save an empty milvus index (nothing was added)")
        self.client.flush(self.collection)
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = index_config(self, {})
        atomic_write_text(directory / CONFIG_FILE, json.dumps(config, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> MilvusIndex:
        """Connect to the collection ``index.json`` names (read-only until changed).

        Raises:
            ValueError: the collection is gone or its size disagrees with index.json.
        """
        config = _read_config(Path(directory))
        if config["kind"] != cls.kind:
            raise ValueError(f"{directory} holds a {config['kind']!r} index, not 'milvus'")
        index = cls(int(config["dim"]), dict(config["params"]), owned=False)
        if not index.client.has_collection(index.collection):
            raise ValueError(
                f"Milvus collection {index.collection!r} is not at {index.uri} "
                "(dropped, or another Milvus?)"
            )
        index.client.load_collection(index.collection)
        if index.ntotal != config["ntotal"]:
            raise ValueError(
                f"{directory}: Milvus collection {index.collection} holds {index.ntotal} "
                f"vectors, index.json says {config['ntotal']}"
            )
        return index

    def drop(self) -> None:
        """Delete this index's collection (a pruned version's)."""
        if self.collection and self.client.has_collection(self.collection):
            self.client.drop_collection(self.collection)

    @classmethod
    def release(cls, directory: Path) -> str | None:
        """Drop the collection a saved index names; the collection name, or None."""
        params = _read_config(Path(directory))["params"]
        index = cls(0, dict(params), owned=False)
        index.drop()
        return index.collection
