"""benign_overfitting: spectra, slope, job specs, the demo as written, every claim on tables
where it holds and where it does not, and config problems (no Snakemake)."""

import copy
import math

import numpy as np
import pandas as pd
import pytest

from overparam import experiments
from overparam.claims import slope as loglog_slope
from overparam.experiments import CheckContext
from overparam.experiments.benign_overfitting.as_written import run_as_written
from overparam.experiments.benign_overfitting.run import spectrum

from ...conftest import validated

EXP = experiments.get("benign_overfitting")
CFG = validated("config/config.yaml")["benign_overfitting"]


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
    assert demo.n == CFG["demo"]["n"] and demo.noise_sd == CFG["demo"]["noise_sd"]
    assert demo.p == CFG["demo"]["p"] and not demo.trains
    assert (demo.train_seed, demo.test_seed, demo.n_test) == (42, 123, 500)
    spectra = demo.spectra()
    assert spectra["demo"]["bulk_eig"] == CFG["demo"]["bulk_eig"]
    assert spectra["demo_isotropic"]["spectrum"] == "fixed_isotropic"
    assert jobs["isotropic"].sweep_n == tuple(CFG["sweep_n"])


def test_a_family_setting_changes_only_that_job():
    cfg = copy.deepcopy(CFG)
    cfg["families"]["isotropic"]["gamma"] = 3.0
    # a scale's claim threshold is no job parameter
    cfg["claim_thresholds"] = {"benign_slope": {"threshold": -0.1, "reason": "a test"}}
    old, new = EXP.jobs(CFG), EXP.jobs(cfg)
    assert [j for j in old if old[j] != new[j]] == ["isotropic"]


def test_run_of_the_demo_interpolates():
    from overparam.experiments import RunContext

    job = EXP.jobs(CFG)["demo"]
    df = EXP.run(job, RunContext(log=lambda m: None)).set_index("family")
    EXP.run_schema.validate(df.reset_index(), "demo")
    k = len(CFG["seeds"])
    assert len(df.loc["demo"]) == len(df.loc["demo_isotropic"]) == k
    assert (df.loc["demo", "train_mse"] < 1e-20).all()
    assert (df.loc["demo_isotropic", "train_mse"] < 1e-20).all()
    # spiked: excess below sigma^2 = 0.09; isotropic: near r^2 (1 - n/p) = 8
    assert (df.loc["demo", "excess_risk"] < 0.09).all()
    iso = df.loc["demo_isotropic"]
    assert iso["excess_risk"].mean() == pytest.approx(8.0, rel=0.1)
    assert iso["theory_excess_risk_finite_n"].iloc[0] == pytest.approx(10 * 0.8 + 0.09 * 100 / 399)
    assert df.loc["demo_as_written", "seed"] == 42


def test_the_demo_as_written():
    """The reference code's numbers: its standardised X X^T has rank n - 1, so the train MSE
    is mean(y)^2, not 0; its test labels come from other weights (seed 123)."""
    r = run_as_written(100, 500, 500, 10, 0.3, train_seed=42, test_seed=123)
    w, same = r["as_written"], r["as_written_same_w"]
    assert w["gram_rank"] == 99
    assert w["train_mse"] == pytest.approx(0.0685, abs=1e-4)
    assert w["test_mse"] == pytest.approx(20.12, abs=0.01) and w["test_mse"] > w["null_mse"]
    assert same["test_mse"] == pytest.approx(5.71, abs=0.01)
    assert same["test_mse"] > 2 * 0.3**2  # fails the demo's own criterion
    assert w["signal_norm2"] != same["signal_norm2"]  # two different weight vectors
    # the train MSE is the squared mean of the training labels (the null direction 1)
    rs = np.random.RandomState(42)
    x = rs.standard_normal((100, 500))
    beta = np.zeros(500)
    beta[:10] = rs.standard_normal(10)
    y = x @ beta + rs.standard_normal(100) * 0.3
    assert w["train_mse"] == pytest.approx(y.mean() ** 2, rel=1e-4)


# ------------------------------------------------------------------ claims on made-up tables
SMALL = {**CFG, "sweep_n": [50, 100, 200, 400]}
CTX = CheckContext(scale="test", figure="figures/benign_overfitting.png", resamples=50)


def _table(**families) -> pd.DataFrame:
    """A metrics table on which every claim holds; ``families`` overrides a family's
    excess risk (a function of n) or, for ``demo_train``, the demo's train MSE."""
    excess = {
        "demo": lambda n: 0.05,
        "demo_isotropic": lambda n: 8.0,
        "spiked_bulk": lambda n: 0.25 * (n / 50) ** -0.5,
        "isotropic": lambda n: 1.5,
        "power_decay": lambda n: 1.0,
    }
    excess.update({k: v for k, v in families.items() if k in excess})
    rows = []
    for fam, f in excess.items():
        demo = fam.startswith("demo")
        sigma2 = 0.09 if demo else 1.0
        for n in [100] if demo else SMALL["sweep_n"]:
            for seed in range(4):
                e = f(n) * (1 + 0.01 * (seed - 1.5))
                rows.append(
                    dict(
                        family=fam,
                        n=n,
                        seed=seed,
                        noise_var=sigma2,
                        train_mse=families.get("demo_train", 1e-30) if demo else 1e-30,
                        excess_risk=e,
                        test_mse=e + sigma2,
                        null_mse=10.0,
                        theory_excess_risk=1.5 if fam == "isotropic" else math.nan,
                        theory_excess_risk_finite_n=1.5 if fam == "isotropic" else math.nan,
                        k_star_over_n=0.1,
                        n_over_R_k_star=0.1,
                        r0_over_n=0.1,
                        gram_rank=math.nan,
                    )
                )
    # the reference demo as written: one descriptive run, never a claim, never resampled
    rows.append({**rows[0], "family": "demo_as_written", "seed": 42, "test_mse": 20.0})
    return pd.DataFrame(rows)


def _failing(table):
    claims = EXP.check(table, SMALL, CTX)
    assert all(c.row()["n_seeds"] == 4 for c in claims)
    return {c.claim.removeprefix("benign_overfitting.") for c in claims if not c.holds}


def test_every_claim_holds_on_a_benign_table():
    claims = EXP.check(_table(), SMALL, CTX)
    assert {c.claim.removeprefix("benign_overfitting.") for c in claims} == {
        "demo_interpolates",
        "demo_excess_small",
        "demo_beats_isotropic",
        "spiked_bulk.slope",
        "spiked_bulk.vanishes",
        "isotropic.does_not_vanish",
        "isotropic.matches_hastie",
        "power_decay.does_not_vanish",
    }
    assert all(c.holds and c.confident for c in claims), [c.row() for c in claims]
    by = {c.claim.removeprefix("benign_overfitting."): c.row() for c in claims}
    assert by["demo_excess_small"]["value"] == pytest.approx(0.05 / 0.09)
    assert by["demo_beats_isotropic"]["value"] == pytest.approx(0.05 / 8.0)
    assert by["spiked_bulk.slope"]["value"] == pytest.approx(-0.5)
    assert by["isotropic.matches_hastie"]["value"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    "change, fails",
    [
        ({"demo_train": 1e-3}, {"demo_interpolates"}),
        ({"demo": lambda n: 0.2}, {"demo_excess_small"}),  # excess > sigma^2 = 0.09
        ({"demo_isotropic": lambda n: 0.3}, {"demo_beats_isotropic"}),  # ratio 0.17
        ({"spiked_bulk": lambda n: 0.2}, {"spiked_bulk.slope"}),  # flat, below sigma^2/4
        ({"spiked_bulk": lambda n: 0.5 * (n / 50) ** -0.3}, {"spiked_bulk.vanishes"}),
        ({"power_decay": lambda n: 0.1}, {"power_decay.does_not_vanish"}),
        ({"isotropic": lambda n: 1.65}, {"isotropic.matches_hastie"}),  # 10% above E
        (
            {"isotropic": lambda n: 0.1},
            {"isotropic.does_not_vanish", "isotropic.matches_hastie"},
        ),
    ],
)
def test_each_claim_fails_on_a_table_where_it_does_not_hold(change, fails):
    assert _failing(_table(**change)) == fails


def test_hastie_claim_uses_the_finite_n_expectation():
    """A table that matches the asymptotic limit but not the finite-n expectation fails."""
    t = _table()
    iso = t["family"] == "isotropic"
    t.loc[iso, "theory_excess_risk_finite_n"] = 1.5 * 1.2
    assert _failing(t) == {"isotropic.matches_hastie"}


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
