"""double_descent, linear panel: the size grid, a small run against finite-n theory, claims."""

import math

import numpy as np
import pandas as pd
import pytest

from overparam.experiments import RunContext
from overparam.experiments.double_descent import RUN_SCHEMA, LinearJob
from overparam.experiments.double_descent.common import factor_from, sizes
from overparam.experiments.double_descent.linear import linear_claims, linear_summary, run_linear

JOB = LinearJob(
    n=40, snr_r2=1.0, noise_sd=0.5, gamma_min=0.5, gamma_max=2.0, num_gammas=3, num_seeds=200
)


@pytest.fixture(scope="module")
def table():
    return run_linear(JOB, RunContext(log=lambda s: None))


def test_size_grid_contains_the_threshold():
    s = sizes(200, 0.1, 10.0, 41)
    assert s[0] == 20 and s[-1] == 2000 and 200 in s
    assert np.all(np.diff(s) > 0)


def test_factor_from():
    assert factor_from(50, 100) == 2.0 and factor_from(200, 100) == 2.0
    assert math.isnan(factor_from(math.nan, 100))


def test_linear_panel_small(table):
    RUN_SCHEMA.validate(table, "linear")
    assert sorted(table["width"].unique()) == [20, 40, 80]
    assert len(table) == 3 * 200 * 2 and list(table.columns) == list(RUN_SCHEMA.columns)
    s = linear_summary(table).set_index(["estimator", "gamma"])
    # min-norm at gamma = 2 (finite-n mean r^2/2 + sigma^2 n/(p-n-1) = 0.5 + 0.256) and 1/2
    assert s.loc[("min_norm", 2.0), "mean"] == pytest.approx(0.756, rel=0.1)
    assert s.loc[("min_norm", 0.5), "mean"] == pytest.approx(0.25 * 20 / 19, rel=0.15)
    assert s.loc[("min_norm", 1.0), "mean"] > 10 * s.loc[("optimal_ridge", 1.0), "mean"]


def test_same_job_same_table(table):
    again = run_linear(JOB, RunContext(log=lambda s: None))
    pd.testing.assert_frame_equal(again, table)


def test_linear_claims(table):
    out = linear_claims(table, {"exclude_band": 1.5})
    assert [k for k, _, _ in out] == [
        "linear_matches_hastie_under",
        "linear_matches_hastie_over",
        "linear_peak_at_one",
        "optimal_ridge_monotone",
        "optimal_ridge_matches_theory",
    ]
    v = {k: val for k, val, _ in out}
    assert v["linear_peak_at_one"] == 1.0  # the peak of the grid 0.5, 1, 2 is at gamma = 1
    assert v["optimal_ridge_monotone"] == 0
    # one gamma each side, 200 seeds: within sampling error (and the finite-n bias) of theory
    assert v["linear_matches_hastie_under"] < 0.1 and v["linear_matches_hastie_over"] < 0.1
    assert out[0][2].startswith("gamma <= 0.667: 1 gammas from 0.5 to 0.5; worst")
    assert out[1][2].startswith("gamma >= 1.5: 1 gammas from 2 to 2; worst")
    assert out[2][2].startswith("sanity check")
    # a band that leaves no gamma outside it: no value, a note that says so
    none = linear_claims(table, {"exclude_band": 3.0})[:2]
    assert all(math.isnan(v) and "no gamma on this side" in note for _, v, note in none)
