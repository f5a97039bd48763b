"""random_labels' jobs and config checks."""

import dataclasses

import pytest

from overparam.data import MNIST1D
from overparam.experiments import get
from overparam.experiments.random_labels import WidthJob

from .conftest import QUICK, TINY

EXP = get("random_labels")


def test_jobs_of_the_quick_config():
    jobs = EXP.jobs(QUICK)
    assert list(jobs) == ["w256"]
    job = jobs["w256"]
    assert isinstance(job, WidthJob) and job.trains and job.random_inputs
    assert job.label_fractions == (0.0, 0.2, 0.5, 0.8, 1.0) and job.seeds == (0, 1, 2, 3)
    assert job.inputs() == {"data": MNIST1D(5000, 0.8, 42)}  # lottery_ticket's cached file
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.width = 3  # type: ignore[misc]


def test_a_shared_setting_reaches_every_job(tiny):
    tiny["widths"] = [32, 64]
    tiny["lr"] = 0.123
    jobs = EXP.jobs(tiny)
    assert list(jobs) == ["w32", "w64"] and {j.lr for j in jobs.values()} == {0.123}


@pytest.mark.parametrize(
    "change,key",
    [
        (dict(n_train=900), "random_labels.n_train"),
        (dict(label_fractions=[0.5, 1.0]), "random_labels.label_fractions"),
        (dict(label_fractions=[0.0, 1.0, 0.5]), "random_labels.label_fractions"),
        (dict(optimizer="adam", momentum=0.9), "random_labels.momentum"),
    ],
)
def test_problems_name_their_key(tiny, change, key):
    assert not list(EXP.problems(TINY))
    tiny.update(change)
    (msg,) = EXP.problems(tiny)
    assert key in msg
