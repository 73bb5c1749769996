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
