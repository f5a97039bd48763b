"""flat_minima's jobs and config checks."""

import dataclasses

import pytest

from overparam.experiments import get
from overparam.experiments.flat_minima import EdgeOfStabilityJob, SweepJob

from .conftest import QUICK, TINY

EXP = get("flat_minima")


def test_jobs_of_the_quick_config():
    jobs = EXP.jobs(QUICK)
    assert list(jobs) == ["fixed_lr", "scaled_lr", "edge_of_stability"]
    assert all(j.trains for j in jobs.values())
    fixed, scaled, eos = jobs["fixed_lr"], jobs["scaled_lr"], jobs["edge_of_stability"]
    assert isinstance(fixed, SweepJob) and isinstance(scaled, SweepJob)
    assert [fixed.lr_at(b) for b in (16, 256)] == [0.1, 0.1]
    # anchored at the largest batch: no scaled lr above the fixed one
    assert [scaled.lr_at(b) for b in (16, 64, 256)] == [0.00625, 0.025, 0.1]
    assert isinstance(eos, EdgeOfStabilityJob) and eos.lrs == (0.1, 0.2, 0.4)
    assert [eos.eig_every(lr) for lr in eos.lrs] == [20, 10, 5]
    assert [eos.max_steps(lr) for lr in eos.lrs] == [4000, 2000, 1000]
    assert fixed.slice_alphas[0] == -0.5 and fixed.slice_alphas[-1] == 1.5
    assert len(fixed.slice_alphas) == QUICK["slice"]["points"] and 0.0 in fixed.slice_alphas
    assert fixed.params()["hessian"]["samples"] == 1000
    with pytest.raises(dataclasses.FrozenInstanceError):
        fixed.lr = 3.0  # type: ignore[misc]


def test_the_step_budget_grows_as_the_lr_shrinks():
    from overparam.experiments.flat_minima.run import train_config

    scaled = EXP.jobs(QUICK)["scaled_lr"]
    small, ref = train_config(scaled, 16, 2000, 1), train_config(scaled, 256, 2000, 1)
    assert small.lr == 0.00625 and small.stop_train_loss == QUICK["stop_train_loss"]
    assert small.epochs * 125 >= 16 * QUICK["max_steps"] and ref.epochs * 8 >= QUICK["max_steps"]
    # the stop is checked at the same lr x steps: every ~16 x 50 steps at B 16 (125 steps per
    # epoch), every ~50 at B 256 (8 per epoch)
    assert small.eval_every == 6 and ref.eval_every == 6
    assert small.momentum == 0.0 and small.optimizer == "sgd"


def test_problems_name_their_key(tiny):
    assert not list(EXP.problems(TINY))
    tiny["batch_sizes"] = [32, 8]
    tiny["claims_setup"]["eps"] = 0.1
    tiny["hessian"]["samples"] = 10_000
    msgs = list(EXP.problems(tiny))
    assert len(msgs) == 3
    assert any("flat_minima.batch_sizes" in m for m in msgs)
    assert any("flat_minima.claims_setup.eps" in m for m in msgs)
    assert any("flat_minima.hessian.samples" in m for m in msgs)
    # the scaled rule anchored below the largest batch; the GD subset beyond the Hessian's
    other = dict(TINY, ref_batch=16,
                 edge_of_stability=dict(TINY["edge_of_stability"], samples=500))  # fmt: skip
    msgs = list(EXP.problems(other))
    assert len(msgs) == 2
    assert any("flat_minima.ref_batch" in m for m in msgs)
    assert any("flat_minima.edge_of_stability.samples" in m for m in msgs)
