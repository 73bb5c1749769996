"""Bounded load test of ``lookalike serve`` on loopback: many concurrent clients, mixed traffic.

Starts the server as a separate process (as in production), then 16 asyncio clients (one
``httpx.AsyncClient`` connection each) send a fixed, seeded plan of requests as fast as the
server answers: photo uploads (``POST /api/recommend``), item lookalikes, browsing pages,
single items, facets and thumbnails, plus - when updates are on - a few catalog adds
(``POST /api/items``) and removes of those added items (``DELETE``). Reported: throughput,
p50/p95/p99 latency (overall and per kind), 5xx and failed requests (transport errors,
timeouts and any unexpected status; the target is zero of both) and the server's resident
memory before and after the run (``VmRSS``/``VmHWM`` from ``/proc/<pid>/status``).

``--hostile SHARE`` mixes in that share of hostile requests (issue 15, see
docs/security.md): deeply nested and surrogate-laden JSON, nested multipart ``filters``, an
ICO holding a 13000x13000 PNG, gzip bodies, a body without its closing boundary, a 5,000-
character file name, lookalike ids (``1636\u200b``, ``\u202eevil``), a 10 KB unknown id,
and large-but-legal photos (12 MP) that exercise the decode memory budget. Each must get a
4xx with the JSON error shape (large photos: 200, or 503 ``busy`` when the budget is full);
any 5xx or other answer counts as failed, and the run ends with the bundle checked
(``lookalike check`` clean, no orphaned files).

With updates (the default when the bench starts the server) the server runs on a scratch
copy of the bundle's live version (hard links, so it costs no disk) with a random API key:
the bundle given is never modified.

Usage:

    python bench/load.py --bundle bundles/demo-hybrid              # 2 x 5,000 requests, 16 clients
    python bench/load.py --bundle /tmp/tiny -n 300                 # smoke run
    python bench/load.py --bundle B --no-updates                   # read-only traffic
    python bench/load.py --url http://127.0.0.1:8000 --bundle B --pid 1234 \\
        [--api-key-env LOOKALIKE_API_KEY]                          # a running server

Results are printed and written as JSON to ``bench/results/load.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import json
import os
import secrets
import shutil
import struct
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image, ImageDraw

from lookalike.bundle import (
    CURRENT,
    VERSIONS,
    check_bundle,
    current_version_dir,
    find_orphans,
    read_bundle,
)
from lookalike.server.testing import ServerStartError, start_server, stop_server

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from common import (  # noqa: E402
    format_table,
    load_warning,
    machine_info,
    percentiles,
    write_json,
)

DEFAULT_OUT = BENCH_DIR / "results" / "load.json"
#: Share of each request kind in the plan (adds/removes only with updates on).
MIX = {
    "similar": 0.30,
    "upload": 0.20,
    "browse": 0.20,
    "item": 0.10,
    "facets": 0.05,
    "thumbnail": 0.11,
    "add": 0.02,
    "remove": 0.02,
}
EXPECTED_STATUS = {"add": 201}  # every other kind: 200
UPLOAD_POOL = 16
#: The hostile requests, in turn (name -> how it is sent; see hostile_request).
HOSTILE = (
    "deep-json",
    "surrogate-json",
    "deep-multipart-filters",
    "ico-bomb",
    "gzip-body",
    "no-closing-boundary",
    "long-filename",
    "zero-width-id",
    "bidi-id",
    "huge-unknown-id",
    "large-photo",
    "large-photo",
)


@dataclass
class Sample:
    """One request's outcome."""

    kind: str
    status: int  # 0 when no response came back
    ms: float
    error: str | None = None
    ok: bool | None = None  # set by hostile requests (their own expectation)


# --- the server ---------------------------------------------------------------------------------
def scratch_bundle(bundle: Path, target: Path) -> Path:
    """A private bundle holding only ``bundle``'s live version, as hard links (a copy where
    links are impossible); updates then never touch the original's files."""
    live = current_version_dir(bundle)

    def link(source: str, dest: str) -> None:
        try:
            os.link(source, dest)
        except OSError:
            shutil.copy2(source, dest)

    shutil.copytree(live, target / VERSIONS / live.name, copy_function=link)
    (target / CURRENT).write_text(live.name + "\n")
    return target


def memory_kb(pid: int | None) -> dict[str, int | None]:
    """VmRSS (resident now) and VmHWM (peak resident) of ``pid`` in kB, from /proc."""
    out: dict[str, int | None] = {"VmRSS": None, "VmHWM": None}
    if pid is None:
        return out
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in out:
                out[key] = int(value.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


# --- the clients --------------------------------------------------------------------------------
def plan(n: int, seed: int, updates: bool, hostile: float = 0.0) -> list[str]:
    """The request kinds, in order, drawn from MIX (plus ``hostile`` of hostile requests)
    with ``seed``."""
    mix = {k: v * (1 - hostile) for k, v in MIX.items()}
    if hostile:
        mix["hostile"] = hostile
    kinds = [k for k in mix if updates or k not in ("add", "remove")]
    weights = np.array([mix[k] for k in kinds])
    rng = np.random.default_rng(seed)
    return [str(k) for k in rng.choice(kinds, size=n, p=weights / weights.sum())]


def upload_pool(paths: list[str], count: int = UPLOAD_POOL) -> list[bytes]:
    """Photos to upload: catalog images re-encoded as JPEG (synthetic ones if unreadable)."""
    photos = []
    for path in paths[:: max(1, len(paths) // count)][:count]:
        try:
            with Image.open(path) as image:
                buffer = io.BytesIO()
                image.convert("RGB").save(buffer, "JPEG", quality=90)
                photos.append(buffer.getvalue())
        except OSError:
            continue
    while len(photos) < 2:
        image = Image.new("RGB", (200, 240), "white")
        ImageDraw.Draw(image).ellipse([40, 40, 160, 200], fill=(30 * len(photos), 80, 160))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        photos.append(buffer.getvalue())
    return photos


def _png(width: int, height: int, declared: tuple[int, int] | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.new("1" if declared else "RGB", (width, height), 1).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    if declared is not None:
        data[16:24] = struct.pack(">II", *declared)
        data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def hostile_payloads() -> dict[str, bytes]:
    """The bodies the hostile requests send (made once)."""
    bomb = _png(1, 1, declared=(13000, 13000))
    entry = struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(bomb), 22)
    big = Image.new("RGB", (4000, 3000), (200, 200, 200))
    ImageDraw.Draw(big).ellipse([800, 500, 3200, 2500], fill=(30, 60, 160))
    buffer = io.BytesIO()
    big.save(buffer, "JPEG", quality=70)
    return {"ico": struct.pack("<HHH", 0, 1, 1) + entry + bomb, "large": buffer.getvalue()}


async def hostile_request(
    client: httpx.AsyncClient,
    name: str,
    item: str,
    photo: bytes,
    payloads: dict[str, bytes],
    headers: dict[str, str],
) -> tuple[httpx.Response, bool]:
    """Send hostile request ``name``; returns (response, whether it got what it should:
    a 4xx with the JSON error shape, or for a large photo 200 or a JSON 503)."""
    boundary = "hostileboundary"
    form = f"multipart/form-data; boundary={boundary}"

    def part(field: str, data: bytes, filename: str | None = None) -> bytes:
        extra = f'; filename="{filename}"\r\nContent-Type: image/jpeg' if filename else ""
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"{extra}\r\n\r\n'
        return head.encode() + data + b"\r\n"

    close = f"--{boundary}--\r\n".encode()
    json_type = {"Content-Type": "application/json"}
    profile = "/api/recommend/profile"
    if name == "deep-json":
        r = await client.post(profile, content="[" * 1000 + "]" * 1000, headers=json_type)
    elif name == "surrogate-json":
        body = json.dumps({"liked": [item], "filters": {"Colour": ["\udfff"]}})
        r = await client.post(profile, content=body, headers=json_type)
    elif name == "deep-multipart-filters":
        body = part("liked", item.encode()) + part("filters", b"[" * 1000 + b"]" * 1000) + close
        r = await client.post(profile, content=body, headers={"Content-Type": form})
    elif name == "ico-bomb":
        files = {"image": ("bomb.ico", payloads["ico"], "image/x-icon")}
        r = await client.post("/api/recommend", files=files)
    elif name == "gzip-body":
        body = gzip.compress(json.dumps({"liked": [item]}).encode())
        r = await client.post(
            profile, content=body, headers={**json_type, "Content-Encoding": "gzip"}
        )
    elif name == "no-closing-boundary":
        body = part("image", photo, "cut.jpg")
        r = await client.post("/api/recommend", content=body, headers={"Content-Type": form})
    elif name == "long-filename":
        files = {"image": ("a" * 5000 + ".jpg", photo, "image/jpeg")}
        r = await client.post("/api/recommend", files=files)
        await r.aread()
        return r, r.status_code == 200
    elif name in ("zero-width-id", "bidi-id"):
        new_id = f"{item}\u200b" if name == "zero-width-id" else f"\u202e{item}"
        files = {"image": ("x.jpg", photo, "image/jpeg")}
        r = await client.post("/api/items", files=files, data={"id": new_id}, headers=headers)
    elif name == "huge-unknown-id":
        r = await client.get(f"/api/items/{'z' * 10_000}/similar")
    else:  # large-photo: 12 MP, legal
        files = {"image": ("large.jpg", payloads["large"], "image/jpeg")}
        r = await client.post("/api/recommend", files=files)
        await r.aread()
        busy = r.status_code == 503 and _json_error(r)
        return r, r.status_code == 200 or busy
    await r.aread()
    return r, 400 <= r.status_code < 500 and _json_error(r)


def _json_error(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and {"error", "detail"} <= set(body)


async def run_load(
    url: str,
    kinds: list[str],
    ids: list[str],
    photos: list[bytes],
    *,
    concurrency: int = 16,
    api_key: str | None = None,
    timeout: float = 60.0,
    seed: int = 0,
    payloads: dict[str, bytes] | None = None,
) -> tuple[list[Sample], float]:
    """Send ``kinds`` from ``concurrency`` clients; returns (samples, wall seconds).

    Lookalike and item requests only use ``ids`` (catalog items that are never removed);
    removes only delete items this run added, so every request has one right answer.
    """
    rng = np.random.default_rng(seed + 1)
    picks = rng.integers(0, 2**31, size=len(kinds))
    queue = iter(enumerate(kinds))
    added: list[str] = []
    samples: list[Sample] = []
    headers = {"X-API-Key": api_key} if api_key else {}

    async def send(client: httpx.AsyncClient, n: int, kind: str) -> Sample:
        pick = int(picks[n])
        item = ids[pick % len(ids)]
        photo = photos[pick % len(photos)]
        if kind == "remove" and not added:
            kind = "browse"  # nothing of ours to remove yet
        started = time.perf_counter()
        try:
            if kind == "similar":
                response = await client.get(f"/api/items/{item}/similar", params={"k": 10})
            elif kind == "upload":
                files = {"image": ("query.jpg", photo, "image/jpeg")}
                response = await client.post("/api/recommend?k=10", files=files)
            elif kind == "browse":
                params = {"offset": pick % max(1, len(ids)), "limit": 24, "random": pick % 1000}
                response = await client.get("/api/items", params=params)
            elif kind == "item":
                response = await client.get(f"/api/items/{item}")
            elif kind == "facets":
                response = await client.get("/api/facets")
            elif kind == "thumbnail":
                response = await client.get(f"/api/items/{item}/thumbnail")
            elif kind == "hostile":
                name = HOSTILE[n % len(HOSTILE)]
                response, ok = await hostile_request(
                    client, name, item, photo, payloads or hostile_payloads(), headers
                )
                ms = (time.perf_counter() - started) * 1000
                return Sample(f"hostile:{name}", response.status_code, ms, ok=ok)
            elif kind == "add":
                new_id = f"load-{seed}-{n}"
                files = {"image": (f"{new_id}.jpg", photo, "image/jpeg")}
                data = {"id": new_id, "Source": "load-test"}
                response = await client.post("/api/items", files=files, data=data, headers=headers)
                if response.status_code == 201:
                    added.append(new_id)
            else:  # remove one of ours
                victim = added.pop(pick % len(added))
                response = await client.delete(f"/api/items/{victim}", headers=headers)
            await response.aread()
            ms = (time.perf_counter() - started) * 1000
            return Sample(kind, response.status_code, ms)
        except httpx.HTTPError as exc:
            ms = (time.perf_counter() - started) * 1000
            return Sample(kind, 0, ms, f"{type(exc).__name__}: {exc}"[:200])

    async def worker(client: httpx.AsyncClient) -> None:
        for n, kind in queue:  # shared iterator: each request goes to one free client
            samples.append(await send(client, n, kind))

    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [
        httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) for _ in range(concurrency)
    ]
    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker(client) for client in clients))
    finally:
        for client in clients:
            await client.aclose()
    return samples, time.perf_counter() - started


def latency(values: list[float]) -> dict[str, float | None]:
    """p50/p95/p99/max in ms (None without values)."""
    stats = percentiles(values)
    return {key: stats[key] for key in ("p50", "p95", "p99", "max")}


def summarize(samples: list[Sample], wall: float) -> dict[str, Any]:
    """Counts, throughput, latency and errors of a run."""

    def unexpected(s: Sample) -> bool:
        if s.ok is not None:
            return not s.ok
        return s.status != EXPECTED_STATUS.get(s.kind, 200)

    per_kind = {}
    for kind in sorted({s.kind for s in samples}):
        mine = [s for s in samples if s.kind == kind]
        per_kind[kind] = {
            "requests": len(mine),
            "unexpected": sum(map(unexpected, mine)),
            **latency([s.ms for s in mine]),
        }
    statuses: dict[str, int] = {}
    for s in samples:
        statuses[str(s.status)] = statuses.get(str(s.status), 0) + 1
    failures = [s for s in samples if unexpected(s)]
    return {
        "requests": len(samples),
        "wall_s": round(wall, 2),
        "throughput_rps": round(len(samples) / wall, 1) if wall else None,
        "latency_ms": latency([s.ms for s in samples]),
        "status_counts": statuses,
        "server_errors_5xx": sum(1 for s in samples if s.status >= 500),
        "failed_requests": len(failures),
        "failure_examples": [f"{s.kind}: {s.status} {s.error or ''}".strip() for s in failures][
            :10
        ],
        "per_kind": per_kind,
    }


def measure(
    url: str,
    bundle: Path,
    *,
    requests: int,
    concurrency: int,
    pid: int | None,
    api_key: str | None,
    seed: int = 0,
    warmup: int = 20,
    rounds: int = 1,
    hostile: float = 0.0,
) -> dict[str, Any]:
    """Warm up, then run the plan ``rounds`` times against ``url``; the summary includes
    server memory after each round.

    Memory that only fills caches and allocator pools grows in the first round and then
    levels off; a leak grows by about the same amount every round, so the growth of the
    last round (``server_rss_mb.last_round_growth``) is the number to watch.
    """
    items = read_bundle(bundle).items
    ids = list(items.ids)
    photos = upload_pool(list(items.paths))
    updates = api_key is not None
    payloads = hostile_payloads() if hostile else None
    warm = plan(warmup, seed + 7, updates=False)
    asyncio.run(run_load(url, warm, ids, photos, concurrency=min(4, concurrency), seed=seed))
    before = memory_kb(pid)
    samples, wall, after_rounds = [], 0.0, []
    for round_ in range(rounds):
        # Each round adds items under its own ids: a later round never re-adds an id an
        # earlier one left in the catalog.
        round_seed = seed + 1000 * round_
        got, took = asyncio.run(
            run_load(
                url,
                plan(requests, round_seed, updates, hostile),
                ids,
                photos,
                concurrency=concurrency,
                api_key=api_key,
                seed=round_seed,
                payloads=payloads,
            )
        )
        samples += got
        wall += took
        after_rounds.append(memory_kb(pid))
    after = after_rounds[-1]
    health = httpx.get(f"{url}/healthz", timeout=10).json()
    summary = summarize(samples, wall)
    rss = [before["VmRSS"]] + [m["VmRSS"] for m in after_rounds]
    summary.update(
        {
            "concurrency": concurrency,
            "rounds": rounds,
            "updates": updates,
            "hostile_share": hostile,
            "items_before": len(ids),
            "items_after": health.get("items"),
            "bundle_version_after": health.get("bundle_version"),
            "server_rss_mb": {
                "before": _mb(before["VmRSS"]),
                "after": _mb(after["VmRSS"]),
                "after_each_round": [_mb(m["VmRSS"]) for m in after_rounds],
                "peak": _mb(after["VmHWM"]),
                "growth": _mb(rss[-1] - rss[0]) if None not in rss else None,
                "last_round_growth": _mb(rss[-1] - rss[-2]) if None not in rss else None,
            },
        }
    )
    return summary


def _mb(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the load test, print and save the summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, required=True, help="bundle folder to serve")
    parser.add_argument("-n", "--requests", type=int, default=5000, help="timed requests per round")
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="rounds of --requests each; server memory is read after every round",
    )
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument("--seed", type=int, default=0, help="seed of the request plan")
    parser.add_argument(
        "--no-updates", dest="updates", action="store_false", help="no adds/removes"
    )
    parser.add_argument(
        "--hostile",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of hostile requests mixed in, 0..1 (default 0; see docs/security.md)",
    )
    parser.add_argument(
        "--server-args",
        default="",
        help="extra `lookalike serve` options, e.g. '--decode-budget-mb 256'",
    )
    parser.add_argument("--url", help="load this running server instead of starting one")
    parser.add_argument("--pid", type=int, help="with --url: the server's pid, for memory")
    parser.add_argument(
        "--api-key-env", help="with --url: environment variable holding the server's API key"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output file")
    parser.add_argument("--startup-timeout", type=float, default=300, help="seconds")
    args = parser.parse_args(argv)
    if min(args.requests, args.concurrency, args.rounds) < 1:
        parser.error("--requests, --concurrency and --rounds must be >= 1")
    if not 0 <= args.hostile <= 1:
        parser.error("--hostile must be between 0 and 1")

    with tempfile.TemporaryDirectory(prefix="lookalike-load-") as tmp:
        workdir = Path(tmp)
        process = None
        if args.url:
            url, pid = args.url.rstrip("/"), args.pid
            api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
            bundle = args.bundle
        else:
            api_key = secrets.token_urlsafe(24) if args.updates else None
            bundle = scratch_bundle(args.bundle, workdir / "bundle") if api_key else args.bundle
            # The key goes in the environment, never on the command line.
            env = {k: v for k, v in os.environ.items() if k != "LOOKALIKE_API_KEY"}
            if api_key:
                env["LOOKALIKE_API_KEY"] = api_key
            try:
                process, url = start_server(
                    bundle,
                    workdir,
                    *args.server_args.split(),
                    timeout=args.startup_timeout,
                    env=env,
                )
            except ServerStartError as exc:
                raise SystemExit(str(exc)) from None
            pid = process.pid
        try:
            summary = measure(
                url,
                bundle,
                requests=args.requests,
                concurrency=args.concurrency,
                pid=pid,
                api_key=api_key,
                seed=args.seed,
                rounds=args.rounds,
                hostile=args.hostile,
            )
        finally:
            stop_server(process)
        if not args.url:
            # What the run left on disk: a clean bundle, no file that no kept version uses.
            summary["bundle_problems"] = check_bundle(bundle)
            summary["orphaned_files"] = len(find_orphans(bundle).files)

    info = machine_info()
    summary = {"benchmark": "load", "bundle": str(args.bundle), **summary, "machine": info}
    path = write_json(summary, "load", args.out)
    rows = [
        [kind, s["requests"], s["unexpected"], s["p50"], s["p95"], s["p99"], s["max"]]
        for kind, s in summary["per_kind"].items()
    ]
    lat = summary["latency_ms"]
    rows.append(["all", summary["requests"], summary["failed_requests"], lat["p50"], lat["p95"],
                 lat["p99"], lat["max"]])  # fmt: skip
    print(
        format_table(["kind", "requests", "failed", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows)
    )
    rss = summary["server_rss_mb"]
    print(
        f"{summary['requests']} requests from {args.concurrency} clients in {summary['wall_s']}s: "
        f"{summary['throughput_rps']} req/s; 5xx {summary['server_errors_5xx']}, failed "
        f"{summary['failed_requests']}; items {summary['items_before']} -> "
        f"{summary['items_after']}; server RSS {rss['before']} -> "
        f"{' -> '.join(str(m) for m in rss['after_each_round'])} MB after each of "
        f"{summary['rounds']} round(s) (peak {rss['peak']} MB; last round "
        f"{rss['last_round_growth']} MB)"
    )
    if "orphaned_files" in summary:
        print(
            f"bundle after the run: {len(summary['bundle_problems'])} problem(s), "
            f"{summary['orphaned_files']} orphaned file(s)"
        )
    if warning := load_warning(info):
        print(warning)
    print(f"written to {path}")
    clean = not summary.get("bundle_problems") and not summary.get("orphaned_files")
    return 0 if summary["failed_requests"] == 0 and clean else 1


if __name__ == "__main__":
    sys.exit(main())
