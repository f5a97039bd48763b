"""A tiny width_vs_depth config (seconds) and its runs, shared by this folder's tests."""

import copy

import pytest
import yaml

from ...conftest import ROOT, shipped_config
from .. import run_jobs

QUICK = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["width_vs_depth"]
PAPER = shipped_config("config/paper.yaml")["width_vs_depth"]
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
