"""lookalike.cli.parsers: the arguments apart from the commands, so help is instant."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from lookalike.cli import commands
from lookalike.cli.parsers import build as build_args
from lookalike.cli.parsers import recommend as recommend_args

HEAVY = ("torch", "faiss", "fastapi", "onnxruntime", "lookalike.recommend", "lookalike.bundle")


def _loaded_after(code: str) -> list[str]:
    """The heavy modules loaded after running ``code`` in a fresh interpreter."""
    probe = (
        f"import sys\n{code}\nprint('loaded:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith("loaded:"), done.stdout + done.stderr
    return [m for m in line.removeprefix("loaded:").split(",") if m]


@pytest.mark.parametrize(
    "argv", [["--help"], ["build", "--help"], ["recommend", "--bogus"], ["serve", "--help"]]
)
def test_help_and_argument_errors_load_no_heavy_module(argv):
    code = f"from lookalike.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"
    assert _loaded_after(code) == []


def test_a_command_that_runs_loads_its_module(tiny_bundle):
    code = f"from lookalike.cli import main\nmain(['check', '--bundle', {str(tiny_bundle)!r}])"
    assert "lookalike.bundle" in _loaded_after(code)


def test_every_subcommand_names_a_function_its_group_has():
    parser = commands.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert len(sub.choices) >= 10
    for name, subparser in sub.choices.items():
        group, function = subparser.get_default("command")
        assert group in commands.COMMAND_GROUPS, name
        assert callable(getattr(commands.command_module(group), function)), name


def test_the_copied_choices_equal_the_real_ones():
    from lookalike.encoders.device import DEVICES
    from lookalike.pipeline import DEFAULT_FIT_LIMIT, ENGINES
    from lookalike.recommend import COMBINE_METHODS

    assert build_args.ENGINES == ENGINES and build_args.DEVICES == DEVICES
    assert build_args.DEFAULT_FIT_LIMIT == DEFAULT_FIT_LIMIT
    assert recommend_args.COMBINE_METHODS == COMBINE_METHODS


def test_the_old_import_paths_of_the_arguments_keep_working():
    from lookalike.cli import build, check, demo, evaluate, recommend, serve, update

    assert build.add_build_arguments is build_args.add_build_arguments
    for module in (build, check, demo, evaluate, recommend, serve, update):
        assert callable(module.add_parsers)
