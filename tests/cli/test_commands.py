"""lookalike.cli.commands: the parser and dispatcher, in-process and as a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lookalike.cli import main


def test_console_script_help_runs_in_a_real_process():
    script = Path(sys.executable).with_name("lookalike")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "lookalike.cli"]

    done = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    for name in ("build", "recommend", "evaluate", "demo", "check"):
        assert name in done.stdout


def test_no_command_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as caught:
        main([])

    assert caught.value.code == 2
    assert "COMMAND" in capsys.readouterr().err
