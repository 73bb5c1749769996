"""lookalike.cli.build: `lookalike build`, `train` and `index`."""

from __future__ import annotations

import argparse

from lookalike.bundle import current_version_dir, read_bundle
from tests.cli.conftest import CAE_OPTIONS, assert_user_error, catalog_of, run
from tests.conftest import draw_item, make_catalog


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


def test_build_of_a_missing_catalog_folder(tmp_path, capsys):
    code, _, err = run(capsys, "build", tmp_path / "nope", "--out", tmp_path / "b", *CAE_OPTIONS)

    assert_user_error(code, err, "build", "catalog folder not found", "nope")


def test_build_with_an_unknown_encoder(tiny_bundle, tmp_path, capsys):
    code, _, err = run(
        capsys, "build", catalog_of(tiny_bundle), "--out", tmp_path / "b", "--encoder", "resnet9000"
    )

    assert_user_error(code, err, "build", "unknown encoder 'resnet9000'", "cae")


def test_index_without_a_trained_encoder(tiny_bundle, tmp_path, capsys):
    code, _, err = run(
        capsys, "index", catalog_of(tiny_bundle), "--out", tmp_path / "b", "--quiet",
        *CAE_OPTIONS,
    )  # fmt: skip

    assert_user_error(code, err, "index", "run `train`")


def test_build_set_must_be_option_equals_value(tiny_bundle, tmp_path, capsys):
    catalog = catalog_of(tiny_bundle)

    code, _, err = run(capsys, "build", catalog, "--out", tmp_path / "b", "--set", "epochs")

    assert_user_error(code, err, "build", "OPTION=VALUE")


def test_build_with_a_missing_archive_is_a_one_line_error(tiny_catalog, tmp_path, capsys):
    code, _, err = run(
        capsys, "build", tiny_catalog, "--out", tmp_path / "b", *CAE_OPTIONS,
        "--archive", tmp_path / "missing",
    )  # fmt: skip
    assert_user_error(code, err, "build", "archive folder not found")
    assert not (tmp_path / "b").exists()


def test_build_of_a_folder_per_product_without_csv_builds_every_product(tmp_path, capsys):
    """``CATALOG/<id>/front.jpg, back.jpg`` with no CSV: every product with its photos, and
    the build says how it read the tree (it used to build 1 item, skipping the rest)."""
    catalog = tmp_path / "catalog"
    for number, (shape, colour) in enumerate(
        [("circle", (220, 30, 30)), ("square", (40, 60, 220)), ("triangle", (20, 20, 20))]
    ):
        (catalog / f"P{number}").mkdir(parents=True)
        for photo, view in enumerate(("front", "back")):
            draw_item(shape, colour, photo).save(catalog / f"P{number}" / f"{view}.jpg")

    code, out, err = run(capsys, "build", catalog, "--out", tmp_path / "b", *CAE_OPTIONS)

    assert code == 0, err
    assert "catalog: 3 items" in out and "6 photos" in out
    assert "folder per product" in out and "already taken" not in out
    assert read_bundle(tmp_path / "b").items.ids == ["P0", "P1", "P2"]


def test_build_stops_when_repeated_file_names_would_skip_most_photos(tmp_path, capsys):
    for product in ("P1", "P2", "P3"):
        for view in ("front", "back"):
            path = tmp_path / "catalog" / "women" / product / f"{view}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            draw_item("circle", (200, 30, 30), 0).save(path)

    code, _, err = run(capsys, "build", tmp_path / "catalog", "--out", tmp_path / "b", *CAE_OPTIONS)

    assert_user_error(code, err, "build", "4 of 6 images", "--product-folders")
    assert not (tmp_path / "b").exists()


def test_a_split_file_with_the_columns_the_help_names_hides_its_test_labels(tmp_path, capsys):
    catalog = make_catalog(tmp_path / "cat")
    split = tmp_path / "split.csv"
    split.write_text("id,split\n101,test\n102,train\n124,test\n")

    code, out, err = run(
        capsys, "build", catalog, "--out", tmp_path / "b", "--split", split, *CAE_OPTIONS
    )

    assert code == 0, err
    assert "(2 test items' labels hidden)" in out


def test_a_split_file_matching_no_catalog_item_is_refused(tmp_path, capsys):
    catalog = make_catalog(tmp_path / "cat")
    split = tmp_path / "split.csv"
    split.write_text("sku,split\nA-1,test\nA-2,train\n")

    code, _, err = run(
        capsys, "build", catalog, "--out", tmp_path / "b", "--split", split, *CAE_OPTIONS
    )

    assert_user_error(code, err, "build", "none of its 2 ids", "columns sku, split")
    assert not (tmp_path / "b").exists()


def test_build_with_missing_context_photos_or_none_per_item_is_a_one_line_error(
    tiny_catalog, tmp_path, capsys
):
    code, _, err = run(
        capsys, "build", tiny_catalog, "--out", tmp_path / "b", *CAE_OPTIONS,
        "--context-photos", tmp_path / "missing",
    )  # fmt: skip
    assert_user_error(code, err, "build", "context photo folder not found")
    code, _, err = run(
        capsys, "build", tiny_catalog, "--out", tmp_path / "b", *CAE_OPTIONS,
        "--context-photos", tiny_catalog, "--context-per-item", "0",
    )  # fmt: skip
    assert_user_error(code, err, "build", "--context-per-item must be >= 1")
    assert not (tmp_path / "b").exists()


def test_the_fit_sample_is_bounded_by_default_and_zero_fits_on_every_photo(tmp_path):
    from lookalike.cli.build import build_config
    from lookalike.cli.parsers.build import add_build_arguments
    from lookalike.pipeline import DEFAULT_FIT_LIMIT, BuildConfig

    parser = argparse.ArgumentParser()
    add_build_arguments(parser)
    default = build_config(parser.parse_args([str(tmp_path), "--out", "b"]), tmp_path)
    assert default.fit_limit == DEFAULT_FIT_LIMIT == BuildConfig(catalog="x").fit_limit
    every = build_config(
        parser.parse_args([str(tmp_path), "--out", "b", "--fit-limit", "0"]), tmp_path
    )
    assert every.fit_limit is None
