"""lookalike.bundle: atomic versioned bundles, their manifest and integrity checks."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from lookalike.bundle import (
    CONFIG,
    CURRENT,
    EMBEDDINGS,
    FORMAT_VERSION,
    ITEMS,
    MANIFEST,
    VERSIONS,
    BundleError,
    BundleWriter,
    ItemTable,
    check_bundle,
    current_version_dir,
    read_bundle,
    sha256_file,
)


def table(n: int, prefix: str = "") -> ItemTable:
    return ItemTable(
        ids=[f"{prefix}{i}" for i in range(n)],
        paths=[f"/img/{prefix}{i}.jpg" for i in range(n)],
        metadata=[{"Colour": "Red" if i % 2 else "Blue"} for i in range(n)],
        content_hashes=[f"h{prefix}{i}" for i in range(n)],
    )


def write_version(bundle_dir, n: int, marker: str):
    """Commit a minimal version (config, items, embeddings) whose config names ``marker``."""
    with BundleWriter(bundle_dir) as writer:
        writer.write_json(CONFIG, {"marker": marker})
        writer.write_items(table(n), np.arange(n * 3, dtype=np.float32).reshape(n, 3))
        return writer.commit({"note": marker})


def version_names(bundle_dir) -> list[str]:
    return sorted(p.name for p in (bundle_dir / VERSIONS).iterdir())


# --- writing ----------------------------------------------------------------------------------
def test_commit_publishes_a_new_version_and_swaps_current(tmp_path):
    bundle = tmp_path / "b"
    first = write_version(bundle, 3, "one")

    assert first == bundle / VERSIONS / "v000001"
    assert (bundle / CURRENT).read_text().strip() == "v000001"
    assert read_bundle(bundle).config == {"marker": "one"}

    second = write_version(bundle, 4, "two")

    assert second.name == "v000002"
    assert (bundle / CURRENT).read_text().strip() == "v000002"
    data = read_bundle(bundle)
    assert data.config == {"marker": "two"}
    assert len(data.items) == 4 and data.embeddings.shape == (4, 3)
    assert data.manifest["note"] == "two"
    # Nothing temporary is left behind: no staging folder, no pointer temp file.
    assert version_names(bundle) == ["v000001", "v000002"]
    assert sorted(p.name for p in bundle.iterdir()) == [CURRENT, VERSIONS]


def test_a_writer_that_fails_leaves_the_old_version_live_and_no_staging(tmp_path):
    bundle = tmp_path / "b"
    write_version(bundle, 3, "good")

    with pytest.raises(RuntimeError, match="killed mid-build"):
        with BundleWriter(bundle) as writer:
            writer.write_json(CONFIG, {"marker": "broken"})
            writer.write_items(table(5), np.zeros((5, 3), np.float32))
            assert writer.staging.is_dir()
            raise RuntimeError("killed mid-build")

    assert not writer.staging.exists()
    assert version_names(bundle) == ["v000001"]
    assert read_bundle(bundle).config == {"marker": "good"}


def test_leaving_the_block_without_commit_publishes_nothing(tmp_path):
    bundle = tmp_path / "b"
    with BundleWriter(bundle) as writer:
        writer.write_json(CONFIG, {})
        writer.write_items(table(2), np.zeros((2, 3), np.float32))

    assert not (bundle / CURRENT).exists()
    assert version_names(bundle) == []
    with pytest.raises(BundleError):
        read_bundle(bundle)


def test_write_items_refuses_misaligned_embeddings(tmp_path):
    with BundleWriter(tmp_path / "b") as writer:
        with pytest.raises(BundleError, match="3 items but 2 embeddings"):
            writer.write_items(table(3), np.zeros((2, 4), np.float32))


def test_prune_keeps_the_two_newest_versions(tmp_path):
    bundle = tmp_path / "b"
    for n, marker in enumerate(("a", "b", "c", "d"), start=1):
        write_version(bundle, n, marker)

    assert version_names(bundle) == ["v000003", "v000004"]
    assert read_bundle(bundle).config == {"marker": "d"}


def test_link_from_reuses_files_of_another_version(tmp_path):
    bundle = tmp_path / "b"
    first = write_version(bundle, 2, "one")
    with BundleWriter(bundle) as writer:
        writer.link_from(first, [CONFIG, ITEMS, EMBEDDINGS, "absent.json"])
        second = writer.commit()

    assert (second / ITEMS).read_bytes() == (first / ITEMS).read_bytes()
    assert not (second / "absent.json").exists()
    assert read_bundle(bundle).config == {"marker": "one"}


# --- reading ----------------------------------------------------------------------------------
def test_read_bundle_of_a_missing_folder_says_how_to_make_one(tmp_path):
    with pytest.raises(BundleError) as caught:
        read_bundle(tmp_path / "nothing-here")

    message = str(caught.value)
    assert "no lookalike bundle" in message
    assert "nothing-here" in message
    assert "lookalike build" in message


def test_current_naming_a_missing_version_is_a_bundle_error(tmp_path):
    bundle = tmp_path / "b"
    write_version(bundle, 2, "x")
    (bundle / CURRENT).write_text("v000009\n")

    with pytest.raises(BundleError, match="missing version 'v000009'"):
        current_version_dir(bundle)


def test_newer_format_is_refused(bundle_copy):
    version = current_version_dir(bundle_copy)
    manifest = json.loads((version / MANIFEST).read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    (version / MANIFEST).write_text(json.dumps(manifest))

    with pytest.raises(BundleError, match="upgrade lookalike"):
        read_bundle(bundle_copy)


def test_damaged_items_json_is_a_bundle_error(bundle_copy):
    (current_version_dir(bundle_copy) / ITEMS).write_text("{not json")

    with pytest.raises(BundleError, match="incomplete or damaged"):
        read_bundle(bundle_copy)


# --- manifest and integrity -------------------------------------------------------------------
def test_manifest_records_format_versions_counts_and_checksums(tiny_bundle):
    version = current_version_dir(tiny_bundle)
    manifest = json.loads((version / MANIFEST).read_text())

    assert manifest["format_version"] == FORMAT_VERSION
    assert {"python", "numpy", "torch", "lookalike"} <= set(manifest["library_versions"])
    assert manifest["counts"] == {"items": 24, "embeddings": 24, "photos": 24}
    assert manifest["encoder"]["name"] == "cae"
    files = manifest["files"]
    on_disk = {str(p.relative_to(version)) for p in version.rglob("*") if p.is_file()} - {MANIFEST}
    assert set(files) == on_disk
    for rel, entry in files.items():
        assert entry["sha256"] == sha256_file(version / rel), rel
        assert entry["bytes"] == (version / rel).stat().st_size


def test_bundle_files_need_no_pickle(tiny_bundle):
    version = current_version_dir(tiny_bundle)

    embeddings = np.load(version / EMBEDDINGS, allow_pickle=False)
    assert embeddings.dtype == np.float32 and embeddings.shape[0] == 24
    json.loads((version / ITEMS).read_text())
    suffixes = {p.suffix for p in version.rglob("*") if p.is_file()}
    assert not suffixes & {".pkl", ".pickle", ".pt", ".pth", ".joblib"}


def test_check_passes_on_a_good_bundle(tiny_bundle):
    assert check_bundle(tiny_bundle) == []


def test_check_finds_a_flipped_byte_in_the_embeddings(bundle_copy):
    path = current_version_dir(bundle_copy) / EMBEDDINGS
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x01  # a mantissa bit of the last vector: still a valid, finite .npy
    path.write_bytes(bytes(raw))

    problems = check_bundle(bundle_copy)

    assert problems == [f"checksum mismatch: {EMBEDDINGS}"]


def test_check_finds_a_missing_file(bundle_copy):
    (current_version_dir(bundle_copy) / "index" / "index.faiss").unlink()

    problems = check_bundle(bundle_copy)

    assert "missing file index/index.faiss" in problems
    assert any(p.startswith("index does not load") for p in problems)


def test_check_reports_a_missing_bundle_instead_of_raising(tmp_path):
    problems = check_bundle(tmp_path / "absent")

    assert len(problems) == 1 and "no lookalike bundle" in problems[0]


def test_the_bundle_copy_fixture_is_independent_of_the_session_bundle(tiny_bundle, bundle_copy):
    # Guards the other tests: damaging the copy must not touch the shared bundle's inodes.
    a = current_version_dir(tiny_bundle) / EMBEDDINGS
    b = current_version_dir(bundle_copy) / EMBEDDINGS
    assert os.stat(a).st_ino != os.stat(b).st_ino
    shutil.rmtree(current_version_dir(bundle_copy))
    assert check_bundle(tiny_bundle) == []


# --- ItemTable --------------------------------------------------------------------------------
def test_item_table_select_keeps_rows_in_the_given_order():
    selected = table(5).select(np.array([3, 0]))

    assert selected.ids == ["3", "0"]
    assert selected.paths == ["/img/3.jpg", "/img/0.jpg"]
    assert selected.metadata == [{"Colour": "Red"}, {"Colour": "Blue"}]
    assert selected.content_hashes == ["h3", "h0"]


def test_item_table_extend_appends_and_drops_partial_hashes():
    joined = table(2).extend(table(1, prefix="x"))
    assert joined.ids == ["0", "1", "x0"]
    assert joined.content_hashes == ["h0", "h1", "hx0"]

    no_hashes = ItemTable(["y"], ["/y.jpg"], [{}])
    mixed = table(2).extend(no_hashes)
    assert len(mixed) == 3
    assert mixed.content_hashes == []


def test_item_table_json_round_trip_and_length_checks():
    original = table(3)
    assert ItemTable.from_json(json.loads(json.dumps(original.to_json()))) == original

    payload = original.to_json()
    payload["paths"] = payload["paths"][:2]
    with pytest.raises(BundleError, match="differ in length"):
        ItemTable.from_json(payload)

    payload = original.to_json()
    payload["content_hashes"] = ["only-one"]
    with pytest.raises(BundleError, match="content_hashes"):
        ItemTable.from_json(payload)


def test_item_table_from_json_turns_numeric_ids_into_strings():
    loaded = ItemTable.from_json({"ids": [7, 8], "paths": ["a", "b"], "metadata": [{}, {}]})

    assert loaded.ids == ["7", "8"]
    assert loaded.content_hashes == []


# --- garbage collection (issue 15) ---------------------------------------------------------------
def _gc_bundle(tmp_path):
    """A stand-in bundle: two kept versions naming images a.jpg and b.jpg under images/."""
    from lookalike.bundle import IMAGES_DIR, ITEMS, VERSIONS

    bundle = tmp_path / "bundle"
    images = bundle / IMAGES_DIR
    images.mkdir(parents=True)
    for name in ("a.jpg", "b.jpg", "orphan.jpg"):
        (images / name).write_bytes(name.encode())
    for version, names in (("v000001", ["a.jpg"]), ("v000002", ["a.jpg", "b.jpg"])):
        folder = bundle / VERSIONS / version
        folder.mkdir(parents=True)
        paths = [str(images / n) for n in names]
        payload = {"ids": names, "paths": paths, "metadata": [{} for _ in names]}
        (folder / ITEMS).write_text(json.dumps(payload))
    (bundle / "CURRENT").write_text("v000002\n")
    return bundle, images


def test_find_orphans_lists_only_what_no_kept_version_uses(tmp_path):
    from lookalike.bundle import THUMBNAILS_DIR, find_orphans, thumbnail_source_key

    bundle, images = _gc_bundle(tmp_path)
    thumbs = bundle / THUMBNAILS_DIR / "ab"
    thumbs.mkdir(parents=True)
    used = thumbs / f"{thumbnail_source_key(images / 'b.jpg')}-0000abcd.jpg"
    stale = thumbs / f"{'f' * 32}-0000abcd.jpg"  # a removed or changed source
    fresh_tmp = thumbs / ".tmp-12345.jpg"  # an atomic write in progress: kept
    for path in (used, stale, fresh_tmp):
        path.write_bytes(b"jpeg")
    report = find_orphans(bundle)
    assert sorted(p.name for p in report.files) == sorted(["orphan.jpg", stale.name])
    assert report.bytes == len(b"orphan.jpg") + 4 and not report.removed
    assert (images / "orphan.jpg").exists()  # listing removes nothing


def test_collect_garbage_removes_orphans_under_the_lock(tmp_path):
    from lookalike.bundle import BundleBusyError, bundle_lock, collect_garbage, find_orphans

    bundle, images = _gc_bundle(tmp_path)
    with bundle_lock(bundle), pytest.raises(BundleBusyError):
        collect_garbage(bundle, lock_timeout=0.1)  # another writer holds the lock
    assert (images / "orphan.jpg").exists()
    report = collect_garbage(bundle)
    assert report.removed and [p.name for p in report.files] == ["orphan.jpg"]
    assert sorted(p.name for p in images.iterdir()) == ["a.jpg", "b.jpg"]
    assert find_orphans(bundle).files == []


def test_collect_garbage_keeps_everything_when_a_version_is_unreadable(tmp_path):
    from lookalike.bundle import ITEMS, VERSIONS, collect_garbage

    bundle, images = _gc_bundle(tmp_path)
    (bundle / VERSIONS / "v000001" / ITEMS).write_text("{broken")
    with pytest.raises(BundleError, match="cannot read"):
        collect_garbage(bundle)
    assert len(list(images.iterdir())) == 3
