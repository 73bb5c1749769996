"""End to end on a 200-item subset of the reference catalog: build, evaluate, recommend."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from lookalike.cli import main

pytestmark = pytest.mark.slow
SUBSET = 200


@pytest.fixture(scope="module")
def subset_catalog(shared_catalog, tmp_path_factory) -> Path:
    """Every ~14th item of the shared catalog (copied: the shared folder is read-only)."""
    root = tmp_path_factory.mktemp("subset")
    with open(shared_catalog / "fashion.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    step = len(rows) // SUBSET
    chosen = rows[::step][:SUBSET]
    ids = {row["ProductId"] for row in chosen}
    images = {p.stem: p for p in shared_catalog.rglob("*.jpg")}
    for row in chosen:
        source = images[row["ProductId"]]
        target = root / source.relative_to(shared_catalog)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    for name in ("fashion.csv", "split.csv"):
        with open(shared_catalog / name, newline="") as handle:
            reader = csv.DictReader(handle)
            kept = [row for row in reader if row["ProductId"] in ids]
            fields = reader.fieldnames
        with open(root / name, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(kept)
    return root


@pytest.fixture(scope="module")
def subset_bundle(subset_catalog, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "cae"
    code = main(
        [
            "build",
            str(subset_catalog),
            "--out",
            str(out),
            "--encoder",
            "cae",
            "--input-size",
            "64",
            "--epochs",
            "2",
            "--quiet",
        ]
    )
    assert code == 0
    return out


def test_build_records_config_manifest_and_training_curves(subset_bundle):
    from lookalike.bundle import check_bundle, read_bundle

    data = read_bundle(subset_bundle)
    assert len(data.items) == SUBSET
    assert data.manifest["encoder"]["name"] == "cae"
    assert data.config["encoder_options"]["input_size"] == 64
    assert (data.version_dir / "training" / "history.csv").is_file()
    assert (data.version_dir / "training" / "loss_curves.png").is_file()
    assert check_bundle(subset_bundle) == []


def test_evaluate_writes_report_with_protocol_metrics(subset_bundle, tmp_path):
    out = tmp_path / "report"
    assert main(["evaluate", "--bundle", str(subset_bundle), "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    ours, raw, chance = report["results"][:3]
    assert report["queries"] > 20  # the test split of the subset
    assert 0.0 < ours["metrics"]["P@10 ProductType"] <= 1.0
    # Even a 2-epoch CAE knows more than random vectors.
    assert ours["metrics"]["P@10 ProductType"] > chance["metrics"]["P@10 ProductType"]
    assert "robustness" in report and 0 <= report["robustness"]["mean"]["recall@10"] <= 1
    assert list(out.glob("grid_*.png"))
    assert "| features |" in (out / "report.md").read_text()


def test_exact_copy_of_a_catalog_photo_is_found_at_rank_1(
    subset_bundle, subset_catalog, tmp_path, capsys
):
    source = sorted(subset_catalog.rglob("*.jpg"))[17]
    query = tmp_path / "shopper-upload.jpg"
    shutil.copyfile(source, query)
    assert (
        main(
            [
                "recommend",
                "--bundle",
                str(subset_bundle),
                str(query),
                "-k",
                "5",
                "--json",
                "--allow-duplicates",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    top = result["results"][0]
    assert top["distance"] < 1e-4
    assert Path(top["path"]).read_bytes() == source.read_bytes()
    assert len(result["results"]) == 5


def test_item_query_with_grid(subset_bundle, tmp_path, capsys):
    from lookalike.bundle import read_bundle

    item = read_bundle(subset_bundle).items.ids[3]
    grid = tmp_path / "grid.png"
    assert (
        main(
            [
                "recommend",
                "--bundle",
                str(subset_bundle),
                "--item",
                item,
                "-k",
                "3",
                "--grid",
                str(grid),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"query: {item}" in out and grid.stat().st_size > 1000
