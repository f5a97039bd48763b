"""The code habits, checked by the test suite (so CI runs them): ruff lint and format over
src, tests, workflow scripts and benchmarks; snakefmt over the Snakefile and rules; mypy over
the library. Configured in pyproject.toml."""

import subprocess
import sys

import pytest

from .conftest import ROOT

CHECKS = {
    "ruff check": [sys.executable, "-m", "ruff", "check", "."],
    "ruff format": [sys.executable, "-m", "ruff", "format", "--check", "."],
    "snakefmt": [sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow/rules"],
    "mypy": [sys.executable, "-m", "mypy"],
}


@pytest.mark.parametrize("name", CHECKS)
def test_clean(name):
    out = subprocess.run(CHECKS[name], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{name} is not clean:\n{out.stdout[-4000:]}\n{out.stderr[-2000:]}"


MAX_FUNCTION_LINES = 80  # a function you can read on one screen
# functions allowed to be longer, each with its reason (none today)
LONG_FUNCTIONS: dict[str, str] = {}


def test_no_function_in_the_library_is_longer_than_a_screen():
    import ast

    long = {}
    for path in sorted((ROOT / "src" / "overparam").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                name = f"{path.relative_to(ROOT / 'src')}:{node.name}"
                if lines > MAX_FUNCTION_LINES and name not in LONG_FUNCTIONS:
                    long[name] = lines
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines (split them): {long}"
