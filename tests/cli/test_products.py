"""The command line with products of several photos (issue 18): build a folder per product,
check its counts and disagreements, recommend by product id."""

from __future__ import annotations

import json
import shutil

from tests.cli.conftest import CAE_OPTIONS, assert_user_error, run
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


def test_add_and_remove_photos_from_the_command_line(
    product_bundle, product_catalog, tmp_path, capsys
):
    bundle = tmp_path / "b"
    shutil.copytree(product_bundle, bundle, symlinks=True)
    photos = [product_catalog / "203-1.jpg", product_catalog / "203-2.jpg"]

    code, out, err = run(
        capsys, "add", "--bundle", bundle, "--product", "N7", "--set", "Colour=Teal", *photos
    )
    assert code == 0, err
    assert "photo added: N7 photo 2" in out and "13 items" in out

    code, out, _ = run(capsys, "add", "--bundle", bundle, "--product", "201", photos[0])
    assert code == 0 and "photo added: 201 photo 4" in out

    code, out, _ = run(capsys, "remove", "--bundle", bundle, "201", "--photo", "2", "--photo", "8")
    assert code == 1  # photo 8 does not exist: named, the rest done
    assert "photo removed: 201 photo 2" in out and "no photo 8" in out

    code, out, err = run(capsys, "remove", "--bundle", bundle, "201", "202", "--photo", "1")
    assert_user_error(code, err, "remove", "exactly one id")
    code, out, err = run(capsys, "add", "--bundle", bundle, "--set", "Colour=Red", photos[0])
    assert_user_error(code, err, "add", "--set applies to --product")

    code, out, _ = run(capsys, "check", "--bundle", bundle)
    assert code == 0 and "catalog: 13 products, 38 photos" in out
