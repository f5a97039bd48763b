"""A tiny width_vs_depth config (seconds) and its runs, shared by this folder's tests."""

import copy

import pytest

from ...conftest import validated
from .. import run_jobs

QUICK = validated("config/config.yaml")["width_vs_depth"]
PAPER = validated("config/config.yaml", "config/paper.yaml")["width_vs_depth"]
TINY = copy.deepcopy(QUICK)
TINY.update(data=dict(num_samples=300, train_split=0.8, seed=42), budgets=[20000],
            depths=[1, 2, 3], seeds=[0, 1], epochs=3, eval_every=1)  # fmt: skip
TINY["onepass"].update(data=dict(num_samples=600, train_split=0.8, seed=42), val_samples=100,
                       depths=[2, 3], checkpoints=2)  # fmt: skip


@pytest.fixture
def tiny():
    return copy.deepcopy(TINY)


@pytest.fixture(scope="session")
def tiny_run():
    """{job id: run table} of the tiny config's jobs."""
    return run_jobs("width_vs_depth", TINY)
