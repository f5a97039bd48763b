"""The .test config's implicit_bias section (seconds), its quick section and its runs, shared
by this folder's tests."""

import copy

import pytest

from ...conftest import validated
from .. import run_jobs

QUICK = validated("config/config.yaml")["implicit_bias"]
TINY = validated(".test/config.yaml")["implicit_bias"]


@pytest.fixture
def tiny():
    return copy.deepcopy(TINY)


@pytest.fixture(scope="session")
def tiny_run():
    """{job id: run table} of the tiny config's jobs."""
    return run_jobs("implicit_bias", TINY)
