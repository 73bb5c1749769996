"""Helpers for the command-line tests: run `lookalike` in-process, read its errors."""

from __future__ import annotations

from pathlib import Path

from lookalike.bundle import read_bundle
from lookalike.cli import main

CAE_OPTIONS = [
    "--encoder", "cae", "--input-size", "64", "--epochs", "1",
    "--set", "channels=[8,16,16,16,16]", "--set", "bottleneck_channels=8",
    "--set", "batch_size=8",
]  # fmt: skip


def run(capsys, *argv) -> tuple[int, str, str]:
    """Run `lookalike ARGV` in-process: (exit status, stdout, stderr)."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def catalog_of(bundle: Path) -> Path:
    """The catalog folder a bundle was built from."""
    return Path(read_bundle(bundle).config["catalog"])


def assert_user_error(code: int, err: str, command: str, *words: str) -> None:
    """Exit 2 with exactly one line naming the problem, and no traceback."""
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"lookalike {command}: error: ")
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in err
