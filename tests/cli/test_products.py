"""The command line with products of several photos (issue 18): build a folder per product,
check its counts and disagreements, recommend by product id."""

from __future__ import annotations

import json
import shutil

from tests.cli.conftest import CAE_OPTIONS, run
from tests.conftest import draw_item


def test_build_check_and_recommend_a_folder_per_product(tmp_path, capsys):
    catalog = tmp_path / "catalog"
    for product, (shape, colour) in {
        "P1": ("circle", (220, 30, 30)),
        "P2": ("circle", (200, 40, 40)),
        "P3": ("square", (40, 60, 220)),
        "P4": ("triangle", (20, 20, 20)),
    }.items():
        (catalog / product).mkdir(parents=True)
        for photo in range(2 if product != "P4" else 1):
            draw_item(shape, colour, photo).save(catalog / product / f"{photo}.jpg")

    code, out, err = run(
        capsys, "build", catalog, "--out", tmp_path / "b", "--product-folders", *CAE_OPTIONS
    )
    assert code == 0, err
    assert "4 items" in out and "7 photos" in out

    code, out, _ = run(capsys, "check", "--bundle", tmp_path / "b")
    assert code == 0 and "catalog: 4 products, 7 photos" in out

    for combine in ("mean", "min"):
        code, out, err = run(
            capsys, "recommend", "--bundle", tmp_path / "b", "--item", "P1", "-k", "3",
            "--combine", combine, "--json",
        )  # fmt: skip
        assert code == 0, err
        ids = [r["id"] for r in json.loads(out)["results"]]
        assert sorted(ids) == ["P2", "P3", "P4"]

    code, out, _ = run(capsys, "recommend", "--bundle", tmp_path / "b", "--item", "P4", "-k", "2")
    assert code == 0 and "photo" in out.splitlines()[2] and "/2" in out


def test_check_repeats_a_products_disagreeing_rows(product_catalog, tmp_path, capsys):
    catalog = tmp_path / "catalog"
    shutil.copytree(product_catalog, catalog)
    text = (
        (catalog / "fashion.csv")
        .read_text()
        .replace("201,Women,Circle,Red,201-2.jpg", "201,Women,Circle,Pink,201-2.jpg")
    )
    (catalog / "fashion.csv").write_text(text)
    code, _, err = run(capsys, "build", catalog, "--out", tmp_path / "b", *CAE_OPTIONS)
    assert code == 0, err

    code, out, _ = run(capsys, "check", "--bundle", tmp_path / "b")

    assert code == 0 and "catalog: 12 products, 36 photos" in out
    assert "warning:" in out and "'201'" in out and "Colour 'Pink' vs 'Red'" in out
