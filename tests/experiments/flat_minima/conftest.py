"""A tiny flat_minima config (seconds) and its runs, shared by this folder's tests."""

import copy

import pytest

from ...conftest import validated
from .. import run_jobs

QUICK = validated("config/config.yaml")["flat_minima"]
TINY = copy.deepcopy(QUICK)
TINY.update(data=dict(num_samples=500, train_split=0.4, seed=42), width=8, seeds=[0, 1],
            batch_sizes=[8, 32], ref_batch=32, stop_train_loss=2.0, max_steps=200,
            eval_steps=10, hessian=dict(samples=100, iters=5, tol=1e-3, seed=0),
            sharpness=dict(eps=[5e-4, 1e-3], steps=2, optimizer="sign_ascent"),
            slice=dict(points=3, lo=0.0, hi=1.0),
            edge_of_stability=dict(lrs=[0.1, 0.4], seeds=[0, 1], samples=50, stop_train_acc=0.99,
                                   max_time=10.0, eig_time=2.0, iters=5, tol=1e-3))  # fmt: skip


@pytest.fixture
def tiny():
    return copy.deepcopy(TINY)


@pytest.fixture(scope="session")
def tiny_run():
    """{job id: run table} of the tiny config's jobs."""
    return run_jobs("flat_minima", TINY)
