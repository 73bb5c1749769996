"""No module grows past a size one can read in a sitting (issue 28).

Every Python module of the package stays at or under 500 lines and every script of the web
page at or under 600; a module that outgrows that is split along its seams (old import paths
re-exported, see tests/test_public_api.py). Nothing is exempt.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import lookalike

PACKAGE_DIR = Path(lookalike.__file__).resolve().parent
STATIC_DIR = PACKAGE_DIR / "server" / "static"

#: (files, the most lines one may have)
LIMITS = {
    "Python module": (sorted(PACKAGE_DIR.rglob("*.py")), 500),
    "page script": (sorted(STATIC_DIR.rglob("*.js")), 600),
}


def _lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


@pytest.mark.parametrize("kind", sorted(LIMITS))
def test_no_file_is_over_its_line_limit(kind):
    files, limit = LIMITS[kind]
    assert files, f"no {kind} found"
    over = [
        f"{path.relative_to(PACKAGE_DIR.parent)} ({n} lines)"
        for path in files
        if (n := _lines(path)) > limit
    ]
    assert over == [], f"{kind}s over {limit} lines: {', '.join(over)}"
