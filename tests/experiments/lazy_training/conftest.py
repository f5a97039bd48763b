"""A tiny lazy_training config (seconds) and its runs, shared by this folder's tests."""

import copy

import pytest
import yaml

from overparam.experiments import RunContext, get

from ...conftest import ROOT

QUICK = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["lazy_training"]
TINY = copy.deepcopy(QUICK)
TINY.update(data=dict(in_dim=4, train=8, test=8, seed=0), widths=[16, 64], seeds=[0, 1],
            steps=20)  # fmt: skip


@pytest.fixture
def tiny():
    return copy.deepcopy(TINY)


@pytest.fixture(scope="session")
def tiny_run():
    """{job id: run table} of the tiny config's jobs."""
    exp = get("lazy_training")
    ctx = RunContext(device="cpu", threads=1, log=lambda msg: None)
    return {job_id: exp.run(job, ctx) for job_id, job in exp.jobs(TINY).items()}
