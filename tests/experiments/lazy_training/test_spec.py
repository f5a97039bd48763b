"""lazy_training's jobs and config checks."""

import dataclasses

import pytest

from overparam.experiments import get
from overparam.experiments.lazy_training import REGIMES, WidthJob

from .conftest import QUICK, TINY

EXP = get("lazy_training")


def test_jobs_of_the_quick_config():
    jobs = EXP.parts(QUICK)
    assert list(jobs) == ["w64", "w128", "w256", "w512", "w1024"]
    assert all(isinstance(j, WidthJob) and j.trains for j in jobs.values())
    assert {j.ref_width for j in jobs.values()} == {64}  # the scaled regime's reference
    assert all(j.regimes == REGIMES and j.seeds == (0, 1, 2, 3) for j in jobs.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        jobs["w64"].width = 3  # type: ignore[misc]
    assert jobs["w64"].params()["task"] == {"in_dim": 8, "train": 16, "test": 16, "seed": 0}


def test_a_shared_setting_reaches_every_job(tiny):
    tiny["lr"] = 0.123
    assert {j.lr for j in EXP.parts(tiny).values()} == {0.123}


def test_problems_name_their_key(tiny):
    assert not list(EXP.problems(TINY))
    tiny["widths"] = [64, 16]
    (msg,) = EXP.problems(tiny)
    assert "lazy_training.widths" in msg
