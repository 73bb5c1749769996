"""lookalike.distributed and the pipeline's encode seam: a Ray build equals an in-process one.

A local Ray (1-2 workers) on the tiny synthetic catalog; the encoder is the tiny CAE that the
session's ``tiny_bundle`` trained, reused so nothing is trained again.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lookalike.bundle import read_bundle
from lookalike.cli import build as cli_build
from lookalike.cli import main
from lookalike.distributed import (
    RayOptions,
    decode_rows,
    plan,
    ray_encode_catalog,
    read_shards,
    start_local_ray,
    with_threads,
)
from lookalike.extras import MissingExtraError, require
from lookalike.pipeline import build_bundle, fit_sample_rows, read_build_report
from tests.conftest import TINY_CAE
from tests.test_pipeline import pretrained_workdir, tiny_config

ray = pytest.importorskip("ray", reason="the Ray extra is not installed")


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray for the module (starting one costs ~10 s), 2 CPUs, start retried."""
    start_local_ray(ray, num_cpus=2)
    yield
    ray.shutdown()


def test_ray_build_equals_the_in_process_build(tiny_catalog, tiny_bundle, tmp_path, ray_local):
    # One unreadable file: both engines must skip and report it the same way.
    catalog = tmp_path / "catalog"
    shutil.copytree(tiny_catalog, catalog)
    (catalog / "Apparel" / "999.jpg").write_bytes(b"not a jpeg")
    local = build_bundle(
        tiny_config(catalog, pretrained_workdir(tiny_bundle, tmp_path / "w1")),
        tmp_path / "local",
        progress=False,
    )
    on_ray = build_bundle(
        tiny_config(catalog, pretrained_workdir(tiny_bundle, tmp_path / "w2")),
        tmp_path / "ray",
        progress=False,
        engine="ray",
        ray=RayOptions(workers=2, batch_size=5, shard_dir=tmp_path / "shards"),
    )
    a, b = read_bundle(local.parent.parent), read_bundle(on_ray.parent.parent)
    assert len(a.items) == 24
    assert b.items.ids == a.items.ids
    assert b.items.paths == a.items.paths
    assert b.items.content_hashes == a.items.content_hashes
    assert b.items.metadata == a.items.metadata
    np.testing.assert_allclose(b.embeddings, a.embeddings, atol=1e-5, rtol=0)
    report_a, report_b = read_build_report(local), read_build_report(on_ray)
    assert report_a["decode_problems"] == report_b["decode_problems"]
    assert len(report_b["decode_problems"]) == 1 and "999.jpg" in report_b["decode_problems"][0]
    assert (report_a["engine"], report_b["engine"]) == ("local", "ray")
    assert len(list((tmp_path / "shards").rglob("*.parquet"))) >= 1


def test_fit_limit_fits_on_the_same_sample_in_both_engines(
    tiny_catalog, tiny_bundle, tmp_path, ray_local, monkeypatch
):
    from lookalike.encoders.cae import CAEEncoder

    trained = CAEEncoder.load(tiny_bundle / "work" / "trained" / "cae")
    seen = []

    def fit(cls, data, config, resume=True):
        seen.append(data.images.copy())
        return trained

    monkeypatch.setattr(CAEEncoder, "fit", classmethod(fit))
    for engine in ("local", "ray"):
        build_bundle(
            tiny_config(tiny_catalog, tmp_path / f"w-{engine}", fit_limit=7),
            tmp_path / engine,
            progress=False,
            engine=engine,
            ray=RayOptions(workers=1),
            reuse_trained=False,
        )
    assert len(seen) == 2 and len(seen[0]) == 7
    np.testing.assert_array_equal(seen[0], seen[1])
    assert read_build_report(read_bundle(tmp_path / "ray").version_dir)["fit_images"] == 7


def test_one_actor_with_two_threads_encodes_as_in_process(tiny_catalog, tiny_bundle, ray_local):
    # The other layout a 2-core machine allows: one actor decoding on 2 threads.
    bundle = read_bundle(tiny_bundle)
    encoded = ray_encode_catalog(
        tiny_bundle / "work" / "trained" / "cae",
        bundle.items.paths,
        TINY_CAE["input_size"],
        RayOptions(workers=1, threads=2, batch_size=7, progress=False),
    )
    assert encoded.rows == list(range(len(bundle.items)))
    assert encoded.content_hashes == bundle.items.content_hashes
    np.testing.assert_allclose(encoded.embeddings, bundle.embeddings, atol=1e-5, rtol=0)
    t = encoded.timings
    assert set(t) == {"ray_start", "first_batch", "pipeline"}
    assert t["ray_start"] == 0  # the module's Ray was running
    assert 0 < t["first_batch"] <= t["pipeline"] == encoded.seconds


def test_plan_shares_the_cpus_among_the_actors():
    two_cores = {"CPU": 2.0}
    assert plan(two_cores, 2, RayOptions()).workers == 2
    assert plan(two_cores, 2, RayOptions()).threads == 1
    assert plan(two_cores, 2, RayOptions(workers=1)).threads == 2
    assert plan(two_cores, 2, RayOptions(workers=1, threads=1)).threads == 1
    # Never more threads than one node has, never fewer than 1.
    assert plan({"CPU": 64.0}, 16, RayOptions(workers=2)).threads == 16
    assert plan({"CPU": 2.0}, 2, RayOptions(workers=8)).threads == 1
    gpu = plan({"CPU": 16.0, "GPU": 2.0}, 16, RayOptions())
    assert (gpu.workers, gpu.gpus, gpu.decode_in_actor, gpu.threads) == (2, 1, False, 1)
    assert plan({"CPU": 16.0, "GPU": 2.0}, 16, RayOptions(device="cpu")).decode_in_actor
    with pytest.raises(ValueError, match="no GPU"):
        plan(two_cores, 2, RayOptions(device="cuda"))
    with pytest.raises(ValueError, match="--threads-per-worker must be >= 1"):
        plan(two_cores, 2, RayOptions(threads=0))
    with pytest.raises(ValueError, match="--workers must be >= 1"):
        plan(two_cores, 2, RayOptions(workers=-1))


def test_cli_threads_per_worker_reaches_the_ray_options(tiny_catalog, tmp_path):
    parser = argparse.ArgumentParser()
    cli_build.add_build_arguments(parser)
    base = [str(tiny_catalog), "--out", str(tmp_path / "b")]
    args = parser.parse_args([*base, "--workers", "1", "--threads-per-worker", "2"])
    ray_options = cli_build.engine_options(args)["ray"]
    assert (ray_options.workers, ray_options.threads) == (1, 2)
    assert cli_build.engine_options(parser.parse_args(base))["ray"].threads is None


def test_with_threads_sets_only_the_encoders_thread_option():
    payload = {"name": "efficientnet-lite0", "config": {"threads": 0, "onnx": True}, "dim": 8}
    files = {"encoder.json": json.dumps(payload).encode(), "backbone.onnx": b"graph"}
    out = with_threads(files, 1)
    assert json.loads(out["encoder.json"])["config"] == {"threads": 1, "onnx": True}
    assert json.loads(out["encoder.json"])["dim"] == 8
    assert out["backbone.onnx"] == b"graph"
    assert json.loads(files["encoder.json"])["config"]["threads"] == 0  # input untouched
    cae = {"encoder.json": json.dumps({"name": "cae", "config": {"code_dim": 4}}).encode()}
    assert with_threads(cae, 1) is cae
    assert with_threads({"weights.npz": b"x"}, 1) == {"weights.npz": b"x"}


def test_decode_rows_on_threads_gives_the_same_batch(tmp_path, tiny_catalog):
    good = sorted((tiny_catalog / "Apparel").glob("*.jpg"))[:5]
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    locations = [str(good[0]), str(bad), *map(str, good[1:]), "/no/such.jpg"]
    batch = {"row": list(range(len(locations))), "location": locations}
    one, three = decode_rows(batch, 16), decode_rows(batch, 16, threads=3)
    for key in ("row", "image", "sha256", "error"):
        np.testing.assert_array_equal(three[key], one[key])
    assert [bool(e) for e in three["error"]] == [False, True, False, False, False, False, True]


def test_fit_sample_rows_are_evenly_spaced_and_capped():
    assert fit_sample_rows(5, None).tolist() == [0, 1, 2, 3, 4]
    assert fit_sample_rows(5, 10).tolist() == [0, 1, 2, 3, 4]
    assert fit_sample_rows(101, 3).tolist() == [0, 50, 100]
    with pytest.raises(ValueError, match="at least 2"):
        fit_sample_rows(5, 1)


def test_decode_rows_reports_bad_files_without_raising(tmp_path, tiny_catalog):
    good = next((tiny_catalog / "Apparel").glob("*.jpg"))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    out = decode_rows({"row": [0, 1, 2], "location": [str(good), str(bad), "/no/such.jpg"]}, 16)
    assert out["image"].shape == (3, 16, 16, 3)
    assert out["error"][0] == "" and out["image"][0].any()
    assert "bad.jpg" in out["error"][1]
    assert "cannot read /no/such.jpg" in out["error"][2]
    assert len(out["sha256"][0]) == 64


def test_read_shards_without_shards_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="wrote no shards"):
        read_shards(tmp_path)


def test_cli_engine_ray_without_ray_says_what_to_install(
    tiny_catalog, tmp_path, monkeypatch, capsys
):
    import lookalike.extras

    def missing(module, extra):
        raise MissingExtraError(f"needs {module}: pip install 'lookalike[{extra}]'")

    monkeypatch.setattr(cli_build, "require", missing)
    code = main(
        [
            "build",
            str(tiny_catalog),
            "--out",
            str(tmp_path / "b"),
            "--encoder",
            "cae",
            "--engine",
            "ray",
            "--quiet",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "pip install 'lookalike[ray]'" in err[0]
    assert lookalike.extras.require("json", "ray") is json


def test_cli_index_milvus_without_pymilvus_says_what_to_install(
    tiny_catalog, tmp_path, monkeypatch, capsys
):
    def missing(module, extra):
        raise MissingExtraError(f"needs {module}: pip install 'lookalike[{extra}]'")

    monkeypatch.setattr(cli_build, "require", missing)
    args = ["build", str(tiny_catalog), "--out", str(tmp_path / "b"), "--index", "milvus"]
    assert main([*args, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'lookalike[milvus]'" in err[0]


def test_require_names_the_extra():
    with pytest.raises(MissingExtraError, match=r"pip install 'lookalike\[milvus\]'"):
        require("no_such_module_for_lookalike", "milvus")


def test_a_manifest_catalog_builds_the_same_items(tiny_catalog, tiny_bundle, tmp_path):
    # The manifest lists the same files (relative paths) and metadata as fashion.csv.
    import csv

    rows = list(csv.DictReader(open(tiny_catalog / "fashion.csv")))
    manifest = tiny_catalog.parent / f"{tiny_catalog.name}-manifest.csv"
    with open(manifest, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["ProductId", "path", *list(rows[0])[1:-1]])
        writer.writeheader()
        for row in rows:
            folder = "Footwear" if row["ProductType"] == "Triangle" else "Apparel"
            image = row.pop("Image")
            writer.writerow({**row, "path": f"{tiny_catalog.name}/{folder}/{image}"})
    version = build_bundle(
        tiny_config(manifest, pretrained_workdir(tiny_bundle, tmp_path / "w")),
        tmp_path / "m",
        progress=False,
    )
    m, ref = read_bundle(version.parent.parent), read_bundle(tiny_bundle)
    assert m.items.ids == ref.items.ids
    assert m.items.metadata == ref.items.metadata
    np.testing.assert_allclose(m.embeddings, ref.embeddings, atol=1e-5)
    assert Path(m.items.paths[0]).is_file()


class _FlakyRay:
    """Stands in for the ``ray`` module: ``init`` fails its first ``failures`` calls."""

    def __init__(self, failures: int):
        self.failures, self.inits, self.shutdowns = failures, 0, 0

    def init(self, **kwargs):
        self.inits += 1
        if self.inits <= self.failures:
            raise Exception("The current node timed out during startup.")

    def shutdown(self):
        self.shutdowns += 1


def test_start_local_ray_retries_a_start_that_timed_out():
    flaky = _FlakyRay(failures=2)
    start_local_ray(flaky, num_cpus=2, attempts=3)
    assert (flaky.inits, flaky.shutdowns) == (3, 2)


def test_start_local_ray_raises_when_every_attempt_fails():
    flaky = _FlakyRay(failures=5)
    with pytest.raises(Exception, match="timed out during startup"):
        start_local_ray(flaky, num_cpus=2, attempts=2)
    assert (flaky.inits, flaky.shutdowns) == (2, 2)
