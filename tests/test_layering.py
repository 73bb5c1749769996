"""The package's import graph: data flows one way, with no cycles.

Every ``lookalike`` module is given a layer in data-flow order (catalog -> imaging -> encoders
-> embeddings -> index -> bundle -> pipeline/recommend -> personal -> cli/server). A module may
import modules of its own layer or below, never above; imports of ``lookalike`` modules sit at
module level (the two exceptions below say why); and every module imports on its own.
The same graph, cycles only: ``python3 ../shared/tools/import_cycles.py lookalike``.
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

import lookalike

PACKAGE_DIR = Path(lookalike.__file__).resolve().parent

#: Layer of each module, by longest matching name prefix (lower = further upstream).
LAYERS = {
    # pure helpers over files and arrays, usable by every layer
    "lookalike.files": 0,
    "lookalike.threads": 0,
    "lookalike.allocator": 0,
    "lookalike.neighbours": 0,
    "lookalike.expansion": 0,
    "lookalike.evaluation": 0,
    "lookalike.degrade": 0,
    "lookalike.extras": 0,
    "lookalike.ids": 0,
    "lookalike.garment_boxes": 0,
    "lookalike.csr": 0,
    "lookalike.events": 0,
    "lookalike.purchase_simulator": 0,
    "lookalike.catalog": 1,
    "lookalike.labelled": 2,
    "lookalike.imaging": 2,
    "lookalike.grid": 3,
    "lookalike.encoders": 4,
    "lookalike.parsing": 4,
    "lookalike.index": 5,
    "lookalike.bundle": 6,
    "lookalike.dedup": 7,
    "lookalike.distributed": 8,
    "lookalike.pipeline": 8,
    "lookalike.updates": 8,
    "lookalike.recommend": 8,
    "lookalike.personal": 9,
    "lookalike.personal_sources": 9,
    "lookalike.personal_candidates": 9,
    "lookalike.personal_trees": 9,
    "lookalike.personal_ensemble": 9,
    "lookalike.personal_fit": 9,
    "lookalike.personal_ranker": 9,
    "lookalike.report": 9,
    "lookalike.personal_eval": 10,
    "lookalike.personal_time": 10,
    "lookalike.server": 11,
    "lookalike.cli": 12,
    "lookalike": 13,  # the package's own __init__ (lookalike.load)
}

#: Imports that stay inside a function, and why.
DEFERRED_IMPORTS = {
    # `import lookalike` must not load PyTorch and faiss for every submodule's sake.
    ("lookalike", "lookalike.recommend"),
    # The thread settings of `lookalike serve` must precede loading faiss and PyTorch.
    ("lookalike.cli", "lookalike.cli.commands"),
    # The CLI's one exception, where it dispatches: `--help` and argument errors must not
    # load faiss, PyTorch and FastAPI; only the command that runs imports its module.
    *(
        ("lookalike.cli.commands", f"lookalike.cli.{group}")
        for group in ("build", "recommend", "evaluate", "demo", "check", "serve", "update")
    ),
    ("lookalike.cli.commands", "lookalike.recommend"),
}


def _module_names() -> list[str]:
    names = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts[-1] != "__main__":
            names.append(".".join(parts))
    return names


MODULES = _module_names()


def _path(module: str) -> Path:
    base = PACKAGE_DIR.parent.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def _layer(module: str) -> int:
    prefix = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[prefix]


def _imports(module: str) -> list[tuple[str, bool]]:
    """(imported lookalike module, at module level?) for every import in ``module``."""
    path = _path(module)
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # `if TYPE_CHECKING:` blocks count as module level, not imported
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            top_level |= {id(n) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        else:
            continue
        if "TYPE_CHECKING" in ast.dump(node):
            continue
        for target in targets:
            if target == "lookalike" or target.startswith("lookalike."):
                found.append((target, id(node) in top_level))
    return found


def test_every_module_is_listed_in_a_layer():
    assert all(_layer(m) is not None for m in MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_imports_point_down_the_data_flow(module):
    upward = [
        target
        for target, _ in _imports(module)
        if _layer(target) > _layer(module) and not target.startswith(module + ".")
    ]
    assert upward == [], f"{module} (layer {_layer(module)}) imports upstream modules {upward}"


@pytest.mark.parametrize("module", MODULES)
def test_lookalike_imports_sit_at_module_level(module):
    deferred = [
        target
        for target, top in _imports(module)
        if not top and (module, target) not in DEFERRED_IMPORTS
    ]
    assert deferred == [], f"{module} imports {deferred} inside a function"


@pytest.mark.parametrize("module", MODULES)
def test_no_module_imports_lookalike_modules_by_name_at_run_time(module):
    # importlib.import_module("lookalike....") would hide an import (and a registration by
    # import side effect) from the checks above.
    tree = ast.parse(_path(module).read_text())
    dynamic = [
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
        and node.args
        and isinstance(node.args[0], ast.Constant | ast.JoinedStr)
        and "lookalike" in ast.dump(node.args[0])
    ]
    assert dynamic == [], f"{module} imports {dynamic} by name"


def test_no_import_cycles():
    graph = {
        m: {t for t, _ in _imports(m) if t in MODULES and t != m and not t.startswith(m + ".")}
        for m in MODULES
    }
    visiting, done, cycles = [], set(), []

    def visit(node: str) -> None:
        if node in done:
            return
        if node in visiting:
            cycles.append(visiting[visiting.index(node) :] + [node])
            return
        visiting.append(node)
        for target in sorted(graph[node]):
            visit(target)
        visiting.pop()
        done.add(node)

    for module in MODULES:
        visit(module)
    assert cycles == []


@pytest.mark.parametrize("module", MODULES)
def test_every_module_imports_on_its_own(module):
    # Drop every loaded lookalike module (third-party ones stay: they cannot be unloaded).
    saved = {name: mod for name, mod in sys.modules.items() if name.startswith("lookalike")}
    for name in saved:
        del sys.modules[name]
    try:
        importlib.import_module(module)
    finally:
        for name in [n for n in sys.modules if n.startswith("lookalike")]:
            del sys.modules[name]
        sys.modules.update(saved)
