"""double_descent, random-features panel on a small synthetic dataset (a file, as the
pipeline passes it)."""

import math

import numpy as np
import pytest

from overparam.experiments.double_descent import RUN_SCHEMA
from overparam.experiments.double_descent.random_features import (
    kernel_summary,
    one_hot,
    rf_claims,
    rf_summary,
    rff_claims,
    run_random_features,
)
from overparam.features import median_bandwidth, standardize

from .conftest import RF_JOB as JOB
from .conftest import RFF_JOB


@pytest.fixture(scope="module")
def table(rf_ctx):
    return run_random_features(JOB, rf_ctx)


@pytest.fixture(scope="module")
def fourier(rf_ctx):
    return run_random_features(RFF_JOB, rf_ctx)


def test_one_hot():
    assert one_hot(np.array([2, 0]), 3).tolist() == [[0, 0, 1], [1, 0, 0]]


def test_random_features_panel_on_synthetic_data(table):
    RUN_SCHEMA.validate(table, "rf")
    f = rf_summary(table).set_index("width")
    assert list(f.index) == [10, 20, 40, 80, 160]
    assert (f["runs"] == 2).all()
    assert f["norm"].idxmax() == 40 and f["test_mse"].idxmax() == 40
    assert (table.loc[table["width"] > 40, "train_mse"] < 1e-12).all()
    assert (table["num_params"] == 10 * table["width"]).all()


def test_sizes_beyond_the_dataset_are_an_error(rf_ctx):
    from dataclasses import replace

    with pytest.raises(ValueError, match="exceed the dataset's 40 / 260 samples"):
        run_random_features(replace(JOB, n_train=41), rf_ctx)


def test_rf_claims(table):
    out = rf_claims(table, {"n_train": 40})
    assert [k for k, _, _ in out][:4] == [
        "rf_error_peak",
        "rf_norm_peak",
        "rf_second_descent_mse",
        "rf_second_descent_error",
    ]
    assert [k for k, _, _ in out][4] == "rf_kernel_limit_mse"
    assert out[0][1] == 1.0 and out[1][1] == 1.0  # both peak at N = n
    f = rf_summary(table).set_index("width")
    # the largest N (160) against the best of N = 10, 20
    assert out[2][1] == pytest.approx(f.loc[160, "test_mse"] / f.loc[[10, 20], "test_mse"].min())
    assert out[3][1] == pytest.approx(
        f.loc[160, "test_error"] / f.loc[[10, 20], "test_error"].min()
    )
    assert out[1][2] == "norm peaks at N=40"
    assert "at N=160 vs best under-parameterised" in out[2][2]
    # a grid that never goes below n: nothing to compare with
    above = rf_claims(table[table["width"] >= 40], {"n_train": 40})
    assert math.isnan(above[2][1]) and "the grid needs sizes below and above n=40" in above[2][2]


def test_kernel_limit_rows(table):
    k = table[table["estimator"] == "kernel_limit"]
    assert sorted(k["seed"]) == [0, 1]  # one identical row per feature draw
    assert (k["width"] == 0).all() and np.isinf(k["gamma"]).all() and (k["num_params"] == 0).all()
    assert k[["test_mse", "test_error", "norm"]].nunique().max() == 1
    assert (k["train_mse"] < 1e-12).all()  # the kernel interpolates (K is nonsingular)
    assert k["bandwidth"].isna().all()  # relu: no bandwidth
    # the coefficient norm of the min-norm fit approaches the RKHS norm from above
    f = rf_summary(table)
    assert f["norm"].iloc[-1] > k["norm"].iloc[0]
    # the summary skips the kernel rows
    assert 0 not in set(f["width"]) and kernel_summary(table)["norm"] == k["norm"].iloc[0]


@pytest.mark.parametrize("kind", ["relu", "fourier"])
def test_large_n_fits_approach_the_kernel_limit(rf_ctx, kind):
    """The N = infinity point is the limit of the panel's own fits: the min-norm fit's test
    predictions at N = 40 n are closer to the kernel fit's than at N = 4 n, and near it."""
    from dataclasses import replace

    job = replace(RFF_JOB if kind == "fourier" else JOB, num_seeds=1, ratio_min=0.5)

    def at(ratio):
        t = run_random_features(replace(job, ratio_max=ratio, num_ratios=3), rf_ctx)
        fit = t[t["estimator"] == "min_norm"].iloc[-1]
        lim = t[t["estimator"] == "kernel_limit"].iloc[0]
        return abs(fit["test_mse"] / lim["test_mse"] - 1), fit["norm"] / lim["norm"]

    (gap4, norm4), (gap40, norm40) = at(4.0), at(40.0)
    assert gap40 < gap4 and gap40 < 0.1
    assert 1 < norm40 < norm4


def test_fourier_panel_uses_the_median_bandwidth(fourier, rf_ctx):
    assert set(fourier["panel"]) == {"random_fourier"}
    ds = RFF_JOB.data.load(rf_ctx.inputs["data"])
    x = standardize(ds["x"][:40])[0]
    assert fourier["bandwidth"].unique().tolist() == [pytest.approx(median_bandwidth(x))]
    out = rff_claims(fourier, {"n_train": 40})
    assert [k for k, _, _ in out] == [
        "rff_error_peak",
        "rff_norm_peak",
        "rff_second_descent_mse",
        "rff_second_descent_error",
        "rff_kernel_limit_mse",
    ]
    f, k = rf_summary(fourier, "random_fourier"), kernel_summary(fourier, "random_fourier")
    under = f[f["width"] < 40]
    assert out[4][1] == pytest.approx(k["test_mse"] / under["test_mse"].min())
    assert out[4][2].startswith("N = infinity (kernel limit): test MSE")
    # the ReLU panel's claims do not read the Fourier rows
    assert all(math.isnan(v) for _, v, _ in rf_claims(fourier, {"n_train": 40}))


def test_kernel_claim_without_kernel_rows_is_nan(table):
    out = rf_claims(table[table["estimator"] == "min_norm"], {"n_train": 40})
    assert math.isnan(out[4][1]) and out[4][2].startswith("no kernel-limit row")
