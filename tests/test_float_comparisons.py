"""No test compares a computed float exactly: float kernels differ between CPUs, so an exact
comparison that passes on one machine can fail on another (a distance of 2e-6 for 0.0).

This scans the test files' ``==`` / ``!=`` comparisons for the two shapes that did it: a float
literal on one side (``distance == 0.0``, ``P@1 == 1.0``), and a distance or score read from a
result on one side. Such values go through :mod:`tests.tolerances` (``approx``,
``approx_tree``) or ``np.testing.assert_allclose``.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
#: Attributes and keys that hold computed distances or scores.
COMPUTED = {"distance", "distances", "score", "scores"}


def _is_float_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, float)


def _reads_computed(node: ast.AST) -> bool:
    # A function of a distance (its match word, a count) is no longer the float itself.
    if isinstance(node, ast.Call):
        return False
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and sub.attr in COMPUTED:
            return True
        if (
            isinstance(sub, ast.Subscript)
            and isinstance(sub.slice, ast.Constant)
            and sub.slice.value in COMPUTED
        ):
            return True
    return False


def _wrapped_in_approx(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    name = getattr(node.func, "id", None) or getattr(node.func, "attr", "")
    # ``sorted``: an ordering check compares a list with itself, reordered.
    return name in {"approx", "approx_tree", "sorted"}


def exact_float_comparisons(source: str) -> list[int]:
    """Line numbers of ``==`` / ``!=`` comparisons in ``source`` that compare a float
    literal, or a result's distance or score, without a tolerance."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
            if not isinstance(op, ast.Eq | ast.NotEq):
                continue
            if _wrapped_in_approx(left) or _wrapped_in_approx(right):
                continue
            if _is_float_literal(left) or _is_float_literal(right):
                lines.append(node.lineno)
            elif _reads_computed(left) or _reads_computed(right):
                lines.append(node.lineno)
    return sorted(set(lines))


def test_the_scan_finds_both_shapes():
    assert exact_float_comparisons("assert found[0]['distance'] == 0.0") == [1]
    assert exact_float_comparisons("assert [r.distance for r in a] == b") == [1]
    assert exact_float_comparisons("assert m['P@1'] == 1.0") == [1]
    assert exact_float_comparisons("assert d == approx(0.0)\nassert d == sorted(d)") == []
    assert exact_float_comparisons("assert x.distance < 1e-3 and n == 2") == []


def test_no_test_compares_a_computed_float_exactly():
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        if path.name == Path(__file__).name:
            continue
        for line in exact_float_comparisons(path.read_text()):
            found.append(f"{path.relative_to(TESTS)}:{line}")
    assert found == [], "compare with tests.tolerances.approx / approx_tree: " + ", ".join(found)
