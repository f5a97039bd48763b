"""Unit tests of the experiment modules' pure parts (no training, no Snakemake)."""
import math

import numpy as np
import pandas as pd
import pytest

from overparam.experiments import benign_overfitting as bo
from overparam.experiments import optimization_ease as oe


def test_violation_counting():
    assert oe._violations([5, 3, 1]) == 0
    assert oe._violations([5, 5, 1]) == 1
    assert oe._violations([5, float("nan"), 1]) == 2
    # below the floor values tie; going back above it is a violation
    assert oe._violations([1e-3, 1e-13, 2e-13], floor=1e-8) == 0
    assert oe._violations([1e-3, 1e-13, 1e-6], floor=1e-8) == 1


def test_spectra_match_their_definitions():
    eigs, beta = bo.spectrum({"spectrum": "spiked", "signal_dims": 5, "signal_eig": 1.0,
                              "bulk_dim_exponent": 1.5, "bulk_trace_exponent": 0.75}, 100)
    assert eigs.size == 5 + 1000
    assert eigs[5:].sum() == pytest.approx(100 ** 0.75)
    assert beta @ beta == pytest.approx(1.0) and np.count_nonzero(beta) == 5
    eigs, _ = bo.spectrum({"spectrum": "isotropic", "signal_dims": 5, "gamma": 2.0}, 50)
    assert eigs.size == 100 and np.all(eigs == 1)
    eigs, _ = bo.spectrum({"spectrum": "power", "signal_dims": 5, "alpha": 2.0,
                           "dim_exponent": 1.5}, 100)
    assert eigs[1] == 0.25 and eigs.size == 1000
    with pytest.raises(ValueError, match="p=50 <= n"):
        bo.spectrum({"spectrum": "isotropic", "signal_dims": 5, "gamma": 0.5}, 100)


def test_loglog_slope():
    n = np.array([10, 100, 1000])
    assert bo.loglog_slope(n, 3.0 * n ** -0.5) == pytest.approx(-0.5)
    assert math.isnan(bo.loglog_slope(n, [np.nan, np.nan, 1.0]))


def test_epochs_to_threshold_and_censoring():
    rows = []
    for seed, losses in [(0, [1.0, 0.1, 0.01]), (1, [1.0, 0.5, 0.2]), (2, [1.0, 0.04, 0.01])]:
        for epoch, loss in zip([0, 10, 20], losses):
            rows.append({"width": 8, "seed": seed, "epoch": epoch, "train_loss": loss,
                         "diverged": False})
    m = pd.DataFrame(rows)
    r = oe.per_run(m, 0.05).set_index("seed")
    assert r.loc[0, "epochs_to_threshold"] == 20 and r.loc[2, "epochs_to_threshold"] == 10
    assert math.isnan(r.loc[1, "epochs_to_threshold"])
    w = oe.per_width(m, 0.05)
    assert w.loc[0, "median_epochs"] == 20 and w.loc[0, "reached"] == 2
    # when no seed reaches it, the median is censored at budget + 1
    assert oe.per_width(m, 0.005).loc[0, "median_epochs"] == 21


def test_run_job_resolves_the_device_only_for_training_jobs(tmp_path, monkeypatch):
    import types

    import torch

    from overparam import steps, tables

    seen = {}

    def run(cfg, job, device, threads, log):
        seen[job] = device
        return pd.DataFrame({"x": [1.0]})

    stub = types.SimpleNamespace(RUN_SCHEMA=tables.Schema(name="stub", columns={"x": "float"}),
                                 TRAINS=True, job_trains=lambda cfg, job: job == "net", run=run)
    monkeypatch.setattr(steps.experiments, "load", lambda name: stub)
    for job in ("net", "solve"):
        steps.run_job("stub", {}, job, tmp_path / f"{job}.parquet", device="auto", log=lambda m: None)
    expect = "cuda" if torch.cuda.is_available() else "cpu"
    assert isinstance(seen["net"], torch.device) and seen["net"].type == expect
    assert seen["solve"] == "cpu"
    assert tables.read_provenance(tmp_path / "net.parquet")["device"] == expect
    assert tables.read_provenance(tmp_path / "solve.parquet")["device"] == "cpu"
