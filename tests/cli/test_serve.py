"""lookalike.cli.serve: `lookalike serve` refuses bad options with one line (the server
itself is tested in tests/server/)."""

from __future__ import annotations

from lookalike.cli import main


def test_cli_serve_user_errors(tmp_path, capsys):
    assert main(["serve", "--bundle", str(tmp_path / "none")]) == 2
    assert "no lookalike bundle" in capsys.readouterr().err
    assert main(["serve", "--bundle", str(tmp_path), "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err
    assert main(["serve", "--bundle", str(tmp_path), "--max-upload-mb", "0"]) == 2
    assert "--max-upload-mb" in capsys.readouterr().err
