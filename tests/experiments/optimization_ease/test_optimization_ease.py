"""optimization_ease: claim helpers, job specs and config problems (no Snakemake)."""

import copy
import math

import pandas as pd
import yaml

from overparam import experiments
from overparam.experiments.optimization_ease.claims import _violations, per_run, per_width

from ...conftest import ROOT

EXP = experiments.get("optimization_ease")
CFG = yaml.safe_load(open(ROOT / "config" / "config.yaml"))["optimization_ease"]


def test_violation_counting():
    assert _violations([5, 3, 1]) == 0
    assert _violations([5, 5, 1]) == 1
    assert _violations([5, float("nan"), 1]) == 2
    # below the floor values tie; going back above it is a violation
    assert _violations([1e-3, 1e-13, 2e-13], floor=1e-8) == 0
    assert _violations([1e-3, 1e-13, 1e-6], floor=1e-8) == 1


def test_epochs_to_threshold_and_censoring():
    rows = []
    for seed, losses in [(0, [1.0, 0.1, 0.01]), (1, [1.0, 0.5, 0.2]), (2, [1.0, 0.04, 0.01])]:
        for epoch, loss in zip([0, 10, 20], losses):
            rows.append(
                {"width": 8, "seed": seed, "epoch": epoch, "train_loss": loss, "diverged": False}
            )
    m = pd.DataFrame(rows)
    r = per_run(m, 0.05).set_index("seed")
    assert r.loc[0, "epochs_to_threshold"] == 20 and r.loc[2, "epochs_to_threshold"] == 10
    assert math.isnan(r.loc[1, "epochs_to_threshold"])
    w = per_width(m, 0.05)
    assert w.loc[0, "median_epochs"] == 20 and w.loc[0, "reached"] == 2
    # when no seed reaches it, the median is censored at budget + 1
    assert per_width(m, 0.005).loc[0, "median_epochs"] == 21


def test_one_job_per_width_with_the_shared_settings():
    jobs = EXP.jobs(CFG)
    assert list(jobs) == [f"w{w}" for w in CFG["widths"]]
    j = jobs[f"w{CFG['widths'][0]}"]
    assert j.trains and j.width == CFG["widths"][0] and j.lr == CFG["lr"]
    assert j.seeds == tuple(CFG["seeds"])


def test_adding_a_width_adds_one_job_and_a_shared_setting_changes_all():
    more = copy.deepcopy(CFG)
    more["widths"] = [*CFG["widths"], 1000]
    old, new = EXP.jobs(CFG), EXP.jobs(more)
    assert set(new) - set(old) == {"w1000"}
    assert all(new[j] == old[j] for j in old)
    lr = copy.deepcopy(CFG)
    lr["lr"] = 0.02
    assert all(EXP.jobs(lr)[j] != old[j] for j in old)
    thr = copy.deepcopy(CFG)
    thr["loss_threshold"] = 0.5  # read by the claims only
    assert EXP.jobs(thr) == old


def test_problems():
    cfg = copy.deepcopy(CFG)
    assert list(EXP.problems(cfg)) == []
    cfg["batch_size"] = cfg["n"] + 1
    assert list(EXP.problems(cfg)) == [
        f"config key 'optimization_ease.batch_size': {cfg['n'] + 1} exceeds the number of "
        f"samples n={cfg['n']}"
    ]
