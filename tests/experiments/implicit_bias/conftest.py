"""The .test config's implicit_bias section (seconds), its quick section and its runs, shared
by this folder's tests."""

import copy

import pytest
import yaml

from overparam.experiments import RunContext, get

from ...conftest import ROOT

QUICK = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["implicit_bias"]
TINY = yaml.safe_load((ROOT / ".test" / "config.yaml").read_text())["implicit_bias"]


@pytest.fixture
def tiny():
    return copy.deepcopy(TINY)


@pytest.fixture(scope="session")
def tiny_run():
    """{job id: run table} of the tiny config's jobs."""
    exp = get("implicit_bias")
    ctx = RunContext(device="cpu", threads=1, log=lambda msg: None)
    return {job_id: exp.run(job, ctx) for job_id, job in exp.jobs(TINY).items()}
