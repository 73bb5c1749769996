"""A small run of bench/load.py against a real ``lookalike serve``: concurrent mixed traffic
(uploads, lookalikes, browsing, adds and removes, and a share of hostile requests) must see
no 5xx, no failed request, no runaway memory growth, and leave a clean bundle without
orphaned files."""

from __future__ import annotations

import importlib.util
import secrets
import sys
from pathlib import Path

from lookalike.bundle import check_bundle, find_orphans
from lookalike.server.testing import start_server, stop_server
from tests.server.conftest import server_env

BENCH = Path(__file__).resolve().parents[2] / "bench" / "load.py"
REQUESTS = 300
#: Resident-memory growth allowed over the run (new versions loaded, caches, allocator).
MAX_RSS_GROWTH_MB = 120


def load_bench():
    """bench/load.py as a module (bench/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("lookalike_bench_load", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def test_mixed_concurrent_load_has_no_failures(bundle_copy, tmp_path, monkeypatch, capsys):
    bench = load_bench()
    key = secrets.token_urlsafe(16)
    monkeypatch.setenv("LOOKALIKE_API_KEY", key)  # the server reads it; never on argv
    process, url = start_server(
        bundle_copy, tmp_path, thumbnails=tmp_path / "thumbs", env=server_env()
    )
    try:
        summary = bench.measure(
            url,
            bundle_copy,
            requests=REQUESTS,
            concurrency=16,
            pid=process.pid,
            api_key=key,
            hostile=0.15,
        )
    finally:
        stop_server(process)
    log = (tmp_path / "server.log").read_text(errors="replace")
    assert summary["requests"] == REQUESTS
    assert summary["server_errors_5xx"] == 0, (summary["failure_examples"], log[-3000:])
    assert summary["failed_requests"] == 0, (summary["failure_examples"], log[-3000:])
    kinds = summary["per_kind"]
    assert {"similar", "upload", "browse", "add", "remove"} <= set(kinds)
    assert sum(k.startswith("hostile:") for k in kinds) >= 8, kinds
    assert check_bundle(bundle_copy) == [] and find_orphans(bundle_copy).files == []
    # Every add and remove went through, and the server serves the result.
    expected = 24 + kinds["add"]["requests"] - kinds["remove"]["requests"]
    assert summary["items_after"] == expected
    rss = summary["server_rss_mb"]
    assert rss["before"] and rss["growth"] < MAX_RSS_GROWTH_MB, rss
    assert "Traceback" not in log
    with capsys.disabled():
        lat = summary["latency_ms"]
        print(
            f"\nload: {REQUESTS} requests, 16 clients, {summary['throughput_rps']} req/s, "
            f"p50 {lat['p50']} ms, p99 {lat['p99']} ms, 5xx 0, failed 0, "
            f"RSS {rss['before']} -> {rss['after']} MB"
        )
