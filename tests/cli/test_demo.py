"""lookalike.cli.demo: `lookalike demo`."""

from __future__ import annotations

from tests.cli.conftest import run
from tests.conftest import make_catalog


def test_demo_builds_once_then_reuses(tmp_path, capsys):
    catalog = make_catalog(tmp_path / "cat")
    out = tmp_path / "demo"
    argv = ["demo", catalog, "--out", out, "--encoder", "efficientnet-lite0"]
    argv += ["--queries", "2", "-k", "3"]

    code, stdout, _ = run(capsys, *argv)

    assert code == 0
    assert "building a efficientnet-lite0 bundle" in stdout
    assert stdout.count("\nquery: ") == 2
    assert (out / "demo_grid.png").is_file()
    assert f"result grid: {out / 'demo_grid.png'}" in stdout

    code, stdout, _ = run(capsys, *argv)

    assert code == 0
    assert "reusing the bundle" in stdout and "building" not in stdout
    assert stdout.count("\nquery: ") == 2


def test_demo_learns_from_the_shopper_photo_archive_of_the_reference_catalog(tmp_path):
    import argparse

    from lookalike.cli.common import SHARED_CATALOG
    from lookalike.cli.demo import SHOPPER_PHOTOS, demo_archive

    def args(**given):
        return argparse.Namespace(**{"archive": None, "no_archive": False, **given})

    shopper = SHARED_CATALOG.parent / SHOPPER_PHOTOS
    expected = shopper if (shopper / "labels.csv").is_file() else None
    assert demo_archive(args(), SHARED_CATALOG) == expected
    assert demo_archive(args(no_archive=True), SHARED_CATALOG) is None
    assert demo_archive(args(), tmp_path) is None  # another catalog: no default archive
    assert demo_archive(args(archive=[tmp_path]), tmp_path) == tmp_path


def test_demo_learns_from_every_labelled_folder_beside_the_reference_catalog(tmp_path):
    import argparse

    from lookalike.cli.common import SHARED_CATALOG
    from lookalike.cli.demo import DEMO_ARCHIVES, demo_archives

    def args(**given):
        return argparse.Namespace(**{"archive": None, "no_archive": False, **given})

    present = [
        SHARED_CATALOG.parent / name
        for name in DEMO_ARCHIVES
        if (SHARED_CATALOG.parent / name / "labels.csv").is_file()
    ]
    assert demo_archives(args(), SHARED_CATALOG) == present
    assert demo_archives(args(archive=[tmp_path, tmp_path]), tmp_path) == [tmp_path, tmp_path]
    assert demo_archives(args(no_archive=True), SHARED_CATALOG) == []
