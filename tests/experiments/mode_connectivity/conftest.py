"""A tiny mode_connectivity config (seconds) and its runs, shared by this folder's tests."""

import copy

import pytest

from overparam.data import save_npz
from overparam.experiments import RunContext, get

from ...conftest import validated

QUICK = validated("config/config.yaml")["mode_connectivity"]
TINY = copy.deepcopy(QUICK)
TINY.update(
    data=dict(num_samples=600, train_split=0.8, seed=42),
    widths=[8, 24],
    pairs=2,
    train=dict(epochs=3, lr=0.05, momentum=0.9, batch_size=100, lr_schedule="linear"),
    alphas=6,
    bezier=dict(
        width=24,
        epochs=2,
        lr=0.015,
        momentum=0.9,
        weight_decay=5e-4,
        lr_schedule="garipov",
        batch_size=100,
        points=5,
        seed=0,
    ),
    stability=dict(
        width=8,
        pairs=2,
        spawn_epochs=[0, 1],
        lr_grid=[0.01, 0.05],
        select_seeds=1,
        val_fraction=0.2,
        val_seed=0,
    ),
)
TINY["demo"] = dict(TINY["demo"], grid_points=11, pairs=2)


@pytest.fixture
def tiny():
    return copy.deepcopy(TINY)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    job = [j for j in get("mode_connectivity").specs(TINY) if hasattr(j, "data")][0]
    path = tmp_path_factory.mktemp("mc_data") / "mnist1d.npz"
    save_npz(path, job.data.load())
    return path


@pytest.fixture(scope="session")
def tiny_run(tiny_data):
    """{job id: run table} of the tiny config's jobs."""
    exp = get("mode_connectivity")
    ctx = RunContext(device="cpu", threads=1, inputs={"data": tiny_data}, log=lambda msg: None)
    return {job_id: exp.run(job, ctx) for job_id, job in exp.parts(TINY).items()}
