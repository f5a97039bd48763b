"""benign_overfitting: spectra, slope, job specs and config problems (no Snakemake)."""

import copy
import math

import numpy as np
import pytest
import yaml

from overparam import experiments
from overparam.experiments.benign_overfitting.claims import loglog_slope
from overparam.experiments.benign_overfitting.run import spectrum

from ...conftest import ROOT

EXP = experiments.get("benign_overfitting")
CFG = yaml.safe_load(open(ROOT / "config" / "config.yaml"))["benign_overfitting"]


def test_spectra_match_their_definitions():
    eigs, beta = spectrum(
        {
            "spectrum": "spiked",
            "signal_dims": 5,
            "signal_eig": 1.0,
            "bulk_dim_exponent": 1.5,
            "bulk_trace_exponent": 0.75,
        },
        100,
    )
    assert eigs.size == 5 + 1000
    assert eigs[5:].sum() == pytest.approx(100**0.75)
    assert beta @ beta == pytest.approx(1.0) and np.count_nonzero(beta) == 5
    eigs, _ = spectrum({"spectrum": "isotropic", "signal_dims": 5, "gamma": 2.0}, 50)
    assert eigs.size == 100 and np.all(eigs == 1)
    eigs, _ = spectrum(
        {"spectrum": "power", "signal_dims": 5, "alpha": 2.0, "dim_exponent": 1.5}, 100
    )
    assert eigs[1] == 0.25 and eigs.size == 1000
    with pytest.raises(ValueError, match="p=50 <= n"):
        spectrum({"spectrum": "isotropic", "signal_dims": 5, "gamma": 0.5}, 100)


def test_loglog_slope():
    n = np.array([10, 100, 1000])
    assert loglog_slope(n, 3.0 * n**-0.5) == pytest.approx(-0.5)
    assert math.isnan(loglog_slope(n, [np.nan, np.nan, 1.0]))


def test_jobs_are_the_demo_and_one_per_family():
    jobs = EXP.jobs(CFG)
    assert list(jobs) == ["demo", *CFG["families"]]
    demo = jobs["demo"]
    assert demo.sweep_n == (CFG["demo"]["n"],) and demo.noise_sd == CFG["demo"]["noise_sd"]
    assert demo.spec["p"] == CFG["demo"]["p"] and not demo.trains
    assert jobs["isotropic"].sweep_n == tuple(CFG["sweep_n"])


def test_a_family_setting_changes_only_that_job():
    cfg = copy.deepcopy(CFG)
    cfg["families"]["isotropic"]["gamma"] = 3.0
    cfg["claims"]["benign_slope"]["threshold"] = -0.1  # claims are not job parameters
    old, new = EXP.jobs(CFG), EXP.jobs(cfg)
    assert [j for j in old if old[j] != new[j]] == ["isotropic"]


def test_run_of_the_demo_interpolates():
    from overparam.experiments import RunContext

    job = EXP.jobs(CFG)["demo"]
    df = EXP.run(job, RunContext(log=lambda m: None))
    EXP.run_schema.validate(df, "demo")
    assert len(df) == len(CFG["seeds"]) and (df["train_mse"] < 1e-20).all()
    assert (df["test_mse"] < 0.1 * df["null_mse"]).all()


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["demo"].update(p=50), "demo.p': p=50 must exceed n=100"),
        (lambda c: c["demo"].update(signal_dims=500), "must be smaller than p=500"),
        (
            lambda c: c["families"]["spiked_bulk"].update(bulk_trace_exponent=1.2),
            "bulk_trace_exponent': 1.2 >= 1 makes r_0 grow like n",
        ),
    ],
)
def test_problems(edit, message):
    cfg = copy.deepcopy(CFG)
    assert list(EXP.problems(cfg)) == []
    edit(cfg)
    assert any(message in p for p in EXP.problems(cfg)), list(EXP.problems(cfg))
