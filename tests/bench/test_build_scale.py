"""bench/build_scale.py without a build: the catalog maker (distinct, seeded variants of the
source photos with their labels, a prefix of a larger catalog for a smaller N), the stage
table it reads from bench/stage_hooks.py's log, and the hooks themselves."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from lookalike.catalog import read_catalog
from tests.conftest import make_catalog
from tests.tolerances import approx

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(name: str):
    """A bench script as a module (bench/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"lookalike_bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return load("build_scale")


@pytest.fixture(scope="module")
def sources(bench, tmp_path_factory):
    """12 labelled source photos (3 shapes x 4 colours)."""
    return bench.catalog_sources(make_catalog(tmp_path_factory.mktemp("src"), variants=1))


def _table(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _photos(catalog: Path) -> list[Path]:
    return sorted((catalog / "images").rglob("*.jpg"))


def test_the_catalog_maker_writes_distinct_labelled_variants(bench, sources, tmp_path):
    catalog = bench.make_catalog(sources, 25, tmp_path / "data", ["test"], seed=0, jobs=1)

    photos = _photos(catalog)
    assert len(photos) == 25
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in photos}
    originals = {hashlib.sha256(s.path.read_bytes()).hexdigest() for s in sources}
    assert len(digests) == 25 and not digests & originals  # all distinct, none a source
    for photo in photos:
        with Image.open(photo) as image:
            assert image.format == "JPEG" and min(image.size) >= 8
    # Every source is used once before any twice (25 photos from 12 sources: 3, 2, 2, ...).
    by_key = {s.key: s for s in sources}
    origins = _table(catalog / "sources.csv")
    used = [row["source"] for row in origins]
    assert set(used[:12]) == set(by_key) and max(used.count(k) for k in by_key) == 3
    # fashion.csv carries the source photo's labels; the catalog reads as 25 labelled items.
    rows = {row["ProductId"]: row for row in _table(catalog / "fashion.csv")}
    assert len(rows) == 25
    for origin in origins:
        source = by_key[origin["source"]]
        row = rows[origin["ProductId"]]
        assert {c: row[c] for c in bench.COLUMNS} == source.labels
        assert source.labels["ProductType"] and source.labels["Colour"]
    items = read_catalog(catalog).items
    assert len(items) == 25 and not read_catalog(catalog).problems
    assert all(item.metadata["ProductType"] == rows[item.id]["ProductType"] for item in items)


def test_the_catalog_maker_is_seeded_and_a_smaller_n_is_a_prefix(bench, sources, tmp_path):
    large = bench.make_catalog(sources, 14, tmp_path / "a", ["test"], seed=3, jobs=1)
    small = bench.make_catalog(sources, 6, tmp_path / "a", ["test"], seed=3, jobs=1)
    again = bench.make_catalog(sources, 6, tmp_path / "b", ["test"], seed=3, jobs=1)
    other = bench.make_catalog(sources, 6, tmp_path / "c", ["test"], seed=4, jobs=1)

    small_photos = _photos(small)
    assert [p.name for p in small_photos] == [p.name for p in _photos(large)][:6]
    # The same pool: a smaller N links the larger's first photos, written once.
    assert all(
        p.stat().st_ino == (large / "images" / p.parent.name / p.name).stat().st_ino
        for p in small_photos
    )
    assert [p.read_bytes() for p in _photos(again)] == [p.read_bytes() for p in small_photos]
    assert not {p.read_bytes() for p in _photos(other)} & {p.read_bytes() for p in small_photos}
    # Asked again, the catalog is reused as it is.
    assert bench.make_catalog(sources, 6, tmp_path / "a", ["test"], seed=3, jobs=1) == small


def _event(t: float, event: str, stage: str, peak_mb: float) -> dict:
    return {"t": t, "event": event, "stage": stage, "peak_kb": peak_mb * 1024, "reset": True}


def test_the_stage_table_gives_each_moment_to_its_innermost_stage(bench):
    events = [
        _event(0.0, "start", "run", 10),
        _event(2.0, "start", "decode", 100),  # startup: 0-2 s, peak 100 MB
        _event(3.0, "end", "decode", 300),
        _event(3.5, "start", "fit", 310),  # between stages: other
        _event(4.0, "start", "tuning", 400),
        _event(6.0, "end", "tuning", 900),
        _event(7.0, "end", "fit", 500),
        _event(7.0, "start", "encode", 500),
        _event(9.0, "end", "encode", 600),
        _event(9.5, "start", "index", 200),
        _event(10.0, "end", "index", 250),
        _event(11.0, "end", "run", 700),  # after the index: write
    ]
    samples = [(1.0, 50_000, 0), (5.0, 950_000, 0), (10.5, 800_000, 0)]

    table = bench.stage_table(bench.stage_segments(events, end=11.5), samples)

    seconds = {stage: row["seconds"] for stage, row in table.items()}
    assert seconds == approx(
        {"startup": 2.0, "decode": 1.0, "other": 1.0, "fit": 1.5, "tuning": 2.0,
         "encode": 2.0, "index": 0.5, "write": 1.0, "exit": 0.5}
    )  # fmt: skip
    assert table["tuning"]["peak_rss_mb"] == approx(900.0)
    assert table["fit"]["peak_rss_mb"] == approx(500.0)  # its own moments, not tuning's
    assert table["write"]["peak_rss_mb"] == approx(700.0)
    assert table["tuning"]["sampled_rss_mb"] == approx(950_000 / 1024, rel=1e-3)
    assert table["write"]["sampled_rss_mb"] == approx(800_000 / 1024, rel=1e-3)
    # After the command returned nothing reports a peak; no sample fell in the decode.
    assert table["exit"]["peak_rss_mb"] is None and table["decode"]["sampled_rss_mb"] is None


def test_stage_hooks_time_functions_and_class_methods_and_name_what_is_gone(monkeypatch):
    hooks = load("stage_hooks")
    log = io.StringIO()
    monkeypatch.setattr(hooks, "LOG", log)
    # Reading the real peak would reset this test process's VmHWM: a stand-in.
    monkeypatch.setattr(hooks, "peak_kb", lambda: (1234, True))
    module = type(sys)("lookalike_bench_fake_stage")

    class Encoder:
        @classmethod
        def fit(cls, value):
            return ("fitted", cls.__name__, value)

    module.encode = lambda value: value * 2
    module.Encoder = Encoder
    monkeypatch.setitem(sys.modules, module.__name__, module)

    hooks.hook(module.__name__, "encode", "encode")
    hooks.hook(module.__name__, "Encoder.fit", "fit")
    hooks.hook(module.__name__, "gone", "index")

    assert module.encode(4) == 8
    assert module.Encoder.fit(1) == ("fitted", "Encoder", 1)
    events = [json.loads(line) for line in log.getvalue().splitlines()]
    assert [(e["event"], e["stage"]) for e in events] == [
        ("missing", f"index: {module.__name__}.gone"),
        ("start", "encode"), ("end", "encode"), ("start", "fit"), ("end", "fit"),
    ]  # fmt: skip
    assert all(e["peak_kb"] == 1234 and e["reset"] for e in events)
