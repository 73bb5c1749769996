"""Peak memory of Ray's encoder workers and of the driver during a `--engine ray` encode, at
several catalog sizes: the per-worker bound issue 27 asks the Ray engine to keep.

    flock /tmp/cpu.lock .venv/bin/python bench/ray_memory.py --bundle bundles/arch-s0 \\
        --sizes 500 2906 --workers 2 --batch-size 64

Encodes the first N photos of the bundle's catalog with its saved encoder through
``lookalike.distributed.ray_encode_catalog`` (a local Ray; one actor per worker), sampling
every 0.2 s the resident memory of each Ray worker process (``ray::`` in its command line)
and of this driver. Prints per size the seconds, the largest worker's peak RSS, the sum of
the workers' peaks and the driver's peak; writes ``bench/results/ray_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_info, write_json  # noqa: E402

from lookalike.bundle import current_version_dir, read_bundle  # noqa: E402
from lookalike.distributed import RayOptions, ray_encode_catalog  # noqa: E402


def ray_worker_rss() -> dict[int, int]:
    """Resident bytes of every process whose command line names a Ray worker (``ray::``)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if not cmdline.startswith(b"ray::"):
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    found[int(proc.name)] = int(line.split()[1]) * 1024
        except OSError:
            continue
    return found


class PeakSampler(threading.Thread):
    """Samples the Ray workers' RSS until stopped; keeps each process's peak."""

    def __init__(self, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.interval, self.peaks, self.done = interval, {}, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for pid, rss in ray_worker_rss().items():
                self.peaks[pid] = max(self.peaks.get(pid, 0), rss)
            time.sleep(self.interval)


def main(argv: list[str] | None = None) -> int:
    """Encode the first N photos on a local Ray per size and report the memory peaks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2906])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    data = read_bundle(args.bundle)
    paths = [str(Path(data.config["catalog"]) / p) for p in data.items.paths]
    encoder_dir = current_version_dir(args.bundle) / "encoder"
    size = int(json.loads((encoder_dir / "encoder.json").read_text())["config"]["input_size"])
    rows = []
    for n in args.sizes:
        sampler = PeakSampler()
        sampler.start()
        started = time.perf_counter()
        options = RayOptions(workers=args.workers, batch_size=args.batch_size, progress=False)
        encoded = ray_encode_catalog(encoder_dir, paths[:n], size, options)
        seconds = time.perf_counter() - started
        sampler.done.set()
        sampler.join()
        peaks = sorted(sampler.peaks.values(), reverse=True)
        row = {
            "photos": n,
            "encoded": len(encoded.rows),
            "seconds": round(seconds, 1),
            "largest_worker_peak_mb": round(peaks[0] / 2**20) if peaks else None,
            "workers_sampled": len(peaks),
            "sum_of_worker_peaks_mb": round(sum(peaks) / 2**20),
            "driver_peak_mb_so_far": round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            ),
        }
        rows.append(row)
        print(row, flush=True)
    write_json({"bundle": str(args.bundle), "rows": rows, "machine": machine_info()}, "ray_memory")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
