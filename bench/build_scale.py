"""`lookalike build` at scale (issue 27 item 4): wall time, peak RSS and disk per stage for
realistic catalogs of N photos.

    flock /tmp/cpu.lock .venv/bin/python bench/build_scale.py --sizes 3000 10000 \\
        [--fit-limit 4000] [--set views=2] [--build-arg=--index=flat]

Catalogs: photo i is a seeded variant of a source photo (the reference catalog's and
``shopper-photos``' archive split, each once before any twice): a random crop (70-100% of
the area), a flip, a rotation up to 6 degrees (white corners), mild colour shifts (+-15%:
a label's colour stays that colour) and JPEG recompression at quality 55-95; photos whose
bytes repeat are drawn again, so all are distinct. They are written once under
``--data-dir`` (default /tmp/lookalike-scale): ``pool-*/photos``, and ``pool-*/nN/`` the
catalog of the first N (hard links, ``fashion.csv`` with the source photo's labels,
``sources.csv``); a larger N extends the pool.

Each size is built from nothing (``DATA_DIR/bundles/nN``) by the command line in a child
process, ``bench/stage_hooks.py``, that wraps the build's stage functions (fit-sample
decode, archive, the encoder's fit, the hybrid's backbone views and fusion tuning, encode,
index; after the index: write) to log when each starts and ends with the process's peak
RSS since the last event, so a stage's peak is exact. A thread
samples the process tree's RSS and the bundle folder's size. A hook whose function is gone
is listed in ``hooks_missing`` (its time joins a neighbour). Results merge into
``bench/results/build_scale.json`` (per size and build options, the latest wins);
``--plot`` (default docs/build_scale.png) draws peak RSS and time against N.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, format_table, load_warning, machine_info, write_json  # noqa: E402

from lookalike.catalog import REFERENCE_CATALOG, read_catalog  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REFERENCE_CATALOG.parent
COLUMNS = ["Gender", "Category", "SubCategory", "ProductType", "Colour", "Usage", "ProductTitle"]
SOURCE_NAMES = ("fashion", "shopper")
#: Photos per pool sub-folder (no folder of 100,000 files).
SHARD = 1000
STAGES = (
    "startup",
    "decode",
    "archive",
    "export",
    "views",
    "tuning",
    "head",
    "fit",
    "encode",
    "index",
    "write",
)


@dataclass(frozen=True)
class Source:
    """A source photo and the labels its variants carry (``COLUMNS``; may be empty)."""

    key: str
    path: Path
    labels: dict[str, str]


# --- sources --------------------------------------------------------------------------------
def catalog_sources(root: Path, prefix: str = "fashion") -> list[Source]:
    """Every photo of a catalog folder (``lookalike.catalog.read_catalog``) with its labels."""
    catalog = read_catalog(root)
    return [
        Source(
            f"{prefix}:{item.id}:{n}", Path(path), {c: item.metadata.get(c, "") for c in COLUMNS}
        )
        for item in catalog.items
        for n, path in enumerate(item.photos)
    ]


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def shopper_sources(root: Path) -> list[Source]:
    """``shopper-photos``' ``archive`` split (never ``dev``), labels in the catalog's names."""
    names = dict(zip([c.lower() for c in COLUMNS[:-1]] + ["title"], COLUMNS, strict=True))
    return [
        Source(
            f"shopper:{row['id']}",
            root / "images" / f"{row['id']}.jpg",
            {names[k]: v for k, v in row.items() if k in names},
        )
        for row in _rows(root / "labels.csv")
        if row["split"] == "archive"
    ]


def load_sources(names: list[str], shared: Path = SHARED) -> list[Source]:
    """The source photos of ``names`` (``fashion``: the reference catalog, ``shopper``:
    ``shopper-photos``' archive split), in a fixed order."""
    found: list[Source] = []
    for name in names:
        if name == "fashion":
            found += catalog_sources(shared / "fashion-images")
        else:
            found += shopper_sources(shared / "shopper-photos")
    return [s for s in found if s.path.is_file()]


# --- photos ---------------------------------------------------------------------------------
def vary(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A distinct but realistic variant: crop, flip, small rotation, mild colour shifts."""
    image = image.convert("RGB")
    w, h = image.size
    area, aspect = rng.uniform(0.7, 1.0), np.exp(rng.uniform(-0.1, 0.1))
    cw = max(8, min(w, round(w * np.sqrt(area * aspect))))
    ch = max(8, min(h, round(h * np.sqrt(area / aspect))))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    image = image.crop((x, y, x + cw, y + ch))
    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    image = image.rotate(
        float(rng.uniform(-6, 6)), resample=Image.Resampling.BILINEAR, fillcolor=(255, 255, 255)
    )
    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        image = enhance(image).enhance(float(rng.uniform(0.85, 1.15)))
    gain = rng.uniform(0.95, 1.05, size=3)
    pixels = np.asarray(image, np.float32) * gain
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def make_photo(source: Path, seed: int, index: int, attempt: int = 0) -> bytes:
    """Photo ``index``'s JPEG bytes: a variant of ``source`` drawn from (seed, index, attempt)."""
    rng = np.random.default_rng([seed, index, attempt])
    with Image.open(source) as opened:
        image = vary(opened, rng)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=int(rng.integers(55, 96)))
    return buffer.getvalue()


def pool_dir(data_dir: Path, names: list[str], sources: list[Source], seed: int) -> Path:
    """The pool folder of these sources and seed (another choice: another pool)."""
    digest = hashlib.sha256("\n".join(s.key for s in sources).encode()).hexdigest()[:8]
    return data_dir / f"pool-{'-'.join(names)}-s{seed}-{digest}"


def photo_path(pool: Path, index: int) -> Path:
    return pool / "photos" / f"{index // SHARD:03d}" / f"v{index:06d}.jpg"


def _write_photo(job: tuple[Path, Path, int, int, int]) -> tuple[int, str]:
    """Worker: make one photo, write it atomically; (index, sha256)."""
    source, target, seed, index, attempt = job
    data = make_photo(source, seed, index, attempt)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return index, hashlib.sha256(data).hexdigest()


def source_of(sources: list[Source], seed: int, index: int) -> Source:
    """Photo ``index``'s source: every source once (in a seeded order) before any twice."""
    order = np.random.default_rng(seed).permutation(len(sources))
    return sources[int(order[index % len(sources)])]


def make_catalog(
    sources: list[Source],
    n: int,
    data_dir: Path,
    names: list[str],
    seed: int = 0,
    jobs: int = 1,
) -> Path:
    """The catalog folder of the first ``n`` photos (made once, reused): hard links to the
    pool's photos, ``fashion.csv`` (ProductId, the source's labels, Image) and ``sources.csv``
    (ProductId, source, attempt). Photos are made in ``jobs`` processes; a photo whose bytes
    repeat an earlier one's is drawn again (the next attempt), so all ``n`` are distinct."""
    if not sources:
        raise ValueError("no source photos")
    pool = pool_dir(data_dir, names, sources, seed)
    catalog = pool / f"n{n}"
    if (catalog / "fashion.csv").is_file():
        return catalog
    state_path = pool / "pool.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    hashes: list[str] = state.get("sha256", [])[:n]
    attempts: list[int] = state.get("attempts", [])[: len(hashes)]
    missing = [i for i in range(len(hashes), n)]
    jobs_list = [
        (source_of(sources, seed, i).path, photo_path(pool, i), seed, i, 0) for i in missing
    ]
    if jobs > 1 and len(jobs_list) > 1:
        with Pool(jobs) as workers:
            made = dict(workers.imap_unordered(_write_photo, jobs_list, chunksize=32))
    else:
        made = dict(map(_write_photo, jobs_list))
    seen = set(hashes)
    for i in missing:
        attempt, digest = 0, made[i]
        while digest in seen:
            attempt += 1
            _, digest = _write_photo(
                (source_of(sources, seed, i).path, photo_path(pool, i), seed, i, attempt)
            )
        seen.add(digest)
        hashes.append(digest)
        attempts.append(attempt)
    if len(hashes) > len(state.get("sha256", [])):
        state_path.write_text(json.dumps({"sha256": hashes, "attempts": attempts}))
    tmp = pool / f".n{n}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    rows, origins = [], []
    for i in range(n):
        photo = photo_path(pool, i)
        link = tmp / "images" / photo.parent.name / photo.name
        link.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(photo, link)
        except OSError:
            shutil.copy2(photo, link)
        source = source_of(sources, seed, i)
        rows.append(
            {
                "ProductId": photo.stem,
                **{c: source.labels.get(c, "") for c in COLUMNS},
                "Image": photo.name,
            }
        )
        origins.append({"ProductId": photo.stem, "source": source.key, "attempt": attempts[i]})
    for name, table in (("fashion.csv", rows), ("sources.csv", origins)):
        with open(tmp / name, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(table[0]))
            writer.writeheader()
            writer.writerows(table)
    tmp.replace(catalog)
    return catalog


# --- measuring a build ----------------------------------------------------------------------
#: Runs the command line with the build's stages logged.
STAGE_HOOKS = Path(__file__).resolve().parent / "stage_hooks.py"


def tree_rss_kb(pid: int) -> int:
    """Resident memory (kB) of ``pid`` and its descendants, from /proc (0 once it is gone)."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
        except (OSError, AttributeError):
            pass
        todo += parents.get(current, [])
    return total


def disk_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (hard links counted once)."""
    seen, total = set(), 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                stat = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_size
    return total


def stage_segments(events: list[dict], end: float) -> list[tuple[str, float, float, float | None]]:
    """The build's timeline as (stage, start, end, peak RSS MB) segments between events.

    A moment belongs to the innermost stage open then; outside any stage, to ``startup``
    before the first, ``write`` after ``index``, ``other`` between others and ``exit`` after
    the command returned. An event's ``peak_kb`` is its process's peak since the previous
    event, so it is the peak of the segment it ends (None for the last: unknown)."""
    timed = sorted((e for e in events if e["event"] in ("start", "end")), key=lambda e: e["t"])
    segments = []
    open_stages: list[str] = []
    last_closed = ""
    for before, after in zip(timed, timed[1:] + [{"t": end, "peak_kb": None}], strict=True):
        if before["event"] == "start":
            open_stages.append(before["stage"])
        elif before["stage"] in open_stages:
            open_stages.remove(before["stage"])
            last_closed = before["stage"]
        inner = [s for s in open_stages if s != "run"]
        if inner:
            stage = inner[-1]
        elif "run" not in open_stages:
            stage = "exit" if last_closed else "startup"
        else:
            stage = {"": "startup", "index": "write"}.get(last_closed, "other")
        peak = after.get("peak_kb")
        segments.append((stage, before["t"], after["t"], None if peak is None else peak / 1024))
    return segments


def stage_table(
    segments: list[tuple[str, float, float, float | None]], samples: list[tuple[float, int, int]]
) -> dict[str, dict[str, float | None]]:
    """Per stage: seconds, peak RSS (MB, exact for the build's process) and the largest
    sampled RSS of the whole process tree (MB; Ray's workers included)."""
    table: dict[str, dict[str, Any]] = {}
    for stage, start, stop, peak_mb in segments:
        row = table.setdefault(stage, {"seconds": 0.0, "peak_rss_mb": [], "sampled_rss_mb": []})
        row["seconds"] += stop - start
        row["peak_rss_mb"] += [] if peak_mb is None else [peak_mb]
        row["sampled_rss_mb"] += [kb / 1024 for t, kb, _ in samples if start <= t <= stop]
    return {
        stage: {
            "seconds": round(row["seconds"], 2),
            "peak_rss_mb": round(max(row["peak_rss_mb"]), 1) if row["peak_rss_mb"] else None,
            "sampled_rss_mb": round(max(row["sampled_rss_mb"]), 1)
            if row["sampled_rss_mb"]
            else None,
        }
        for stage, row in table.items()
    }


def run_build(catalog: Path, out: Path, build_args: list[str], interval: float) -> dict[str, Any]:
    """Build ``catalog`` into ``out`` from nothing in a child process and measure it."""
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    log_path = out.parent / f"{out.name}.stages.jsonl"
    output_path = out.parent / f"{out.name}.output.log"
    log_path.unlink(missing_ok=True)
    argv = [sys.executable, str(STAGE_HOOKS), "build", str(catalog), "--out", str(out), *build_args]
    env = {**os.environ, "BUILD_STAGE_LOG": str(log_path), "PYTHONUNBUFFERED": "1"}
    started = time.time()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    samples: list[tuple[float, int, int]] = []  # (time, tree RSS kB, bundle folder bytes)
    done = threading.Event()

    def sample() -> None:
        disk, disk_at = 0, 0.0
        while not done.is_set():
            now = time.time()
            if now - disk_at >= 10 * interval:
                disk, disk_at = disk_bytes(out) if out.exists() else 0, now
            samples.append((now, tree_rss_kb(child.pid), disk))
            done.wait(interval)

    def read_output() -> None:
        with open(output_path, "wb") as log:
            for raw in iter(lambda: child.stdout.read1(65536), b""):
                log.write(raw)

    threads = [
        threading.Thread(target=sample, daemon=True),
        threading.Thread(target=read_output, daemon=True),
    ]
    for thread in threads:
        thread.start()
    child.wait()
    ended = time.time()
    done.set()
    for thread in threads:
        thread.join()
    child.stdout.close()
    output = output_path.read_text(errors="replace")
    if child.returncode != 0:
        raise RuntimeError(f"build failed (exit {child.returncode}):\n{output[-4000:]}")
    events = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    stages = stage_table(stage_segments(events, ended), samples)
    report = _build_report(out)
    lines = [line.strip() for line in re.split(r"[\r\n]+", output) if line.strip()]
    return {
        "seconds": round(ended - started, 2),
        # The stages' peaks cover the run (VmHWM is reset at each event, so the child's own
        # ru_maxrss would hold only the peak after the last reset).
        "peak_rss_mb": max(r["peak_rss_mb"] or 0 for r in stages.values()),
        "sampled_peak_rss_mb": round(max((kb for _, kb, _ in samples), default=0) / 1024, 1),
        "stages": stages,
        "hwm_reset": all(e.get("reset", False) for e in events),
        "hooks_missing": [e["stage"] for e in events if e["event"] == "missing"],
        "peak_disk_mb": round(max((d for *_, d in samples), default=0) / 2**20, 1),
        "disk": disk_breakdown(out),
        "build_report_seconds": report.get("seconds"),
        "fit_images": report.get("fit_images"),
        "output_tail": [line for line in lines if "|" not in line][-12:],
    }


def _build_report(out: Path) -> dict[str, Any]:
    from lookalike.bundle import current_version_dir
    from lookalike.pipeline import read_build_report

    return read_build_report(current_version_dir(out))


def disk_breakdown(out: Path) -> dict[str, int]:
    """Bytes of the bundle's versions and of each entry of its work folder."""
    sizes = {"bundle": disk_bytes(out / "versions")}
    work = out / "work"
    if work.is_dir():
        for entry in sorted(work.iterdir()):
            sizes[f"work/{entry.name}"] = (
                disk_bytes(entry) if entry.is_dir() else entry.stat().st_size
            )
    sizes["total"] = disk_bytes(out)
    return sizes


# --- results --------------------------------------------------------------------------------
def merge_runs(path: Path, runs: list[dict], info: dict) -> dict[str, Any]:
    """The results file's runs with ``runs`` added (the same size and options replaced)."""
    old = json.loads(path.read_text()).get("runs", []) if path.is_file() else []
    keys = {(r["n"], r["options"]) for r in runs}
    kept = [r for r in old if (r["n"], r["options"]) not in keys]
    merged = sorted(kept + runs, key=lambda r: (r["options"], r["n"]))
    return {"machine": info, "runs": merged}


def plot(runs: list[dict], options: str, target: Path) -> Path | None:
    """Peak RSS and time against N (log x) for the runs with these options."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = sorted((r for r in runs if r["options"] == options), key=lambda r: r["n"])
    if not chosen:
        return None
    ns = [r["n"] for r in chosen]

    def series(parts: tuple[str, ...], key: str, scale: float) -> list[float]:
        stages = [r["build"]["stages"] for r in chosen]
        values = [[st.get(p, {}).get(key) or 0 for p in parts] for st in stages]
        return [(sum(v) if key == "seconds" else max(v)) / scale for v in values]

    fig, (rss_ax, time_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    rss_ax.plot(ns, [r["build"]["peak_rss_mb"] / 1024 for r in chosen], "o-k", label="build")
    time_ax.plot(ns, [r["build"]["seconds"] / 60 for r in chosen], "o-k", label="total")
    for label, parts in (
        ("decode + fit", ("decode", "archive", "export", "views", "head", "fit")),
        ("tuning", ("tuning",)),
        ("encode", ("encode",)),
        ("index + write", ("index", "write")),
    ):
        rss_ax.plot(ns, series(parts, "peak_rss_mb", 1024), "o--", label=label)
        time_ax.plot(ns, series(parts, "seconds", 60), "o--", label=label)
    for ax, ylabel in ((rss_ax, "peak RSS (GB)"), (time_ax, "wall time (min)")):
        ax.set_xscale("log")
        ax.set_xticks(ns, [f"{n:,}" for n in ns])
        ax.minorticks_off()
        ax.set_xlabel("photos in the catalog (N)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"lookalike build {options}".strip(), fontsize=9)
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target


def print_run(run: dict) -> None:
    """One size's stages as a table."""
    build, n = run["build"], run["n"]
    rows = [
        [stage, row["seconds"], row["peak_rss_mb"], row["sampled_rss_mb"]]
        for stage in (*STAGES, "other", "exit")
        if (row := build["stages"].get(stage))
    ]
    print(
        f"\nN = {n}: {build['seconds']:.1f} s, peak RSS {build['peak_rss_mb']:.0f} MB, "
        f"disk {build['disk']['total'] / n:.0f} B/photo "
        f"(catalog photos {run['catalog']['bytes_per_photo']:.0f} B/photo)"
    )
    print(format_table(["stage", "seconds", "peak RSS MB", "sampled MB"], rows))
    print(
        format_table(
            ["folder", "MB", "bytes/photo"],
            [[k, v / 2**20, v / n] for k, v in build["disk"].items()],
        )
    )
    if build["hooks_missing"]:
        print(f"hooks missing (their time joins a neighbour): {build['hooks_missing']}")


def main(argv: list[str] | None = None) -> int:
    """Make the catalogs, build each from nothing, record and plot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[3000, 10000, 30000, 100000])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/lookalike-scale"))
    parser.add_argument(
        "--sources", nargs="+", choices=SOURCE_NAMES, default=["fashion", "shopper"]
    )
    parser.add_argument("--shared", type=Path, default=SHARED, help="the shared data folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="processes making photos"
    )
    parser.add_argument("--encoder", help="lookalike build --encoder")
    parser.add_argument("--fit-limit", type=int, help="lookalike build --fit-limit")
    parser.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE")
    parser.add_argument(
        "--build-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="any other build argument (repeat; --build-arg=--index=flat)",
    )
    parser.add_argument("--sample-interval", type=float, default=0.25, help="seconds")
    parser.add_argument("--catalogs-only", action="store_true", help="make catalogs, no build")
    parser.add_argument("--keep-bundles", action="store_true", help="keep each built bundle")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "build_scale.json")
    parser.add_argument(
        "--plot", default=str(REPO / "docs" / "build_scale.png"), help="PNG to draw ('' for none)"
    )
    args = parser.parse_args(argv)
    build_args = [
        *(["--encoder", args.encoder] if args.encoder else []),
        *(["--fit-limit", str(args.fit_limit)] if args.fit_limit else []),
        *[a for s in args.set for a in ("--set", s)],
        *args.build_arg,
    ]
    options = " ".join(build_args)
    info = machine_info()
    if warning := load_warning(info):
        print(warning)
    sources = load_sources(args.sources, args.shared)
    print(f"{len(sources)} source photos ({', '.join(args.sources)})")
    runs = []
    for n in sorted(args.sizes):
        made = time.perf_counter()
        catalog = make_catalog(sources, n, args.data_dir, args.sources, args.seed, args.jobs)
        photo_bytes = disk_bytes(catalog / "images")
        print(f"catalog of {n}: {catalog} ({time.perf_counter() - made:.0f} s)")
        if args.catalogs_only:
            continue
        out = args.data_dir / "bundles" / f"n{n}"
        build = run_build(catalog, out, build_args, args.sample_interval)
        run = {
            "n": n,
            "options": options,
            "sources": args.sources,
            "seed": args.seed,
            "catalog": {"path": str(catalog), "bytes_per_photo": photo_bytes / n},
            "build": build,
            "load_average_1_5_15": os.getloadavg(),
        }
        print_run(run)
        runs.append(run)
        if not args.keep_bundles:
            shutil.rmtree(out, ignore_errors=True)
        # Written after every size: a long series keeps what it measured if stopped.
        payload = merge_runs(args.out, runs, info)
        write_json(payload, "build_scale", args.out)
        if args.plot and (drawn := plot(payload["runs"], options, Path(args.plot))):
            print(f"plot: {drawn}")
    if runs:
        print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
