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
