"""The library stays independent of the workflow's file layout, and experiment modules stay
small enough to read."""

import ast

import pytest

from .conftest import ROOT

SRC = ROOT / "src" / "overparam"
MODULES = sorted(SRC.rglob("*.py"))


def _strings(tree: ast.AST):
    """String constants that are not docstrings (f-string parts included)."""
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docs.add(id(body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield node.lineno, node.value


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_library_names_no_workflow_path(path):
    hits = [
        (line, s)
        for line, s in _strings(ast.parse(path.read_text()))
        if "results/" in s or "figures/" in s
    ]
    assert hits == [], f"{path}: the workflow passes paths in; found {hits}"


def test_the_layout_check_can_fail():
    code = 'def f():\n    "results/ in a docstring is fine"\n    return f"figures/{x}.png"\n'
    assert [s for _, s in _strings(ast.parse(code))] == ["figures/", ".png"]


@pytest.mark.parametrize(
    "path", sorted((SRC / "experiments").rglob("*.py")), ids=lambda p: str(p.relative_to(SRC))
)
def test_experiment_modules_are_small(path):
    assert len(path.read_text().splitlines()) <= 300
