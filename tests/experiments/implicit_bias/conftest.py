"""The .test config's implicit_bias section (seconds), its quick section and its runs, shared
by this folder's tests."""

import copy

import pytest
import yaml

from ...conftest import ROOT
from .. import run_jobs

QUICK = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["implicit_bias"]
TINY = yaml.safe_load((ROOT / ".test" / "config.yaml").read_text())["implicit_bias"]


@pytest.fixture
def tiny():
    return copy.deepcopy(TINY)


@pytest.fixture(scope="session")
def tiny_run():
    """{job id: run table} of the tiny config's jobs."""
    return run_jobs("implicit_bias", TINY)
