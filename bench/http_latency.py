"""End-to-end HTTP latency of ``POST /api/recommend``: upload -> decode -> encode -> search -> JSON.

Starts ``lookalike serve`` on a free loopback port (a separate process, as in production),
sends one 400 px JPEG N times over a keep-alive connection and reports client-side latency
percentiles plus the server's own ``took_ms`` (model + search, without HTTP and upload), and
the round trip of ``GET /healthz`` (what any request costs: sockets, HTTP parsing, middleware).

Two clients (``--client``): ``raw`` (default; ``http.client`` with the multipart body encoded
once, as a browser's native upload costs next to nothing) and ``httpx`` (a Python HTTP library
that itself adds ~1.2 ms a request here: multipart encoding, cookies, its own parsing);
``--client both`` alternates the two request by request, side by side.

Usage:

    python bench/http_latency.py --bundle bundles/demo-hybrid              # 200 requests
    python bench/http_latency.py --bundle /tmp/tiny -n 20                  # smoke run
    python bench/http_latency.py --bundle B --concurrency 4 --filter Gender=Women
    python bench/http_latency.py --url http://127.0.0.1:8000 --bundle B    # running server

The query image is the first catalog item's photo scaled to 400 px on its long side
(``--image`` to choose one; a synthetic photo if the catalog is not readable). Results are
printed and written as JSON to ``bench/results/http_latency.json``.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
from PIL import Image, ImageDraw

from lookalike.bundle import read_bundle
from lookalike.server.testing import ServerStartError, start_server, stop_server

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import percentiles  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "http_latency.json"
SIDE = 400


def query_jpeg(bundle: Path, image: Path | None) -> tuple[bytes, str]:
    """A 400 px JPEG to upload and a description of where it came from."""
    source = image
    if source is None:
        try:
            source = Path(read_bundle(bundle).items.paths[0])
        except (ValueError, IndexError, OSError):
            source = None
    try:
        if source is None:
            raise OSError("no catalog image")
        photo = Image.open(source).convert("RGB")
        origin = str(source)
    except OSError:
        photo = Image.new("RGB", (SIDE, SIDE), "white")
        ImageDraw.Draw(photo).ellipse([60, 60, SIDE - 60, SIDE - 60], fill=(200, 40, 40))
        origin = "synthetic"
    # Long side exactly 400 px: small catalog images are scaled up so decoding costs what a
    # typical phone-photo thumbnail would.
    scale = SIDE / max(photo.size)
    photo = photo.resize((max(1, round(photo.width * scale)), max(1, round(photo.height * scale))))
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=90)
    return buffer.getvalue(), f"{origin} ({photo.width}x{photo.height})"


CLIENTS = ("raw", "httpx")
BOUNDARY = "lookalike-bench-boundary"


def multipart_body(jpeg: bytes) -> bytes:
    """The ``image`` form field as a ``multipart/form-data`` body (:data:`BOUNDARY`)."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; '
        'filename="query.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
    )
    return head.encode() + jpeg + f"\r\n--{BOUNDARY}--\r\n".encode()


def make_sender(kind: str, url: str, jpeg: bytes, query: list[tuple[str, str]]):
    """(send, close): ``send()`` posts the photo once over one keep-alive connection and
    returns (client ms, server took_ms); ``kind`` is one of :data:`CLIENTS`."""
    if kind == "httpx":
        client = httpx.Client(timeout=120)

        def send_httpx() -> tuple[float, float]:
            started = time.perf_counter()
            response = client.post(
                f"{url}/api/recommend",
                params=query,
                files={"image": ("query.jpg", jpeg, "image/jpeg")},
            )
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise SystemExit(f"request failed: {response.status_code} {response.text[:300]}")
            return elapsed, float(response.json()["took_ms"])

        return send_httpx, client.close
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    path = f"{parts.path}/api/recommend?{urlencode(query)}"
    body = multipart_body(jpeg)
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}

    def send_raw() -> tuple[float, float]:
        started = time.perf_counter()
        connection.request("POST", path, body, headers)
        response = connection.getresponse()
        data = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise SystemExit(f"request failed: {response.status} {data[:300]!r}")
        return elapsed, float(json.loads(data)["took_ms"])

    return send_raw, connection.close


def healthz_ms(url: str, n: int = 100) -> list[float]:
    """Round trips of ``GET /healthz`` over one keep-alive connection (after 5 untimed)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    times = []
    try:
        for i in range(n + 5):
            started = time.perf_counter()
            connection.request("GET", f"{parts.path}/healthz")
            connection.getresponse().read()
            if i >= 5:
                times.append((time.perf_counter() - started) * 1000)
    finally:
        connection.close()
    return times


def run(
    url: str,
    jpeg: bytes,
    n: int,
    k: int,
    params: list[tuple[str, str]],
    concurrency: int,
    warmup: int,
    clients: tuple[str, ...] = ("raw",),
) -> dict[str, tuple[list[float], list[float], float]]:
    """Send the requests with each client kind (alternating request by request when there
    are several); per kind (client ms per request, server took_ms, wall seconds)."""
    query = [("k", str(k)), *params]
    senders: dict[str, list[tuple[Callable, Callable]]] = {
        kind: [make_sender(kind, url, jpeg, query) for _ in range(concurrency)] for kind in clients
    }
    out = {}
    try:
        for kind in clients:
            for _ in range(warmup):  # first calls pay for lazy init (threads, caches)
                senders[kind][0][0]()
        results: dict[str, list] = {kind: [] for kind in clients}
        walls = dict.fromkeys(clients, 0.0)
        with ThreadPoolExecutor(concurrency) as pool:
            for start in range(0, n, concurrency):
                for kind, pairs in senders.items():
                    sends = [send for send, _ in pairs[: min(concurrency, n - start)]]
                    started = time.perf_counter()
                    results[kind].extend(pool.map(lambda send: send(), sends))
                    walls[kind] += time.perf_counter() - started
        for kind in clients:
            out[kind] = ([r[0] for r in results[kind]], [r[1] for r in results[kind]], walls[kind])
    finally:
        for pairs in senders.values():
            for _, close in pairs:
                close()
    return out


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the benchmark, print and save the summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, required=True, help="bundle folder to serve")
    parser.add_argument("-n", "--requests", type=int, default=200, help="timed requests")
    parser.add_argument("-k", type=int, default=10, help="results per request")
    parser.add_argument("--concurrency", type=int, default=1, help="parallel clients")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests first")
    parser.add_argument("--image", type=Path, help="query photo (default: first catalog item)")
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="COLUMN=VALUE",
        help="metadata filter sent with every request (repeatable)",
    )
    parser.add_argument(
        "--client",
        choices=[*CLIENTS, "both"],
        default="raw",
        help="HTTP client: raw http.client (default), httpx, or both alternating",
    )
    parser.add_argument("--url", help="benchmark this running server instead of starting one")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output file")
    parser.add_argument("--startup-timeout", type=float, default=300, help="seconds")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.concurrency < 1 or args.warmup < 0:
        parser.error("--requests and --concurrency must be >= 1, --warmup >= 0")
    params = []
    for pair in args.filter:
        column, sep, value = pair.partition("=")
        if not sep:
            parser.error(f"--filter must look like COLUMN=VALUE, got {pair!r}")
        params.append((column, value))

    jpeg, origin = query_jpeg(args.bundle, args.image)
    with tempfile.TemporaryDirectory(prefix="lookalike-bench-") as tmp:
        process = None
        started = time.perf_counter()
        if args.url:
            url = args.url.rstrip("/")
        else:
            try:
                process, url = start_server(args.bundle, tmp, timeout=args.startup_timeout)
            except ServerStartError as exc:
                raise SystemExit(str(exc)) from None
        startup_s = time.perf_counter() - started
        try:
            health = httpx.get(f"{url}/healthz", timeout=10).json()
            kinds = CLIENTS if args.client == "both" else (args.client,)
            measured = run(
                url, jpeg, args.requests, args.k, params, args.concurrency, args.warmup, kinds
            )
            floor = healthz_ms(url)
        finally:
            stop_server(process)

    summary = {
        "benchmark": "http_latency",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "bundle": str(args.bundle),
        "bundle_version": health.get("bundle_version"),
        "items": health.get("items"),
        "encoder": health.get("encoder"),
        "requests": args.requests,
        "warmup": args.warmup,
        "concurrency": args.concurrency,
        "k": args.k,
        "filters": args.filter,
        "image": origin,
        "image_bytes": len(jpeg),
        "server_started_by_bench": process is not None,
        "startup_s": round(startup_s, 2) if process is not None else None,
        "client": kinds[0],
        "client_ms": percentiles(measured[kinds[0]][0]),
        "server_took_ms": percentiles(measured[kinds[0]][1]),
        "throughput_rps": round(args.requests / measured[kinds[0]][2], 2),
        "healthz_ms": percentiles(floor),
        "clients": {
            kind: {
                "client_ms": percentiles(c),
                "server_took_ms": percentiles(s),
                "throughput_rps": round(args.requests / wall, 2),
            }
            for kind, (c, s, wall) in measured.items()
        },
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"{summary['items']} items, encoder {summary['encoder']}, {args.requests} requests, "
        f"concurrency {args.concurrency}, k={args.k}, image {origin}, {len(jpeg)} bytes"
    )
    for kind, row in summary["clients"].items():
        c, s = row["client_ms"], row["server_took_ms"]
        print(
            f"{kind:5s} client latency  p50 {c['p50']:.1f} ms  p95 {c['p95']:.1f} ms  "
            f"p99 {c['p99']:.1f} ms | server took_ms p50 {s['p50']:.1f} ms  p95 {s['p95']:.1f} ms"
            f" | {row['throughput_rps']:.1f} req/s"
        )
    print(f"GET /healthz round trip p50 {summary['healthz_ms']['p50']:.2f} ms (the HTTP floor)")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
