"""A tiny lazy_training config (seconds) and its runs, shared by this folder's tests."""

import copy

import pytest

from ...conftest import validated
from .. import run_jobs

QUICK = validated("config/config.yaml")["lazy_training"]
TINY = copy.deepcopy(QUICK)
TINY.update(data=dict(in_dim=4, train=8, test=8, seed=0), widths=[16, 64], seeds=[0, 1],
            steps=20)  # fmt: skip


@pytest.fixture
def tiny():
    return copy.deepcopy(TINY)


@pytest.fixture(scope="session")
def tiny_run():
    """{job id: run table} of the tiny config's jobs."""
    return run_jobs("lazy_training", TINY)
