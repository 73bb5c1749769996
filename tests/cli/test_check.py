"""lookalike.cli.check: `lookalike check`."""

from __future__ import annotations

from lookalike.bundle import EMBEDDINGS, current_version_dir
from tests.cli.conftest import run


def test_check_fails_on_a_corrupted_copy(bundle_copy, capsys):
    path = current_version_dir(bundle_copy) / EMBEDDINGS
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x01
    path.write_bytes(bytes(raw))

    code, stdout, _ = run(capsys, "check", "--bundle", bundle_copy)

    assert code == 1
    assert f"problem: checksum mismatch: {EMBEDDINGS}" in stdout


def test_check_on_a_missing_bundle_exits_1(tmp_path, capsys):
    code, stdout, _ = run(capsys, "check", "--bundle", tmp_path / "none")

    assert code == 1 and "problem: no lookalike bundle" in stdout


def test_check_reports_orphans_and_repair_removes_them(bundle_copy, capsys):
    orphan = bundle_copy / "images" / "0123.jpg"  # an image no version names
    orphan.parent.mkdir()
    orphan.write_bytes(b"left by a killed writer")

    code, stdout, _ = run(capsys, "check", "--bundle", bundle_copy)
    assert code == 0 and "orphans: found 1 orphaned file(s)" in stdout and str(orphan) in stdout
    assert orphan.exists()

    code, stdout, _ = run(capsys, "check", "--bundle", bundle_copy, "--repair")
    assert code == 0 and "repair: removed 1 orphaned file(s)" in stdout
    assert not orphan.exists()
    code, stdout, _ = run(capsys, "check", "--bundle", bundle_copy)
    assert code == 0 and "orphans:" not in stdout
