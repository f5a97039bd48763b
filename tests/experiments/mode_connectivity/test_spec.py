"""mode_connectivity's jobs and config checks."""

import dataclasses

import pytest

from overparam.experiments import get
from overparam.experiments.mode_connectivity import DemoJob, StabilityJob, WidthJob

from .conftest import QUICK, TINY

EXP = get("mode_connectivity")


def test_jobs_of_the_quick_config():
    jobs = EXP.parts(QUICK)
    assert list(jobs) == ["demo", "w16", "w64", "w256", "w512", "stability_w64"]
    assert isinstance(jobs["demo"], DemoJob) and isinstance(jobs["stability_w64"], StabilityJob)
    # only the Bezier width's job carries the curve settings (and re-runs when they change)
    assert [w for w, j in jobs.items() if isinstance(j, WidthJob) and j.bezier] == ["w256"]
    assert jobs["w256"].bezier.lr_schedule == "garipov" and jobs["demo"].pairs == 5
    assert jobs["stability_w64"].lr_grid == (0.0125, 0.05, 0.2)
    assert jobs["demo"].alphas == (0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0)
    assert all(j.trains for j in jobs.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        jobs["w16"].width = 3  # type: ignore[misc]
    assert jobs["w16"].params()["sgd"]["lr_schedule"] == "linear"


def test_a_shared_setting_reaches_every_mnist_job(tiny):
    tiny["train"]["lr"] = 0.123
    jobs = EXP.parts(tiny)
    assert {j.sgd.lr for j in jobs.values() if not isinstance(j, DemoJob)} == {0.123}


@pytest.mark.parametrize("change,key", [
    (lambda c: c["bezier"].update(width=7), "bezier.width"),
    (lambda c: c["stability"].update(spawn_epochs=[0, 3]), "stability.spawn_epochs"),
    (lambda c: c["stability"].update(spawn_epochs=[1, 2]), "stability.spawn_epochs"),
    (lambda c: c["stability"].update(lr_grid=[0.2, 0.05]), "stability.lr_grid"),
])  # fmt: skip
def test_problems_name_their_key(tiny, change, key):
    assert not list(EXP.problems(TINY))
    change(tiny)
    msgs = list(EXP.problems(tiny))
    assert msgs and all(f"mode_connectivity.{key}" in m for m in msgs)
