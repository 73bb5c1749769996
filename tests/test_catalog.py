"""lookalike.catalog: reading catalog folders and their metadata CSVs."""

from __future__ import annotations

from pathlib import Path

import pytest

from lookalike.catalog import (
    CatalogError,
    find_images,
    read_catalog,
    read_csv_rows,
    read_duplicate_groups,
    read_split,
)
from tests.conftest import make_catalog


def touch_image(path: Path) -> Path:
    """A file with an image suffix (reading a catalog never decodes it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8 not decoded by the catalog reader")
    return path


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def ids(catalog) -> list[str]:
    return [item.id for item in catalog.items]


# --- layouts ----------------------------------------------------------------------------------
def test_kaggle_layout_reads_nested_images_with_their_metadata(tmp_path):
    root = make_catalog(tmp_path / "shop")

    catalog = read_catalog(root)

    assert len(catalog) == 24
    assert catalog.problems == []
    assert ids(catalog) == [str(i) for i in range(101, 125)]
    item = catalog.items[0]
    assert item.path == (root / "Apparel" / "101.jpg").resolve()
    # The id and image columns are not metadata.
    assert item.metadata == {
        "Gender": "Women",
        "ProductType": "Circle",
        "Colour": "Red",
        "ProductTitle": "Red circle 0",
    }
    triangles = [i for i in catalog.items if i.metadata["ProductType"] == "Triangle"]
    assert {i.path.parent.name for i in triangles} == {"Footwear"}
    assert catalog.metadata_columns() == ["Gender", "ProductType", "Colour", "ProductTitle"]


def test_plain_folder_without_csv_uses_file_stems_as_ids(tmp_path):
    touch_image(tmp_path / "shirts" / "blue-shirt.jpg")
    touch_image(tmp_path / "shoes" / "boot.PNG")
    touch_image(tmp_path / "hat.webp")
    (tmp_path / "notes.txt").write_text("not an image")

    catalog = read_catalog(tmp_path)

    assert ids(catalog) == ["blue-shirt", "boot", "hat"]
    assert all(item.metadata == {} for item in catalog.items)
    assert catalog.problems == []
    assert catalog.metadata_columns() == []


def test_phone_formats_heic_and_avif_are_catalog_images(tmp_path):
    touch_image(tmp_path / "IMG_0001.HEIC")
    touch_image(tmp_path / "IMG_0002.heif")
    touch_image(tmp_path / "pixel.avif")

    assert ids(read_catalog(tmp_path)) == ["IMG_0001", "IMG_0002", "pixel"]


def test_ids_pass_the_one_id_check_and_are_stored_in_nfc(tmp_path):
    touch_image(tmp_path / "ok.jpg")
    touch_image(tmp_path / "caf\u0065\u0301.jpg")  # NFD, as macOS names files
    touch_image(tmp_path / "1636\u200b.jpg")  # a zero-width space: looks like "1636"
    touch_image(tmp_path / "\u202eevil.jpg")  # a bidi override
    write_csv(tmp_path / "meta.csv", "id,filename\nshirts/1,ok.jpg\n")

    catalog = read_catalog(tmp_path)

    assert ids(catalog) == ["caf\u00e9", "ok"]
    refused = [p for p in catalog.problems if "refused" in p]
    assert len(refused) == 2
    assert any("U+200B" in p for p in refused) and any("U+202E" in p for p in refused)
    with_csv = read_catalog(tmp_path, tmp_path / "meta.csv")
    assert ids(with_csv) == ["caf\u00e9"]
    assert any("'shirts/1' refused" in p and "'/'" in p for p in with_csv.problems)


def test_csv_rows_match_images_by_file_name_column(tmp_path):
    touch_image(tmp_path / "img" / "photo_a.png")
    touch_image(tmp_path / "img" / "photo_b.jpg")
    meta = write_csv(
        tmp_path / "meta.csv",
        "sku,filename,Colour\nA1,photos/photo_a.png,Red\nB2,photo_b.jpg,Blue\n",
    )

    catalog = read_catalog(tmp_path, meta)

    assert ids(catalog) == ["A1", "B2"]
    assert catalog.items[0].path.name == "photo_a.png"
    assert catalog.items[0].metadata == {"Colour": "Red"}
    assert catalog.items[1].path.name == "photo_b.jpg"
    assert catalog.problems == []


def test_csv_rows_match_images_by_id_when_there_is_no_image_column(tmp_path):
    touch_image(tmp_path / "a" / "17.jpg")
    touch_image(tmp_path / "b" / "4.jpeg")
    meta = write_csv(tmp_path / "meta.csv", "id,Colour\n17,Red\n4,Green\n")

    catalog = read_catalog(tmp_path, meta)

    assert ids(catalog) == ["4", "17"]
    assert [i.metadata["Colour"] for i in catalog.items] == ["Green", "Red"]
    assert catalog.items[1].path.name == "17.jpg"


def test_explicit_id_and_image_columns_override_the_guess(tmp_path):
    touch_image(tmp_path / "x.jpg")
    meta = write_csv(tmp_path / "meta.csv", "ProductId,Image,code,pic\n1,nope.jpg,X9,x.jpg\n")

    catalog = read_catalog(tmp_path, meta, id_column="code", image_column="pic")

    assert ids(catalog) == ["X9"]
    assert catalog.items[0].metadata == {"ProductId": "1", "Image": "nope.jpg"}


def test_a_misspelled_explicit_column_is_reported(tmp_path):
    touch_image(tmp_path / "5.jpg")
    meta = write_csv(tmp_path / "meta.csv", "ProductId,Image,Colour\n77,5.jpg,Red\n")

    catalog = read_catalog(tmp_path, meta, id_column="ProductID")

    # Rows still match by file name, but the user learns their id column was not found.
    assert ids(catalog) == ["5"]
    assert any("no id column 'ProductID'" in p and "ProductId" in p for p in catalog.problems)


# --- problems are reported, never raised ------------------------------------------------------
def test_duplicate_ids_keep_the_first_row_and_are_reported(tmp_path):
    touch_image(tmp_path / "1.jpg")
    touch_image(tmp_path / "2.jpg")
    meta = write_csv(tmp_path / "meta.csv", "id,Colour\n1,Red\n2,Blue\n1,Green\n")

    catalog = read_catalog(tmp_path, meta)

    assert ids(catalog) == ["1", "2"]
    assert catalog.items[0].metadata == {"Colour": "Red"}
    assert any("line 4" in p and "duplicate id '1'" in p for p in catalog.problems)


def test_rows_without_an_image_are_skipped_and_reported(tmp_path):
    touch_image(tmp_path / "1.jpg")
    meta = write_csv(tmp_path / "meta.csv", "id,Colour\n1,Red\n999,Blue\n")

    catalog = read_catalog(tmp_path, meta)

    assert ids(catalog) == ["1"]
    assert any("'999'" in p and "no image file" in p for p in catalog.problems)


def test_images_without_a_row_are_kept_with_empty_metadata(tmp_path):
    touch_image(tmp_path / "1.jpg")
    touch_image(tmp_path / "extra" / "orphan.jpg")
    meta = write_csv(tmp_path / "meta.csv", "id,Colour\n1,Red\n")

    catalog = read_catalog(tmp_path, meta)

    assert ids(catalog) == ["1", "orphan"]
    assert catalog.items[1].metadata == {}
    assert any("1 image(s) have no metadata row" in p for p in catalog.problems)


def test_ragged_rows_are_kept_and_reported(tmp_path):
    for name in ("1", "2", "3"):
        touch_image(tmp_path / f"{name}.jpg")
    meta = write_csv(
        tmp_path / "meta.csv", "id,Colour,Gender\n1,Red,Men,surplus,more\n2,Blue\n3,Black,Women\n"
    )

    catalog = read_catalog(tmp_path, meta)

    assert ids(catalog) == ["1", "2", "3"]
    assert catalog.items[0].metadata == {"Colour": "Red", "Gender": "Men"}
    assert catalog.items[1].metadata == {"Colour": "Blue", "Gender": ""}
    assert any("line 2" in p and "2 extra field(s)" in p for p in catalog.problems)
    assert any("line 3" in p and "missing fields" in p for p in catalog.problems)
    assert not any("line 4" in p for p in catalog.problems)


def test_latin1_csv_is_read_and_reported(tmp_path):
    touch_image(tmp_path / "1.jpg")
    (tmp_path / "meta.csv").write_bytes("id,Colour\n1,Crème brûlée\n".encode("latin-1"))

    catalog = read_catalog(tmp_path, tmp_path / "meta.csv")

    assert catalog.items[0].metadata == {"Colour": "Crème brûlée"}
    assert any("not valid UTF-8" in p for p in catalog.problems)


def test_utf8_bom_and_padding_are_stripped(tmp_path):
    (tmp_path / "meta.csv").write_bytes("\ufeffProductId , Colour\n 7 , Red \n".encode())

    rows, problems = read_csv_rows(tmp_path / "meta.csv")

    assert rows == [{"ProductId": "7", "Colour": "Red"}]
    assert problems == []


def test_csv_without_id_or_image_column_is_ignored_with_a_problem(tmp_path):
    touch_image(tmp_path / "a.jpg")
    meta = write_csv(tmp_path / "meta.csv", "foo,bar\n1,2\n")

    catalog = read_catalog(tmp_path, meta)

    assert ids(catalog) == ["a"]
    assert catalog.items[0].metadata == {}
    assert any("neither an id nor an image column" in p for p in catalog.problems)


def test_csv_without_header_is_a_catalog_error(tmp_path):
    touch_image(tmp_path / "a.jpg")
    (tmp_path / "meta.csv").write_bytes(b"")

    with pytest.raises(CatalogError, match="no header row"):
        read_catalog(tmp_path, tmp_path / "meta.csv")


def test_missing_metadata_csv_is_a_catalog_error(tmp_path):
    touch_image(tmp_path / "a.jpg")

    with pytest.raises(CatalogError, match="cannot read metadata CSV"):
        read_catalog(tmp_path, tmp_path / "absent.csv")


# --- folders ----------------------------------------------------------------------------------
def test_hidden_folders_and_files_are_skipped(tmp_path):
    touch_image(tmp_path / "1.jpg")
    touch_image(tmp_path / ".thumbnails" / "2.jpg")
    touch_image(tmp_path / "sub" / ".cache" / "3.jpg")
    touch_image(tmp_path / ".4.jpg")

    assert [p.name for p in find_images(tmp_path)] == ["1.jpg"]
    assert ids(read_catalog(tmp_path)) == ["1"]


def test_hidden_parent_of_the_catalog_root_does_not_hide_it(tmp_path):
    root = tmp_path / ".data" / "catalog"
    touch_image(root / "1.jpg")

    assert ids(read_catalog(root)) == ["1"]


def test_missing_folder_is_a_catalog_error(tmp_path):
    with pytest.raises(CatalogError, match="catalog folder not found"):
        read_catalog(tmp_path / "nowhere")


def test_folder_without_images_is_a_catalog_error(tmp_path):
    (tmp_path / "readme.txt").write_text("no pictures here")
    write_csv(tmp_path / "fashion.csv", "ProductId,Image\n1,1.jpg\n")

    with pytest.raises(CatalogError, match="no images"):
        read_catalog(tmp_path)


def test_numeric_ids_sort_numerically_before_other_ids(tmp_path):
    for name in ("10", "9", "100", "b", "a", "007", "2"):
        touch_image(tmp_path / f"{name}.jpg")

    assert ids(read_catalog(tmp_path)) == ["2", "007", "9", "10", "100", "a", "b"]


def test_same_file_name_in_two_folders_keeps_one_and_reports_the_other(tmp_path):
    touch_image(tmp_path / "a" / "5.jpg")
    touch_image(tmp_path / "b" / "5.jpg")

    catalog = read_catalog(tmp_path)

    assert ids(catalog) == ["5"]
    assert any("already taken" in p for p in catalog.problems)


def test_a_folder_per_product_without_csv_is_detected_and_said(tmp_path):
    for product in ("p1", "p2", "p3"):
        for view in ("front", "back", "detail"):
            touch_image(tmp_path / "shop" / product / f"{view}.jpg")
    touch_image(tmp_path / "shop" / "p4" / "front.jpg")  # a product with one photo

    catalog = read_catalog(tmp_path / "shop")

    assert ids(catalog) == ["p1", "p2", "p3", "p4"]
    assert [len(item.photos) for item in catalog.items] == [3, 3, 3, 1]
    assert catalog.problems == []
    assert "folder per product" in catalog.layout_note
    assert "file names repeat" in catalog.layout_note


def test_category_folders_with_distinct_names_stay_one_photo_per_item(tmp_path):
    for folder, names in (("shirts", ("1", "2", "3")), ("shoes", ("4", "5"))):
        for name in names:
            touch_image(tmp_path / folder / f"{name}.jpg")

    catalog = read_catalog(tmp_path)

    assert ids(catalog) == ["1", "2", "3", "4", "5"] and catalog.layout_note == ""


def test_repeated_names_that_would_drop_most_photos_stop_with_the_hint(tmp_path):
    # Two levels down: not the CATALOG/<id>/*.jpg layout, so nothing can be detected.
    for product in ("p1", "p2", "p3"):
        for view in ("front", "back"):
            touch_image(tmp_path / "women" / product / f"{view}.jpg")

    with pytest.raises(CatalogError, match="4 of 6 images.*--product-folders"):
        read_catalog(tmp_path)


def test_a_folder_per_product_can_still_be_forced_off_by_a_csv_of_file_names(tmp_path):
    for product in ("p1", "p2"):
        for view in ("front", "back"):
            touch_image(tmp_path / product / f"{view}.jpg")
    csv = write_csv(tmp_path / "meta.csv", "id,Image\nA,p1/front.jpg\n")

    catalog = read_catalog(tmp_path, csv, product_folders=False)

    assert "A" in ids(catalog) and catalog.layout_note == ""


# --- split / duplicates files -----------------------------------------------------------------
def test_read_split_maps_ids_to_their_split(tmp_path):
    path = write_csv(tmp_path / "split.csv", "ProductId,split\n1,train\n2,test\n,test\n3\n")

    assert read_split(path) == {"1": "train", "2": "test", "3": ""}


def test_read_split_with_another_id_column(tmp_path):
    path = write_csv(tmp_path / "split.csv", "sku,split\nA,test\n")

    assert read_split(path, id_column="sku") == {"A": "test"}
    assert read_split(path) == {"A": "test"}  # sku is one of the usual id columns


def test_read_split_takes_the_columns_the_help_names(tmp_path):
    """``lookalike build --help`` says "CSV of id,split": that header must be read."""
    path = write_csv(tmp_path / "split.csv", "id,split\n1,train\n2,test\n")

    assert read_split(path) == {"1": "train", "2": "test"}
    # The catalog's own id column is preferred, and missing from the file falls back.
    assert read_split(path, id_column="ProductId", known_ids=["1", "2"]) == {
        "1": "train",
        "2": "test",
    }


def test_read_split_refuses_a_file_without_its_columns(tmp_path):
    path = write_csv(tmp_path / "split.csv", "code,part\n1,test\n")

    with pytest.raises(CatalogError, match="found columns: code, part"):
        read_split(path)


def test_read_split_refuses_ids_that_match_no_catalog_item(tmp_path):
    path = write_csv(tmp_path / "split.csv", "id,split\nx1,test\nx2,train\n")

    with pytest.raises(CatalogError, match="none of its 2 ids.*column 'id'"):
        read_split(path, known_ids=["1", "2"])
    assert read_split(path, known_ids=["x2", "3"]) == {"x1": "test", "x2": "train"}


def test_read_duplicate_groups(tmp_path):
    path = write_csv(tmp_path / "duplicates.csv", "ProductId,duplicate_group\n1,g1\n2,g1\n3,g2\n")

    assert read_duplicate_groups(path) == {"1": "g1", "2": "g1", "3": "g2"}
