"""A tiny random_labels config (seconds) and its run, shared by this folder's tests."""

import copy

import pytest

from overparam.experiments import RunContext, get

from ...conftest import validated

QUICK = validated("config/config.yaml")["random_labels"]
TINY = copy.deepcopy(QUICK)
TINY.update(data=dict(num_samples=1000, train_split=0.8, seed=42), n_train=100, widths=[64],
            seeds=[0, 1], label_fractions=[0.0, 0.5, 1.0], batch_size=50, max_epochs=150)  # fmt: skip


@pytest.fixture
def tiny():
    return copy.deepcopy(TINY)


@pytest.fixture(scope="session")
def tiny_run():
    """The run table of the tiny config's one job."""
    exp = get("random_labels")
    ctx = RunContext(device="cpu", threads=1, log=lambda msg: None)
    ((job_id, job),) = exp.jobs(TINY).items()
    return exp.run(job, ctx)
