"""lookalike.cli: the ``lookalike`` command, run in-process (plus one real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from lookalike.bundle import EMBEDDINGS, current_version_dir, read_bundle
from lookalike.cli import main
from tests.conftest import make_catalog

CAE_OPTIONS = [
    "--encoder", "cae", "--input-size", "64", "--epochs", "1",
    "--set", "channels=[8,16,16,16,16]", "--set", "bottleneck_channels=8",
    "--set", "batch_size=8",
]  # fmt: skip


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def catalog_of(bundle: Path) -> Path:
    return Path(read_bundle(bundle).config["catalog"])


def assert_user_error(code: int, err: str, command: str, *words: str) -> None:
    """Exit 2 with exactly one line naming the problem, and no traceback."""
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"lookalike {command}: error: ")
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in err


# --- help -------------------------------------------------------------------------------------
def test_console_script_help_runs_in_a_real_process():
    script = Path(sys.executable).with_name("lookalike")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "lookalike.cli"]

    done = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    for name in ("build", "recommend", "evaluate", "demo", "check"):
        assert name in done.stdout


def test_no_command_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as caught:
        main([])

    assert caught.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


# --- build + check ----------------------------------------------------------------------------
def test_build_then_check_then_recommend(tmp_path, capsys):
    catalog = make_catalog(tmp_path / "cat")
    out = tmp_path / "bundle"

    code, stdout, _ = run(capsys, "build", catalog, "--out", out, *CAE_OPTIONS)

    assert code == 0
    assert "catalog: 24 items" in stdout and "bundle written to" in stdout
    data = read_bundle(out)
    assert len(data.items) == 24
    assert data.config["encoder"] == "cae"
    assert data.config["encoder_options"]["epochs"] == 1
    assert data.config["encoder_options"]["channels"] == [8, 16, 16, 16, 16]
    history = (current_version_dir(out) / "training" / "history.csv").read_text().splitlines()
    assert len(history) == 2  # header + the one epoch it trained

    code, stdout, _ = run(capsys, "check", "--bundle", out)
    assert code == 0 and stdout.startswith("ok: ")

    code, stdout, _ = run(capsys, "recommend", "--bundle", out, "--item", "101", "-k", "2")
    assert code == 0 and "query: 101" in stdout


def test_check_fails_on_a_corrupted_copy(bundle_copy, capsys):
    path = current_version_dir(bundle_copy) / EMBEDDINGS
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x01
    path.write_bytes(bytes(raw))

    code, stdout, _ = run(capsys, "check", "--bundle", bundle_copy)

    assert code == 1
    assert f"problem: checksum mismatch: {EMBEDDINGS}" in stdout


# --- recommend --------------------------------------------------------------------------------
def test_recommend_prints_a_table_with_ids(tiny_bundle, capsys):
    image = catalog_of(tiny_bundle) / "Apparel" / "110.jpg"

    code, stdout, _ = run(capsys, "recommend", "--bundle", tiny_bundle, image, "-k", "3")

    assert code == 0
    lines = stdout.strip().splitlines()
    assert lines[0] == f"query: {image}"
    assert lines[1].split()[:3] == ["rank", "id", "distance"]
    assert "ProductType" in lines[1]
    first = lines[2].split()
    assert first[:2] == ["1", "110"]
    assert len(lines) == 2 + 3


def test_recommend_json_gives_one_object_per_query(tiny_bundle, capsys):
    image = catalog_of(tiny_bundle) / "Footwear" / "118.jpg"

    code, stdout, _ = run(
        capsys, "recommend", "--bundle", tiny_bundle, image, "--item", "101", "--item", "105",
        "-k", "4", "--json",
    )  # fmt: skip

    assert code == 0
    payloads = [json.loads(line) for line in stdout.strip().splitlines()]
    assert [p["query"] for p in payloads] == [str(image), "101", "105"]
    for payload in payloads:
        assert len(payload["results"]) == 4
        assert [r["rank"] for r in payload["results"]] == [1, 2, 3, 4]
        assert {"id", "distance", "metadata", "path"} <= set(payload["results"][0])
        assert "error" not in payload
    assert payloads[0]["results"][0]["id"] == "118"
    assert "101" not in [r["id"] for r in payloads[1]["results"]]


def test_recommend_filter(tiny_bundle, capsys):
    code, stdout, _ = run(
        capsys, "recommend", "--bundle", tiny_bundle, "--item", "105", "-k", "5",
        "--filter", "Colour=Red", "--filter", "ProductType=circle,square", "--json",
    )  # fmt: skip

    assert code == 0
    [payload] = [json.loads(line) for line in stdout.strip().splitlines()]
    found = [(r["metadata"]["Colour"], r["metadata"]["ProductType"]) for r in payload["results"]]
    # Red circles and red squares: 101, 102, 109, 110.
    assert sorted(r["id"] for r in payload["results"]) == ["101", "102", "109", "110"]
    assert {c for c, _ in found} == {"Red"}


def test_recommend_grid_writes_a_png(tiny_bundle, tmp_path, capsys):
    image = catalog_of(tiny_bundle) / "Apparel" / "101.jpg"
    grid = tmp_path / "grids" / "top.png"

    code, _, err = run(
        capsys, "recommend", "--bundle", tiny_bundle, image, "--item", "120", "-k", "3",
        "--grid", grid,
    )  # fmt: skip

    assert code == 0
    assert f"grid written to {grid}" in err
    with Image.open(grid) as png:
        assert png.format == "PNG"
        width, height = png.size
    # Two rows (the image and the item) of query + 3 results: wider than tall.
    assert width > height > 300


def test_recommend_unreadable_image_reports_the_error_and_exits_1(tiny_bundle, tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"garbage")

    code, stdout, _ = run(capsys, "recommend", "--bundle", tiny_bundle, bad, "--item", "101")

    assert code == 1
    assert "error: cannot decode image" in stdout
    assert "query: 101" in stdout


# --- evaluate ---------------------------------------------------------------------------------
def test_evaluate_writes_a_report(tiny_bundle, tmp_path, capsys):
    split = tmp_path / "split.csv"
    test_ids = ["101", "106", "111", "116", "119", "124"]
    rows = [f"{i},{'test' if str(i) in test_ids else 'train'}" for i in range(101, 125)]
    split.write_text("ProductId,split\n" + "\n".join(rows) + "\n")
    out = tmp_path / "report"

    code, _, _ = run(
        capsys, "evaluate", "--bundle", tiny_bundle, "--split", split, "--out", out,
        "--no-robustness", "--quiet",
    )  # fmt: skip

    assert code == 0
    payload = json.loads((out / "report.json").read_text())
    assert payload["queries"] == 6
    names = [r["name"] for r in payload["results"]]
    assert names[0] == "cae (this bundle)"
    assert "raw 32x32 pixels" in names and "chance (random vectors)" in names
    metrics = payload["results"][0]["metrics"]
    assert 0.0 <= metrics["P@1 ProductType"] <= 1.0
    assert "mAP@10 ProductType" in metrics and "P@10 Colour" in metrics
    assert "robustness" not in payload
    markdown = (out / "report.md").read_text()
    assert "| cae (this bundle) |" in markdown and "P@1 ProductType" in markdown
    assert (out / "grid_1.png").is_file()
    assert not (tiny_bundle / "report").exists()


# --- demo -------------------------------------------------------------------------------------
def test_demo_builds_once_then_reuses(tmp_path, capsys):
    catalog = make_catalog(tmp_path / "cat")
    out = tmp_path / "demo"
    argv = ["demo", catalog, "--out", out, "--encoder", "efficientnet-lite0"]
    argv += ["--queries", "2", "-k", "3"]

    code, stdout, _ = run(capsys, *argv)

    assert code == 0
    assert "building a efficientnet-lite0 bundle" in stdout
    assert stdout.count("\nquery: ") == 2
    assert (out / "demo_grid.png").is_file()
    assert f"result grid: {out / 'demo_grid.png'}" in stdout

    code, stdout, _ = run(capsys, *argv)

    assert code == 0
    assert "reusing the bundle" in stdout and "building" not in stdout
    assert stdout.count("\nquery: ") == 2


# --- user errors ------------------------------------------------------------------------------
def test_build_of_a_missing_catalog_folder(tmp_path, capsys):
    code, _, err = run(capsys, "build", tmp_path / "nope", "--out", tmp_path / "b", *CAE_OPTIONS)

    assert_user_error(code, err, "build", "catalog folder not found", "nope")


def test_build_with_an_unknown_encoder(tiny_bundle, tmp_path, capsys):
    code, _, err = run(
        capsys, "build", catalog_of(tiny_bundle), "--out", tmp_path / "b", "--encoder", "resnet9000"
    )

    assert_user_error(code, err, "build", "unknown encoder 'resnet9000'", "cae")


def test_recommend_with_a_missing_bundle(tmp_path, capsys):
    code, _, err = run(capsys, "recommend", "--bundle", tmp_path / "nb", "--item", "101")

    assert_user_error(code, err, "recommend", "no lookalike bundle")


def test_recommend_an_unknown_item(tiny_bundle, capsys):
    code, _, err = run(capsys, "recommend", "--bundle", tiny_bundle, "--item", "99999")

    assert_user_error(code, err, "recommend", "unknown item id '99999'")


def test_recommend_a_missing_image_file(tiny_bundle, tmp_path, capsys):
    missing = tmp_path / "missing.jpg"

    code, _, err = run(capsys, "recommend", "--bundle", tiny_bundle, missing)

    assert_user_error(code, err, "recommend", "image not found", "missing.jpg")


@pytest.mark.parametrize("bad", ["Colour", "=Red"])
def test_recommend_with_bad_filter_syntax(tiny_bundle, capsys, bad):
    code, _, err = run(
        capsys, "recommend", "--bundle", tiny_bundle, "--item", "101", "--filter", bad
    )

    assert_user_error(code, err, "recommend", "COLUMN=VALUE", repr(bad))


def test_recommend_with_an_unknown_filter_column(tiny_bundle, capsys):
    code, _, err = run(
        capsys, "recommend", "--bundle", tiny_bundle, "--item", "101", "--filter", "Fabric=Silk"
    )

    assert_user_error(code, err, "recommend", "unknown filter column 'Fabric'")


def test_recommend_without_a_query(tiny_bundle, capsys):
    code, _, err = run(capsys, "recommend", "--bundle", tiny_bundle)

    assert_user_error(code, err, "recommend", "--item ID or --like")


def test_recommend_with_k_zero(tiny_bundle, capsys):
    code, _, err = run(capsys, "recommend", "--bundle", tiny_bundle, "--item", "101", "-k", "0")

    assert_user_error(code, err, "recommend", "k must be between")


def test_index_without_a_trained_encoder(tiny_bundle, tmp_path, capsys):
    code, _, err = run(
        capsys, "index", catalog_of(tiny_bundle), "--out", tmp_path / "b", "--quiet",
        *CAE_OPTIONS,
    )  # fmt: skip

    assert_user_error(code, err, "index", "run `train`")


def test_check_on_a_missing_bundle_exits_1(tmp_path, capsys):
    code, stdout, _ = run(capsys, "check", "--bundle", tmp_path / "none")

    assert code == 1 and "problem: no lookalike bundle" in stdout


def test_build_set_must_be_option_equals_value(tiny_bundle, tmp_path, capsys):
    catalog = catalog_of(tiny_bundle)

    code, _, err = run(capsys, "build", catalog, "--out", tmp_path / "b", "--set", "epochs")

    assert_user_error(code, err, "build", "OPTION=VALUE")
