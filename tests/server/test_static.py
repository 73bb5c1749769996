"""The page's scripts stay small, served and packaged: app.js is the entry ES module and every
module it imports (directly or not) must come back from ``/static`` as JavaScript, no script
may grow past 600 lines, no module under ``static/`` may be left unimported, and the wheel's
package-data must carry them all."""

from __future__ import annotations

import posixpath
import re
import tomllib
from pathlib import Path

from lookalike.server.routes.pages import STATIC_DIR

MAX_LINES = 600
JS_TYPES = ("text/javascript", "application/javascript")
ROOT = Path(__file__).resolve().parents[2]
# `import ... from "x"`, `export ... from "x"`, `import "x"` and `import("x")`.
IMPORT = re.compile(r"""\b(?:from|import)\s*\(?\s*["']([^"']+)["']""")
MODULE_TAG = re.compile(r"""<script\b[^>]*\btype="module"[^>]*\bsrc="([^"]+)\"""")


def scripts_on_disk() -> set[str]:
    return {str(p.relative_to(STATIC_DIR).as_posix()) for p in STATIC_DIR.rglob("*.js")}


def test_no_script_is_longer_than_600_lines():
    lengths = {
        name: len((STATIC_DIR / name).read_text(encoding="utf-8").splitlines())
        for name in scripts_on_disk()
    }
    assert "app.js" in lengths
    too_long = {name: n for name, n in lengths.items() if n > MAX_LINES}
    assert too_long == {}, f"split these scripts (at most {MAX_LINES} lines): {too_long}"


def test_every_module_the_page_imports_is_served_as_javascript(client):
    page = client.get("/").text
    entries = MODULE_TAG.findall(page)
    assert entries == ["static/app.js"], entries
    assert "<script src=" not in page  # one entry module, no classic scripts
    todo = [posixpath.normpath(f"/{src}") for src in entries]
    served: set[str] = set()
    while todo:
        url = todo.pop()
        if url in served:
            continue
        response = client.get(url)
        assert response.status_code == 200, url
        media_type = response.headers["content-type"].split(";")[0].strip()
        assert media_type in JS_TYPES, (url, media_type)  # browsers refuse modules otherwise
        served.add(url)
        for spec in IMPORT.findall(response.text):
            # No bundler and no import map: every import is a relative path to a file.
            assert spec.startswith(("./", "../")) and spec.endswith(".js"), (url, spec)
            todo.append(posixpath.normpath(posixpath.join(posixpath.dirname(url), spec)))
    assert len(served) > 1
    # Every script under static/ is reached from the entry module (none left behind).
    assert {f"/static/{name}" for name in scripts_on_disk()} == served


def test_package_data_carries_every_static_file():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["lookalike.server"]
    package = STATIC_DIR.parent
    # setuptools expands each pattern with glob, relative to the package ("*" stays in a folder).
    packaged = {path for pattern in patterns for path in package.glob(pattern) if path.is_file()}
    missing = sorted(
        path.relative_to(package).as_posix()
        for path in STATIC_DIR.rglob("*")
        if path.is_file() and path not in packaged
    )
    assert missing == [], f"add these to package-data in pyproject.toml: {missing}"
