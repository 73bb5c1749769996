"""The encode step of a build on Ray Data: decode + encode every catalog photo on a cluster.

The encoder is fitted on the driver (as in an in-process build); this module then runs::

    image list (row, location) -> map_batches(CatalogEncoder actors: read bytes, sha256,
    decode + letterbox, encode) -> rows + embeddings + hashes + errors as Parquet shards

and hands the shards back as one :class:`EncodedCatalog` in catalog row order, so the rest of
the build (index, bundle) is the in-process one and the bundle is the same.

Ray (``pip install 'lookalike[ray]'``) is imported only when a Ray build is asked for; without
``address`` a local Ray is started on this machine and stopped afterwards. Each actor loads the
exported encoder once (its files travel through Ray's object store, so cluster nodes need
``lookalike`` installed but not the driver's folders); with GPUs each actor takes one
(``num_gpus=1``) and decoding moves to separate CPU tasks that overlap with the GPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lookalike.catalog import is_uri, read_location_bytes
from lookalike.encoders import encoder_resize, load_encoder
from lookalike.encoders.base import saved_resize
from lookalike.extras import require
from lookalike.imaging import LEGACY_RESIZE, ImageDecodeError, load_image

#: Batches Ray Data queues on one actor: the next one is waiting when a batch ends (with 1,
#: each batch cost a ~170 ms round trip on 2 cores: 4 s of 40), and the first actor up does
#: not hoard the blocks the others then wait for (the default queued 4 on it).
TASKS_IN_FLIGHT_PER_ACTOR = 2
#: The image list is cut into one block per batch, at most this many per actor: small blocks
#: keep the actors level at the end (with 4 blocks per actor one actor ran ~one block, ~7 s
#: on 2 cores, after the other had stopped); the cap keeps a 10M-photo list a few thousand
#: blocks.
MAX_BLOCKS_PER_ACTOR = 64

__all__ = [
    "EncodedCatalog",
    "Plan",
    "RayOptions",
    "decode_rows",
    "encode_rows",
    "plan",
    "ray_encode_catalog",
    "with_threads",
]


@dataclass
class RayOptions:
    """How the Ray engine runs.

    Attributes:
        address: an existing cluster (``ray://host:10001`` or ``auto``); None starts a local
            Ray on this machine for the build and stops it afterwards.
        workers: encoder actors (default: one per GPU when there are GPUs, else one per CPU
            of the cluster, at most 1 on a 1-CPU machine).
        threads: CPUs each CPU actor reserves and decodes + encodes with (its encoder's
            intra-op threads and its decoding threads); default: the cluster's CPUs shared
            out among the actors (1 with one actor per CPU), at most one node's CPUs.
        batch_size: images per map_batches call.
        device: ``auto`` (CUDA when the cluster has GPUs), ``cpu`` or ``cuda``.
        shard_dir: where the Parquet shards go (default: a temporary folder, removed after).
        progress: Ray Data's progress bars.
    """

    address: str | None = None
    workers: int | None = None
    threads: int | None = None
    batch_size: int = 64
    device: str = "auto"
    shard_dir: Path | None = None
    progress: bool = True


@dataclass
class EncodedCatalog:
    """What the encode step returns, in catalog row order.

    Attributes:
        rows: catalog rows that decoded, ascending.
        embeddings: float32 (len(rows), dim).
        content_hashes: sha256 of each encoded row's file bytes.
        errors: (catalog row, message) for rows that could not be read or decoded.
        seconds: wall time of the pipeline (Ray start-up excluded).
        timings: where the time went, seconds: ``ray_start`` (starting or joining Ray; 0 when
            it was running), ``first_batch`` (pipeline start to the first encoded batch back:
            actor start-up, encoder load, one batch), ``pipeline`` (= ``seconds``).
    """

    rows: list[int]
    embeddings: np.ndarray
    content_hashes: list[str]
    errors: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


def read_and_hash(location: str) -> tuple[bytes | None, str, str]:
    """A photo's (bytes, their sha256, ""), or (None, "", the error) when it cannot be
    read: what every encode step records per row, read once."""
    try:
        data = read_location_bytes(location)
    except OSError as exc:
        return None, "", f"cannot read {location}: {exc.strerror or exc}"
    return data, hashlib.sha256(data).hexdigest(), ""


def decode_rows(batch: dict, size: int, resize: str = LEGACY_RESIZE, threads: int = 1) -> dict:
    """A batch of ``row`` + ``location`` -> decoded images, sha256, error per row.

    Never raises for one bad file: its ``error`` is set and its image is blank.

    Args:
        batch: ``row`` (catalog rows) and ``location`` (paths or URIs), same length.
        size: output side in pixels.
        resize: the encoder's letterbox filter.
        threads: files read + decoded at once (Pillow releases the GIL), >= 1.

    Returns:
        ``row``, ``image`` uint8 (n, size, size, 3), ``sha256`` and ``error`` ("" when fine).
    """
    rows = np.asarray(batch["row"], dtype=np.int64)
    images = np.zeros((len(rows), size, size, 3), np.uint8)
    locations = [str(x) for x in batch["location"]]

    def one(i: int) -> tuple[str, str]:
        location = locations[i]
        data, digest, error = read_and_hash(location)
        if data is None:
            return digest, error
        try:
            # A local file decodes from its path, as an in-process build does (same messages).
            source = location if not is_uri(location) else data
            images[i] = load_image(source, size, resize=resize)
            return digest, ""
        except ImageDecodeError as exc:
            return digest, str(exc)
        except Exception as exc:  # noqa: BLE001 - one bad file must not end the build
            return digest, f"cannot decode image {location}: {type(exc).__name__}: {exc}"

    if threads > 1 and len(locations) > 1:
        with ThreadPoolExecutor(min(threads, len(locations))) as pool:
            results = list(pool.map(one, range(len(locations))))
    else:
        results = [one(i) for i in range(len(locations))]
    hashes = [h for h, _ in results]
    errors = [e for _, e in results]
    return {"row": rows, "image": images, "sha256": np.array(hashes), "error": np.array(errors)}


def encode_rows(encoder, batch: dict) -> dict:
    """Decoded batch -> the same rows with ``embedding`` (zeros where decoding failed)."""
    ok = np.array([not e for e in batch["error"]], dtype=bool)
    vectors = np.zeros((len(ok), encoder.dim), np.float32)
    if ok.any():
        vectors[ok] = encoder.encode(np.asarray(batch["image"])[ok])
    return {
        "row": np.asarray(batch["row"], dtype=np.int64),
        "embedding": vectors,
        "sha256": np.asarray(batch["sha256"]),
        "error": np.asarray(batch["error"]),
    }


def _encoder_files(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


def with_threads(files: dict[str, bytes], threads: int) -> dict[str, bytes]:
    """An encoder's files with ``threads`` inference threads in its ``encoder.json`` (for the
    encoders that have the option; others' files are returned unchanged).

    An actor runs as many threads as the CPUs it reserved: the saved default (0 = every core
    of the machine) in each of two actors on 2 cores put 4 busy threads on 2 cores (measured:
    encode 26 s per actor against 20 s with 1 thread each).
    """
    payload = json.loads(files["encoder.json"]) if "encoder.json" in files else {}
    config = payload.get("config")
    if not isinstance(config, dict) or "threads" not in config:
        return files
    config["threads"] = threads
    return {**files, "encoder.json": json.dumps(payload, indent=2).encode()}


class CatalogEncoder:
    """A Ray Data actor: loads the exported encoder once, then encodes batch after batch.

    With ``decode`` it also reads and decodes its batch (CPU builds: no second stage and no
    image copies through the object store); without, the batch arrives decoded.
    """

    def __init__(
        self, files: dict[str, bytes], size: int, device: str, decode: bool, threads: int = 1
    ):
        if decode:
            # PyTorch encoders (and any PyTorch in the others) use the CPUs reserved, no more.
            import torch

            torch.set_num_threads(threads)
        self._tmp = tempfile.TemporaryDirectory(prefix="lookalike-encoder-")
        root = Path(self._tmp.name)
        for name, data in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        self.encoder = load_encoder(root)
        if device != "cpu" and hasattr(self.encoder, "to_device"):
            self.encoder.to_device(device)
        self.size = size
        self.decode = decode
        self.threads = threads

    def __call__(self, batch: dict) -> dict:
        """One batch of rows -> rows with embeddings."""
        if self.decode:
            batch = decode_rows(batch, self.size, encoder_resize(self.encoder), self.threads)
        return encode_rows(self.encoder, batch)


# Ray waits a fixed 30 s for a fresh raylet to register; on a loaded machine that can run
# out once and succeed on the next try, so a local start is retried before giving up.
LOCAL_START_ATTEMPTS = 3


def start_local_ray(ray, num_cpus: int, attempts: int = LOCAL_START_ATTEMPTS) -> None:
    """Start a local Ray with ``num_cpus`` CPUs, retrying a start that timed out.

    Args:
        ray: The imported ``ray`` module.
        num_cpus: CPUs the local node offers (>= 1).
        attempts: Tries before the last error is raised (>= 1).

    Raises:
        Exception: Ray's own error when every attempt failed.
    """
    for attempt in range(1, max(1, attempts) + 1):
        try:
            ray.init(
                num_cpus=num_cpus,
                include_dashboard=False,
                log_to_driver=False,
                logging_level="ERROR",
            )
            return
        except Exception:
            # A half-started node holds ports and processes; clear it before the next try.
            ray.shutdown()
            if attempt >= attempts:
                raise


def _init_ray(ray, options: RayOptions) -> bool:
    """Connect to ``options.address`` or start a local Ray; True when we started one."""
    if ray.is_initialized():
        return False
    if options.address:
        ray.init(address=options.address, log_to_driver=False, logging_level="ERROR")
        return True
    start_local_ray(ray, os.cpu_count() or 1)
    return True


@dataclass
class Plan:
    """How one Ray encode runs on the cluster at hand.

    Attributes:
        workers: encoder actors.
        gpus: GPUs per actor (0 or 1).
        decode_in_actor: CPU actors read + decode their own batches.
        threads: CPUs a CPU actor reserves and runs its threads on (1 for GPU actors).
    """

    workers: int
    gpus: int
    decode_in_actor: bool
    threads: int


def plan(resources: dict, node_cpus: int, options: RayOptions) -> Plan:
    """The plan for a cluster with ``resources`` (``ray.cluster_resources()``) whose largest
    node has ``node_cpus`` CPUs.

    Raises:
        ValueError: ``--device cuda`` without GPUs, ``--workers`` or ``--threads-per-worker``
            < 1.
    """
    gpus = int(resources.get("GPU", 0))
    cpus = max(1, int(resources.get("CPU", 1)))
    device = options.device
    if device == "cuda" and gpus == 0:
        raise ValueError("--device cuda: the Ray cluster has no GPU")
    use_gpu = gpus > 0 and device != "cpu"
    workers = options.workers or (gpus if use_gpu else cpus)
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    if options.threads is not None and options.threads < 1:
        raise ValueError(f"--threads-per-worker must be >= 1, got {options.threads}")
    if use_gpu:
        return Plan(workers, 1, False, 1)
    threads = options.threads or max(1, min(max(1, node_cpus), cpus // workers))
    return Plan(workers, 0, True, threads)


def _plan(ray, options: RayOptions) -> Plan:
    """:func:`plan` for the cluster Ray is connected to."""
    nodes = [n for n in ray.nodes() if n.get("Alive", True)]
    node_cpus = max((int(n.get("Resources", {}).get("CPU", 0)) for n in nodes), default=1)
    return plan(ray.cluster_resources(), node_cpus, options)


def ray_encode_catalog(
    encoder_dir: Path, locations: Sequence[str], size: int, options: RayOptions | None = None
) -> EncodedCatalog:
    """Decode + encode every location with the encoder saved in ``encoder_dir`` on Ray Data.

    Args:
        encoder_dir: a saved encoder (``encoder.json`` + weights), fitted on the driver.
        locations: image paths or URIs (pyarrow filesystems), one per catalog row.
        size: the encoder's input side in pixels.
        options: cluster, workers, batch size, device, shard folder.

    Returns:
        The rows that decoded, in catalog order, with their embeddings and content hashes,
        plus one error message per row that did not.

    Raises:
        MissingExtraError: Ray is not installed (``pip install 'lookalike[ray]'``).
    """
    options = options or RayOptions()
    if options.batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {options.batch_size}")
    ray = require("ray", "ray")
    require("ray.data", "ray")
    pa = require("pyarrow", "ray")
    pq = require("pyarrow.parquet", "ray")
    begun = time.perf_counter()
    started_ray = _init_ray(ray, options)
    ray_start = time.perf_counter() - begun if started_ray else 0.0
    try:
        how = _plan(ray, options)
        workers, gpus, decode_in_actor = how.workers, how.gpus, how.decode_in_actor
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = options.progress
        context.enable_operator_progress_bars = options.progress
        if hasattr(context, "print_on_execution_start"):
            context.print_on_execution_start = options.progress
        started = time.perf_counter()
        n = len(locations)
        table = pa.table(
            {
                "row": pa.array(np.arange(n, dtype=np.int64)),
                "location": pa.array([str(x) for x in locations], pa.string()),
            }
        )
        # Blocks made here (no shuffle task): one per batch, so the actors finish together.
        n_blocks = max(1, min(n, workers * MAX_BLOCKS_PER_ACTOR, -(-n // options.batch_size)))
        step = -(-n // n_blocks)
        ds = ray.data.from_arrow([table.slice(i, step) for i in range(0, n, step)])
        device = "cuda" if gpus else "cpu"
        files = _encoder_files(Path(encoder_dir))
        if decode_in_actor:
            files = with_threads(files, how.threads)
        if not decode_in_actor:
            ds = ds.map_batches(
                decode_rows,
                # The encoder's recorded filter: the catalog is letterboxed as queries are.
                fn_kwargs={"size": size, "resize": saved_resize(encoder_dir)},
                batch_size=options.batch_size,
                num_cpus=1,
            )
        ds = ds.map_batches(
            CatalogEncoder,
            fn_constructor_kwargs={
                "files": files,
                "size": size,
                "device": device,
                "decode": decode_in_actor,
                "threads": how.threads,
            },
            batch_size=options.batch_size,
            compute=ray.data.ActorPoolStrategy(
                size=workers, max_tasks_in_flight_per_actor=TASKS_IN_FLIGHT_PER_ACTOR
            ),
            num_gpus=gpus,
            num_cpus=how.threads if not gpus else 0.5,
        )
        tmp = None
        shard_dir = options.shard_dir
        if shard_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="lookalike-shards-")
            shard_dir = Path(tmp.name)
        try:
            # The driver streams the results and writes the shards itself: no write tasks
            # compete with the actors for CPUs, and shards land where the driver runs.
            first_batch = write_shards(ds, Path(shard_dir), n, options.progress, pa, pq)
            result = read_shards(shard_dir, pa, pq)
        finally:
            if tmp is not None:
                tmp.cleanup()
        result.seconds = time.perf_counter() - started
        result.timings = {
            "ray_start": ray_start,
            "first_batch": first_batch - started if first_batch is not None else result.seconds,
            "pipeline": result.seconds,
        }
        return result
    finally:
        if started_ray:
            ray.shutdown()


def write_shards(ds, shard_dir: Path, total: int, progress: bool, pa, pq) -> float | None:
    """Stream a dataset of encoded batches into ``shard_dir/part-NNNNN.parquet``.

    Returns:
        When (``time.perf_counter()``) the first batch arrived; None when none did.
    """
    first = None
    from tqdm.auto import tqdm

    shard_dir.mkdir(parents=True, exist_ok=True)
    for old in shard_dir.glob("part-*.parquet"):
        old.unlink()
    with tqdm(total=total, desc="encoding on Ray", unit="img", disable=not progress) as bar:
        for number, batch in enumerate(ds.iter_batches(batch_size=None, batch_format="numpy")):
            if first is None:
                first = time.perf_counter()
            vectors = np.asarray(batch["embedding"], dtype=np.float32)
            table = pa.table(
                {
                    "row": pa.array(np.asarray(batch["row"], dtype=np.int64)),
                    "embedding": pa.FixedSizeListArray.from_arrays(
                        pa.array(vectors.reshape(-1)), vectors.shape[1]
                    ),
                    "sha256": pa.array([str(h) for h in batch["sha256"]], pa.string()),
                    "error": pa.array([str(e) for e in batch["error"]], pa.string()),
                }
            )
            final = shard_dir / f"part-{number:05d}.parquet"
            tmp = shard_dir / f".{final.name}.tmp"
            pq.write_table(table, tmp)
            tmp.replace(final)
            bar.update(len(vectors))
    return first


def read_shards(shard_dir: Path, pa=None, pq=None) -> EncodedCatalog:
    """Read the Parquet shards of a Ray encode back, sorted by catalog row."""
    pa = pa or require("pyarrow", "ray")
    pq = pq or require("pyarrow.parquet", "ray")
    files = sorted(Path(shard_dir).glob("part-*.parquet"))
    if not files:
        raise ValueError(f"the Ray encode wrote no shards into {shard_dir}")
    table = pa.concat_tables([pq.read_table(f) for f in files])
    rows = table.column("row").to_numpy()
    order = np.argsort(rows, kind="stable")
    rows = rows[order]
    errors = np.asarray(table.column("error").to_pylist(), dtype=object)[order]
    hashes = np.asarray(table.column("sha256").to_pylist(), dtype=object)[order]
    vectors = _embedding_array(table.column("embedding"))[order]
    ok = np.array([not e for e in errors], dtype=bool)
    return EncodedCatalog(
        rows=[int(r) for r in rows[ok]],
        embeddings=np.ascontiguousarray(vectors[ok], dtype=np.float32),
        content_hashes=[str(h) for h in hashes[ok]],
        errors=[(int(r), str(e)) for r, e in zip(rows[~ok], errors[~ok], strict=True)],
    )


def _embedding_array(column) -> np.ndarray:
    """A fixed-size-list Parquet column of vectors -> float32 (n, d)."""
    values = column.combine_chunks()
    if len(values) == 0:
        return np.zeros((0, values.type.list_size), np.float32)
    flat = values.flatten().to_numpy(zero_copy_only=False)
    return np.asarray(flat, dtype=np.float32).reshape(len(values), values.type.list_size)
