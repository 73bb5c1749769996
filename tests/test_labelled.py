"""lookalike.labelled: folders of labelled photos (shopper queries, archives)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lookalike.catalog import CatalogError
from lookalike.labelled import canonical_metadata, read_labelled_photos


def make_labelled_folder(root: Path, catalog: Path, ids: list[str], splits: list[str]) -> Path:
    """A shopper-photos-like folder: images/<id>.jpg copied from ``catalog`` (new ids) and a
    labels.csv with lower-case column names and a split column."""
    import csv

    (root / "images").mkdir(parents=True, exist_ok=True)
    with open(catalog / "fashion.csv", newline="") as handle:
        rows = {r["ProductId"]: r for r in csv.DictReader(handle)}
    lines = ["id,split,category,producttype,colour,title"]
    for n, (item_id, split) in enumerate(zip(ids, splits, strict=True)):
        source = next(catalog.rglob(f"{item_id}.jpg"))
        shutil.copy(source, root / "images" / f"q{n}.jpg")
        row = rows[item_id]
        category = "Footwear" if row["ProductType"] == "Triangle" else "Apparel"
        lines.append(f"q{n},{split},{category},{row['ProductType']},{row['Colour']},photo {n}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


def test_canonical_metadata_takes_the_catalog_spelling():
    meta = canonical_metadata({"producttype": "Tops", "colour": "Red", "x": "1"}, ["ProductType"])
    assert meta == {"ProductType": "Tops", "colour": "Red", "x": "1"}


def test_read_labelled_photos_filters_the_split_and_renames_columns(tiny_catalog, tmp_path):
    folder = make_labelled_folder(tmp_path / "q", tiny_catalog, ["101", "110", "120"],
                                  ["dev", "archive", "dev"])  # fmt: skip

    photos = read_labelled_photos(folder, split="dev", columns=["ProductType", "Colour"])

    assert [i.id for i in photos.items] == ["q0", "q2"]
    assert photos.labels("ProductType") == ["Circle", "Triangle"]
    assert photos.labels("Colour")[0] == "Red"
    everything = read_labelled_photos(folder)
    assert len(everything) == 3 and everything.digest() != photos.digest()
    assert (
        read_labelled_photos(folder, split="dev").digest()
        == read_labelled_photos(folder, split="dev").digest()
    )


def test_read_labelled_photos_errors_are_one_line(tiny_catalog, tmp_path):
    folder = make_labelled_folder(tmp_path / "q", tiny_catalog, ["101"], ["dev"])
    with pytest.raises(CatalogError, match="no photos of split 'test'.*splits: dev"):
        read_labelled_photos(folder, split="test")
    with pytest.raises(CatalogError, match="not found"):
        read_labelled_photos(tmp_path / "missing")
    (folder / "labels.csv").unlink()
    with pytest.raises(CatalogError, match="labels.csv"):
        read_labelled_photos(folder)


# --- archives in another vocabulary: type_map.csv, masks -----------------------------------
def _photo(path: Path, colour=(200, 40, 40), size=(60, 90)) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def test_a_type_map_archive_learns_its_labels_as_catalog_types(tmp_path):
    from lookalike.labelled import read_archive

    root = tmp_path / "amateur"
    for name in ("a", "b", "c", "d"):
        _photo(root / "images" / f"{name}.jpg")
    (root / "labels.csv").write_text(
        "id,label,kids,split\na,Dress,False,archive\nb,Blouse,False,archive\n"
        "c,Hat,False,archive\nd,Dress,False,dev\n"
    )
    (root / "type_map.csv").write_text("label,producttypes\nDress,Dresses\nBlouse,Tops;Shirts\n")

    archive = read_archive(root, "auto", ["ProductType", "Colour"], 32, tmp_path / "cache")

    assert archive.photos.split == "archive"  # never the dev photo
    assert archive.labels["ProductType"] == ["Dresses", "Tops;Shirts"]  # Hat has no map row
    assert archive.labels["Colour"] == ["", ""] and archive.images.shape == (2, 32, 32, 3)


def test_a_masked_archive_gives_one_photo_per_garment(tmp_path):
    import numpy as np
    from PIL import Image

    from lookalike.labelled import join_archives, read_archive

    root = tmp_path / "street"
    for name in ("0001", "0002", "0003"):
        _photo(root / "images" / f"{name}.jpg", size=(40, 80))
    mask = np.zeros((80, 40), np.uint8)
    mask[5:35, 5:35] = 1  # a dress over the top half
    mask[60:80, 0:40] = 2  # shoes
    mask[0:2, 0:2] = 3  # hair: no type_map row
    (root / "masks").mkdir()
    Image.fromarray(mask).save(root / "masks" / "0001.png")
    Image.fromarray(mask).save(root / "masks" / "0003.png")
    (root / "mask_labels.csv").write_text("value,label\n0,null\n1,dress\n2,shoes\n3,hair\n")
    (root / "type_map.csv").write_text("label,producttypes\ndress,Dresses\nshoes,Heels;Flats\n")
    (root / "labels.csv").write_text(
        "id,annotation,tags,split\n0001,mask,dress;shoes,train\n0002,tags,dress,train\n"
        "0003,mask,dress;shoes,dev\n"
    )

    archive = read_archive(root, "auto", ["ProductType"], 32, tmp_path / "cache")

    assert archive.photos.split == "train"  # auto: train when there is no archive split
    assert archive.labels["ProductType"] == ["Dresses", "Heels;Flats"]  # 0001's garments
    assert [item.id.split("@")[0] for item in archive.photos.items] == ["0001", "0001"]
    assert archive.images.shape == (2, 32, 32, 3)
    both = join_archives([archive, archive])
    assert len(both.images) == 4 and both.labels["ProductType"][2] == "Dresses"
    assert isinstance(both.record(), list) and len(both.record()) == 2


def test_a_lazy_archive_decodes_the_same_photos_and_crops_when_read(tmp_path):
    import numpy as np
    from PIL import Image

    from lookalike.imaging.lazy import LazyPhotos
    from lookalike.labelled import join_archives, read_archive

    root = tmp_path / "street"
    for name in ("0001", "0002"):
        _photo(root / "images" / f"{name}.jpg", size=(40, 80))
    mask = np.zeros((80, 40), np.uint8)
    mask[5:35, 5:35] = 1
    mask[60:80, 0:40] = 2
    (root / "masks").mkdir()
    Image.fromarray(mask).save(root / "masks" / "0001.png")
    (root / "mask_labels.csv").write_text("value,label\n0,null\n1,dress\n2,shoes\n")
    (root / "type_map.csv").write_text("label,producttypes\ndress,Dresses\nshoes,Heels\n")
    (root / "labels.csv").write_text(
        "id,annotation,tags,split\n0001,mask,dress;shoes,train\n0002,tags,dress,train\n"
    )
    decoded = read_archive(root, "auto", ["ProductType"], 32, tmp_path / "cache")
    lazy = read_archive(root, "auto", ["ProductType"], 32, tmp_path / "cache", lazy=True)

    assert isinstance(lazy.images, LazyPhotos) and not (tmp_path / "cache").exists()
    assert lazy.labels == decoded.labels and lazy.images.shape == decoded.images.shape
    np.testing.assert_array_equal(np.asarray(lazy.images), decoded.images)  # same crops
    both = join_archives([lazy, lazy])
    assert isinstance(both.images, LazyPhotos) and len(both.images) == 4
    np.testing.assert_array_equal(both.images[2:], decoded.images)
