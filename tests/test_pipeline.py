"""lookalike.pipeline: label choice, hidden test labels, build reports and encoder reuse.

Builds here reuse the tiny CAE that the session's ``tiny_bundle`` trained (copied into a
private work folder, or handed out by a patched ``fit``), so they take a fraction of a second
instead of training again.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.bundle import IMAGES_DIR, KEEP_VERSIONS, ItemTable, find_orphans, read_bundle
from lookalike.catalog import CatalogError
from lookalike.encoders.cae import CAEEncoder
from lookalike.pipeline import (
    BuildConfig,
    build_bundle,
    choose_label_columns,
    hidden_label_ids,
    read_build_report,
    training_labels,
)
from lookalike.updates import NewItem, add_new_items
from tests.conftest import TINY_CAE, make_catalog


def pretrained_workdir(tiny_bundle: Path, target: Path) -> Path:
    """A work folder holding the encoder that ``tiny_bundle`` trained with TINY_CAE."""
    shutil.copytree(tiny_bundle / "work" / "trained", target / "trained")
    return target


def tiny_config(catalog: Path, workdir: Path | None = None, **kwargs) -> BuildConfig:
    return BuildConfig(
        catalog=str(catalog),
        encoder="cae",
        encoder_options=dict(TINY_CAE),
        workdir=str(workdir) if workdir else None,
        **kwargs,
    )


class FitCalled(Exception):
    """Raised by a patched ``fit`` to prove training was (or was not) attempted."""


@pytest.fixture
def forbid_training(monkeypatch):
    def fit(cls, data, config, resume=True):
        raise FitCalled

    monkeypatch.setattr(CAEEncoder, "fit", classmethod(fit))


@pytest.fixture
def pretrained_fit(tiny_bundle, monkeypatch) -> dict:
    """``fit`` hands out the tiny bundle's trained CAE and records what it was given."""
    seen: dict = {}
    trained = CAEEncoder.load(tiny_bundle / "work" / "trained" / "cae")

    def fit(cls, data, config, resume=True):
        seen["labels"] = data.labels
        seen["calls"] = seen.get("calls", 0) + 1
        return trained

    monkeypatch.setattr(CAEEncoder, "fit", classmethod(fit))
    return seen


# --- label columns ----------------------------------------------------------------------------
def test_choose_label_columns_skips_constant_and_one_of_a_kind_columns():
    metadata = [
        {
            "Brand": "Acme",
            "ProductType": ("Shirt", "Shoe", "Hat")[i % 3],
            "ProductTitle": f"Title number {i}",
            "Season": "" if i % 2 else "Summer",
        }
        for i in range(201)
    ]
    metadata[5]["Season"] = "Winter"

    assert choose_label_columns(metadata, None) == ["ProductType", "Season"]


def test_choose_label_columns_allows_exactly_200_classes():
    metadata = [{"Code": str(i % 200)} for i in range(400)]

    assert choose_label_columns(metadata, None) == ["Code"]


def test_choose_label_columns_skips_one_of_a_kind_columns_on_small_catalogs():
    # 24 titles for 24 items: a title is no class label, however few items there are.
    metadata = [{"Title": f"item {i}", "Type": "ab"[i % 2]} for i in range(24)]

    assert choose_label_columns(metadata, None) == ["Type"]


def test_choose_label_columns_validates_an_explicit_list():
    metadata = [{"Brand": "Acme", "Colour": "Red"}, {"Brand": "Acme", "Colour": "Blue"}]

    # An explicit choice is honoured even for a column the default would skip.
    assert choose_label_columns(metadata, ["Brand"]) == ["Brand"]
    with pytest.raises(ValueError, match="Material"):
        choose_label_columns(metadata, ["Colour", "Material"])


def test_training_labels_blank_hidden_items_and_unknown_values():
    items = ItemTable(
        ids=["1", "2", "3"],
        paths=["a", "b", "c"],
        metadata=[{"Colour": "Red"}, {"Colour": "Blue"}, {}],
    )

    labels = training_labels(items, ["Colour"], hidden={"2"})

    assert labels == {"Colour": ["Red", "", ""]}


# --- hidden (test) labels ---------------------------------------------------------------------
def test_hidden_label_ids_default_to_the_catalog_split_file(tmp_path):
    (tmp_path / "split.csv").write_text("ProductId,split\n1,train\n2,test\n3,test\n")
    other = tmp_path / "other.csv"
    other.write_text("ProductId,split\n4,test\n")

    assert hidden_label_ids(BuildConfig(catalog=str(tmp_path))) == {"2", "3"}
    assert hidden_label_ids(BuildConfig(catalog=str(tmp_path), split_csv=str(other))) == {"4"}
    assert hidden_label_ids(BuildConfig(catalog=str(tmp_path), split_csv="")) == set()


def test_hidden_label_ids_read_an_id_split_file_and_refuse_one_for_another_catalog(tmp_path):
    (tmp_path / "split.csv").write_text("id,split\n1,train\n2,test\n")
    config = BuildConfig(catalog=str(tmp_path))

    assert hidden_label_ids(config, ["1", "2", "3"]) == {"2"}
    with pytest.raises(CatalogError, match="none of its 2 ids"):
        hidden_label_ids(config, ["101", "102"])


def test_hidden_label_ids_without_a_split_file_is_empty(tmp_path):
    assert hidden_label_ids(BuildConfig(catalog=str(tmp_path))) == set()


def test_build_never_trains_on_test_labels(tmp_path, pretrained_fit):
    catalog = make_catalog(tmp_path / "cat")
    (catalog / "split.csv").write_text("ProductId,split\n101,test\n102,train\n124,test\n")

    version = build_bundle(tiny_config(catalog), tmp_path / "b", progress=False)

    seen = pretrained_fit
    types = seen["labels"]["ProductType"]
    assert len(types) == 24
    assert types[0] == "" and types[23] == ""  # 101 and 124
    assert types[1] == "Circle"  # 102 (train) keeps its label
    assert sum(t == "" for t in types) == 2
    assert all(labels[0] == "" for labels in seen["labels"].values())
    assert read_build_report(version)["hidden_label_items"] == 2


# --- build ------------------------------------------------------------------------------------
def test_build_reports_exact_duplicates_and_skips_unreadable_images(tmp_path, pretrained_fit):
    catalog = make_catalog(tmp_path / "cat")
    shutil.copyfile(catalog / "Apparel" / "101.jpg", catalog / "Apparel" / "900.jpg")
    (catalog / "empty.jpg").write_bytes(b"")
    (catalog / "noise.jpg").write_bytes(np.random.default_rng(0).bytes(2000))

    version = build_bundle(tiny_config(catalog), tmp_path / "b", progress=False)

    report = read_build_report(version)
    assert report["exact_duplicate_groups"] == [["101", "900"]]
    assert len(report["decode_problems"]) == 2
    assert any("empty.jpg" in p for p in report["decode_problems"])
    assert any("noise.jpg" in p for p in report["decode_problems"])
    assert any("3 image(s) have no metadata row" in p for p in report["catalog_problems"])
    assert report["label_columns"][:3] == ["Gender", "ProductType", "Colour"]
    data = read_bundle(tmp_path / "b")
    assert len(data.items) == 25
    assert "empty" not in data.items.ids and "noise" not in data.items.ids
    assert data.items.content_hashes[0] == data.items.content_hashes[data.items.ids.index("900")]
    assert data.config["catalog"] == str(catalog)
    assert len(pretrained_fit["labels"]["Colour"]) == 25  # the unreadable ones never reach fit


def test_second_build_with_the_same_config_reuses_the_trained_encoder(
    tiny_bundle, tmp_path, forbid_training, capsys
):
    catalog = Path(read_bundle(tiny_bundle).config["catalog"])
    workdir = pretrained_workdir(tiny_bundle, tmp_path / "work")

    build_bundle(tiny_config(catalog, workdir), tmp_path / "b", progress=True)

    assert "reusing the trained encoder" in capsys.readouterr().out
    # Same encoder, same images: the same vectors as the bundle that trained it.
    np.testing.assert_allclose(
        read_bundle(tmp_path / "b").embeddings, read_bundle(tiny_bundle).embeddings, atol=1e-5
    )


def test_a_changed_encoder_config_trains_again(tiny_bundle, tmp_path, forbid_training):
    catalog = Path(read_bundle(tiny_bundle).config["catalog"])
    workdir = pretrained_workdir(tiny_bundle, tmp_path / "work")
    config = tiny_config(catalog, workdir)
    config.encoder_options["epochs"] = 3

    with pytest.raises(FitCalled):
        build_bundle(config, tmp_path / "b", progress=False)
    assert not (tmp_path / "b" / "CURRENT").exists()


def test_hiding_more_labels_trains_again(tiny_bundle, tmp_path, forbid_training):
    # The saved encoder saw every label; reusing it after 101 became a test item would leak
    # 101's labels into the evaluation.
    catalog = Path(read_bundle(tiny_bundle).config["catalog"])
    workdir = pretrained_workdir(tiny_bundle, tmp_path / "work")
    split = tmp_path / "split.csv"
    split.write_text("ProductId,split\n101,test\n")

    with pytest.raises(FitCalled):
        build_bundle(
            tiny_config(catalog, workdir, split_csv=str(split)), tmp_path / "b", progress=False
        )


def test_build_trains_saves_and_fingerprints_the_encoder(tiny_bundle):
    marker = tiny_bundle / "work" / "trained" / "cae" / "trained_with.json"

    fingerprint = json.loads(marker.read_text())

    assert fingerprint["config"]["epochs"] == TINY_CAE["epochs"]
    assert fingerprint["config"]["channels"] == TINY_CAE["channels"]
    assert len(fingerprint["labels_sha256"]) == 64
    assert (marker.parent / "encoder.json").is_file()


def test_index_step_requires_a_trained_encoder(tiny_bundle, tmp_path):
    catalog = Path(read_bundle(tiny_bundle).config["catalog"])

    with pytest.raises(ValueError, match="run `train`"):
        build_bundle(
            tiny_config(catalog, tmp_path / "empty-work"),
            tmp_path / "b",
            progress=False,
            reuse_trained="required",
        )


def test_train_only_returns_the_trained_folder_and_writes_no_bundle(
    tiny_bundle, tmp_path, forbid_training
):
    catalog = Path(read_bundle(tiny_bundle).config["catalog"])
    workdir = pretrained_workdir(tiny_bundle, tmp_path / "work")

    result = build_bundle(
        tiny_config(catalog, workdir), tmp_path / "b", progress=False, train_only=True
    )

    assert result == workdir / "trained" / "cae"
    assert not (tmp_path / "b" / "CURRENT").exists()


def test_a_catalog_of_only_unreadable_images_fails_the_build(tmp_path, forbid_training):
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "broken.jpg").write_bytes(b"not a jpeg")

    with pytest.raises(ValueError, match="no readable images"):
        build_bundle(tiny_config(tmp_path / "cat"), tmp_path / "b", progress=False)


def test_unknown_encoder_is_a_value_error(tiny_bundle, tmp_path):
    catalog = Path(read_bundle(tiny_bundle).config["catalog"])

    with pytest.raises(ValueError, match="unknown encoder 'nope'"):
        build_bundle(BuildConfig(catalog=str(catalog), encoder="nope"), tmp_path / "b")


# --- archives: labelled photos that teach the encoder, never indexed ----------------------


def make_archive(root, catalog):
    """An archive folder (labels.csv with lower-case columns and a split column) made of
    catalog photos under new ids: 4 in split 'archive', 2 in 'dev'."""
    from tests.test_labelled import make_labelled_folder

    ids = ["101", "109", "117", "104", "112", "120"]
    splits = ["archive"] * 4 + ["dev"] * 2
    return make_labelled_folder(root, catalog, ids, splits)


def test_an_archive_teaches_the_encoder_and_is_never_indexed(tiny_catalog, tmp_path):
    from lookalike.labelled import read_labelled_photos

    archive = make_archive(tmp_path / "archive", tiny_catalog)
    options = {"input_size": 96, "views": 1, "epochs": 2, "hidden_dim": 16, "head_dim": 8,
               "batch_size": 8, "tune": False}  # fmt: skip
    config = BuildConfig(catalog=str(tiny_catalog), encoder="hybrid", encoder_options=options,
                         archive=str(archive))  # fmt: skip
    out = tmp_path / "b"

    build_bundle(config, out, progress=False)

    data = read_bundle(out)
    expected = read_labelled_photos(archive, split="archive", columns=["ProductType", "Colour"])
    assert data.manifest["archive"]["count"] == 4
    assert data.manifest["archive"]["sha256"] == expected.digest()
    assert data.manifest["archive"]["split"] == "archive"
    assert not any(item_id.startswith("q") for item_id in data.items.ids)
    assert len(data.embeddings) == len(data.items.ids) == 24
    marker = out / "work" / "trained" / "hybrid" / "trained_with.json"
    assert json.loads(marker.read_text())["archive"]["count"] == 4

    # Every photo of the folder (split None): another archive, so the encoder trains again.
    config.archive_split = None
    build_bundle(config, out, progress=False)
    assert read_bundle(out).manifest["archive"]["count"] == 6


def test_without_an_archive_nothing_mentions_one(tiny_bundle):
    data = read_bundle(tiny_bundle)
    assert "archive" not in data.manifest
    fingerprint = tiny_bundle / "work" / "trained" / "cae" / "trained_with.json"
    assert "archive" not in json.loads(fingerprint.read_text())


def test_a_rebuild_collects_the_images_only_pruned_versions_used(bundle_copy, tiny_catalog):
    photo = next(iter(sorted(tiny_catalog.rglob("*.jpg")))).read_bytes()
    add_new_items(bundle_copy, [NewItem("uploaded", photo, name="up.jpg")], store_images=True)
    stored = list((bundle_copy / IMAGES_DIR).iterdir())
    assert stored  # the upload is kept beside the versions
    config = BuildConfig(**read_bundle(bundle_copy).config)

    for _ in range(KEEP_VERSIONS):  # rebuilds push the version that used it out
        build_bundle(config, bundle_copy, progress=False)

    assert not any(path.exists() for path in stored)
    assert find_orphans(bundle_copy).files == []


# --- memory: streaming encode -----------------------------------------------------------------
def _random_catalog(root: Path, n: int) -> Path:
    """``n`` distinct noise photos in a folder (no CSV: ids are the file names)."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(n)
    for i in range(n):
        pixels = rng.integers(0, 256, size=(96, 96, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"p{i:04d}.png")
    return root


def _build_peak_bytes(tmp_path: Path, n: int, monkeypatch) -> tuple[int, dict]:
    """Peak traced memory (numpy included) of a CAE build of ``n`` photos fitted on 16."""
    import functools
    import tracemalloc

    import lookalike.pipeline.build as build_module

    seen = {"fit_decoded": [], "chunks": []}
    real_decode, real_stream = build_module.decode_items, build_module.stream_encode_catalog

    def decode_items(items, *args, **kwargs):
        seen["fit_decoded"].append(len(items))
        return real_decode(items, *args, **kwargs)

    monkeypatch.setattr(build_module, "decode_items", decode_items)
    monkeypatch.setattr(
        build_module, "stream_encode_catalog", functools.partial(real_stream, chunk=16)
    )
    catalog = _random_catalog(tmp_path / f"catalog{n}", n)
    options = {**TINY_CAE, "input_size": 128, "epochs": 1}
    config = BuildConfig(catalog=str(catalog), encoder="cae", encoder_options=options,
                         fit_limit=16, index="flat")  # fmt: skip
    tracemalloc.start()
    try:
        build_bundle(config, tmp_path / f"bundle{n}", progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        monkeypatch.undo()  # the next build wraps the real functions again
    assert len(read_bundle(tmp_path / f"bundle{n}").items) == n
    return peak, seen


def test_build_memory_beyond_the_fit_sample_does_not_grow_with_the_catalog(tmp_path, monkeypatch):
    _build_peak_bytes(tmp_path, 20, monkeypatch)  # one-time allocations (model set-up)
    small, seen_small = _build_peak_bytes(tmp_path, 40, monkeypatch)
    large, seen_large = _build_peak_bytes(tmp_path, 400, monkeypatch)
    # Only the fit sample is decoded whole; every photo is encoded 16 at a time.
    assert seen_small["fit_decoded"] == [16] and seen_large["fit_decoded"] == [16]
    # Holding 360 more decoded photos would add 360 x 128 x 128 x 3 bytes = 17.7 MB; what
    # grows instead (embeddings, ids, tables, the index) stays far below it. A stated bound,
    # not an exact figure: allocations differ a little between runs and machines.
    held_all = 360 * 128 * 128 * 3
    assert large - small < held_all / 4, (small, large)


# --- resume: encoded chunks are kept --------------------------------------------------------
def test_an_interrupted_encode_resumes_from_its_finished_chunks(
    tiny_catalog, tmp_path, monkeypatch
):
    import functools

    import lookalike.pipeline.build as build_module
    import lookalike.pipeline.encoding as encoding

    workdir = tmp_path / "work"
    config = tiny_config(tiny_catalog, workdir)
    decoded_rows: list[int] = []
    real_decode, real_encode = encoding.decode_rows, encoding.encode_rows
    fail_at = {"chunk": 3}

    def decode_rows(batch, *args):
        decoded_rows.extend(int(r) for r in batch["row"])
        return real_decode(batch, *args)

    def encode_rows(encoder, batch):
        fail_at["chunk"] -= 1
        if fail_at["chunk"] == 0:
            raise KeyboardInterrupt  # the build is stopped during its third chunk
        return real_encode(encoder, batch)

    monkeypatch.setattr(encoding, "decode_rows", decode_rows)
    monkeypatch.setattr(encoding, "encode_rows", encode_rows)
    monkeypatch.setattr(
        build_module,
        "stream_encode_catalog",
        functools.partial(encoding.stream_encode_catalog, chunk=4),
    )
    with pytest.raises(KeyboardInterrupt):
        build_bundle(config, tmp_path / "b", progress=False)
    assert not (tmp_path / "b").exists()  # no half bundle
    assert len(list((workdir / "encoded").glob("chunk-*.npz"))) == 2
    # Again: the trained encoder is reused and only the chunks not finished are decoded.
    decoded_rows.clear()
    fail_at["chunk"] = -1
    build_bundle(config, tmp_path / "b", progress=False)
    assert decoded_rows == list(range(8, 24))
    resumed = read_bundle(tmp_path / "b")
    # An unchanged catalog built again decodes nothing.
    decoded_rows.clear()
    build_bundle(config, tmp_path / "c", progress=False)
    assert decoded_rows == []
    again = read_bundle(tmp_path / "c")
    assert again.items.ids == resumed.items.ids
    np.testing.assert_allclose(again.embeddings, resumed.embeddings, atol=1e-6)
    assert len(list((workdir / "encoded").glob("chunk-*.npz"))) == 6
