"""A tiny lottery_ticket config (seconds per job) and its runs, shared by this folder's tests."""

import copy

import pytest

from overparam.data import save_npz
from overparam.experiments import RunContext, get

from ...conftest import with_defaults

TINY = with_defaults(
    "lottery_ticket",
    dict(
        data=dict(num_samples=1000, train_split=0.8, seed=42),
        val_size=200,
        seeds=[0, 1],
        networks={"mlp": [16, 16]},
        rewind_steps=[0, 12],
        rounds=3,
        prune_rate=0.2,
        prune_rate_output=0.1,
        pruning="layerwise",
        optimizer="adam",
        lr=0.005,
        batch_size=100,
        epochs=6,
        eval_every_steps=6,
        claims_setup=dict(
            match_min_remaining=0.2,
            early_stop_remaining=[0.2, 1.0],
            max_diverged_frac=0.1,
            match_tolerance_sd=1.0,
        ),
        claims={
            c: dict(source="s", statement="t", metric="m", comparison=">=", threshold=0.0)
            for c in ("matches_dense", "beats_controls", "earlier_stop")
        },
    ),
)


@pytest.fixture
def tiny():
    """A fresh copy of the tiny config (tests may change it)."""
    return copy.deepcopy(TINY)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """The tiny config's MNIST-1D, cached as the pipeline caches it (generating it takes
    seconds)."""
    job = next(iter(get("lottery_ticket").specs(TINY)))
    path = tmp_path_factory.mktemp("lt_data") / "mnist1d.npz"
    save_npz(path, job.data.load())
    return path


@pytest.fixture(scope="session")
def tiny_run(tiny_data):
    """{rewind step: run table} of the tiny config's jobs."""
    exp = get("lottery_ticket")
    ctx = RunContext(device="cpu", threads=1, inputs={"data": tiny_data}, log=lambda msg: None)
    return {job.rewind_step: exp.run(job, ctx) for job in exp.specs(TINY)}
