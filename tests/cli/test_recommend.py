"""lookalike.cli.recommend: `lookalike recommend`."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from lookalike.cli import main
from tests.cli.conftest import assert_user_error, catalog_of, run


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


def test_cli_profile_query(tiny_bundle, tiny_catalog, capsys):
    photo = sorted(tiny_catalog.rglob("*.jpg"))[2]
    code = main(
        [
            "recommend",
            "--bundle",
            str(tiny_bundle),
            "--like",
            "101",
            "--like",
            str(photo),
            "--dislike",
            "110",
            "-k",
            "4",
            "--diversity",
            "0.3",
            "--json",
        ]
    )
    assert code == 0
    payload = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    ids = [r["id"] for r in payload["results"]]
    assert len(ids) == 4 and "101" not in ids and "110" not in ids


def test_recommend_with_a_crop_looks_at_that_region(tiny_bundle, tmp_path, capsys):
    from lookalike.recommend import Recommender
    from tests.test_recommend_crop import side_by_side

    photo = side_by_side(Recommender.from_bundle(tiny_bundle), "101", "111", tmp_path / "2.png")

    code, stdout, _ = run(
        capsys, "recommend", "--bundle", tiny_bundle, photo, "-k", "1", "--json",
        "--crop", "0.5,0,0.5,1",
    )  # fmt: skip

    assert code == 0
    assert json.loads(stdout)["results"][0]["id"] == "111"


def test_recommend_with_a_bad_crop_is_a_one_line_error(tiny_bundle, tmp_path, capsys):
    photo = tmp_path / "p.png"
    Image.new("RGB", (8, 8), "white").save(photo)
    code, _, err = run(capsys, "recommend", "--bundle", tiny_bundle, photo, "--crop", "0,0,2,1")
    assert_user_error(code, err, "recommend", "--crop", "fractions")
    code, _, err = run(capsys, "recommend", "--bundle", tiny_bundle, "--item", "101",
                       "--crop", "0,0,1,1")  # fmt: skip
    assert_user_error(code, err, "recommend", "--crop applies to IMAGE queries")


def test_recommend_look_lists_each_garment_with_its_table(tiny_bundle, capsys):
    image = catalog_of(tiny_bundle) / "Apparel" / "110.jpg"

    code, out, err = run(capsys, "recommend", "--bundle", tiny_bundle, image, "-k", "2", "--look")

    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == f"query: {image}"
    garments = [line for line in lines if line.startswith("garment ")]
    assert garments and sum("(main)" in line for line in garments) == 1
    assert len(lines) == 1 + len(garments) * (1 + 1 + 2)  # header, table header, 2 rows

    code, out, _ = run(
        capsys, "recommend", "--bundle", tiny_bundle, image, "-k", "2", "--look", "--json"
    )
    payload = json.loads(out)
    assert code == 0 and payload["query"] == str(image)
    assert all(len(g["results"]) == 2 for g in payload["garments"])


def test_recommend_look_refuses_items_and_crops(tiny_bundle, capsys):
    image = catalog_of(tiny_bundle) / "Apparel" / "110.jpg"
    code, _, err = run(
        capsys, "recommend", "--bundle", tiny_bundle, image, "--look", "--crop", "0,0,1,1"
    )
    assert_user_error(code, err, "recommend", "--look takes IMAGE queries only")
