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
