"""End-to-end: the double_descent target on the tiny .test config, asserting on its tables."""

import numpy as np
import pytest

from overparam import tables
from overparam.claims import CLAIMS_SCHEMA
from overparam.experiments import get
from overparam.experiments.double_descent.linear import linear_summary
from overparam.experiments.double_descent.random_features import rf_summary

from ..conftest import job_counts, snakemake

pytestmark = pytest.mark.e2e


def test_figure_needs_linear_rf_and_the_mlp_jobs(tmp_path):
    one = job_counts(snakemake(tmp_path, "-n", "figures/double_descent.png").stdout)
    # linear + random_features + random_fourier (numpy: solve), 3 widths (torch: train: the
    # two narrow ones one job, a bundle, and width 64), the cached MNIST-1D, aggregate,
    # figure; no benchmarks table for a single figure
    assert one == {"solve": 3, "train": 2, "mnist1d": 1, "aggregate": 1, "figure": 1, "total": 8}


@pytest.fixture(scope="module")
def metrics(pipeline_run):
    return tables.read_table(
        pipeline_run / "results/double_descent/metrics.parquet",
        get("double_descent").metrics_schema,
    )


def test_outputs(pipeline_run):
    for f in [
        "figures/double_descent.png",
        "figures/double_descent.pdf",
        "results/double_descent/provenance.json",
        "results/double_descent/claims.parquet",
    ]:
        assert (pipeline_run / f).stat().st_size > 0, f


def test_linear_table(metrics):
    lin = metrics[metrics["panel"] == "linear"]
    assert set(lin["estimator"]) == {"min_norm", "optimal_ridge"}
    assert len(lin) == 2 * 21 * 20  # estimators x gammas x seeds
    assert (lin["n_train"] == 50).all()
    np.testing.assert_allclose(lin["gamma"], lin["width"] / 50)
    # min-norm interpolates beyond gamma = 1 and is least squares below
    over = lin[(lin["estimator"] == "min_norm") & (lin["gamma"] > 1)]
    assert (over["train_mse"] < 1e-12).all()
    ridge = lin[lin["estimator"] == "optimal_ridge"]
    np.testing.assert_allclose(ridge["ridge_lambda"], 0.25 * ridge["gamma"])  # sigma^2 gamma / r^2
    # optimal ridge is never worse on average than min-norm, and far better at gamma = 1
    s = linear_summary(metrics).pivot(index="gamma", columns="estimator", values="mean")
    assert (s["optimal_ridge"] <= s["min_norm"] * 1.02).all()
    assert s.loc[1.0, "min_norm"] > 20 * s.loc[1.0, "optimal_ridge"]
    # for gamma >= 2 the mean min-norm risk is within 10% of Hastie et al.'s limit (below
    # gamma = 1 with p <= 25 the risk's spread is too large for 20 seeds to say the same)
    t = linear_summary(metrics)
    t = t[(t["estimator"] == "min_norm") & (t["gamma"] >= 2)]
    assert len(t) == 8
    assert ((t["mean"] / t["theory_excess_risk"] - 1).abs() < 0.1).all()


@pytest.mark.parametrize("panel", ["random_features", "random_fourier"])
def test_random_features_table(metrics, panel):
    all_rows = metrics[metrics["panel"] == panel]
    rf = all_rows[all_rows["estimator"] == "min_norm"]
    assert sorted(rf["seed"].unique()) == [0, 1, 2]
    assert rf["width"].min() == 10 and rf["width"].max() == 1000 and 100 in set(rf["width"])
    assert (rf.loc[rf["width"] > 100, "train_mse"] < 1e-10).all()  # interpolates past N = n
    f = rf_summary(metrics, panel).set_index("width")
    assert f["test_mse"].idxmax() == 100 and f["norm"].idxmax() == 100
    assert f.loc[1000, "test_mse"] < f.loc[100, "test_mse"]
    # the N = infinity point: one kernel-limit row per seed, an interpolating fit whose norm
    # lies below the widest fits' and whose test MSE is near theirs
    k = all_rows[all_rows["estimator"] == "kernel_limit"]
    assert len(k) == 3 and (k["width"] == 0).all() and (k["train_mse"] < 1e-8).all()
    assert k["norm"].iloc[0] < f.loc[1000, "norm"]
    assert abs(k["test_mse"].iloc[0] / f.loc[1000, "test_mse"] - 1) < 0.3
    assert all_rows["bandwidth"].notna().all() == (panel == "random_fourier")


def test_mlp_table(metrics):
    mlp = metrics[metrics["panel"] == "mlp"]
    assert sorted(mlp["width"].unique()) == [4, 16, 64]
    assert sorted(mlp["epoch"].unique()) == [0, 10, 20, 30]  # epoch-wise curves
    assert len(mlp) == 3 * 2 * 4
    assert not mlp["diverged"].any()
    assert (mlp["n_train"] == 500).all()
    # num_params of 40-h-h-10: 40h + h + h^2 + h + 10h + 10
    for h, p in mlp.groupby("width")["num_params"].first().items():
        assert p == 40 * h + h + h * h + h + 10 * h + 10
    first = mlp[mlp["epoch"] == 0].groupby("width")["train_error"].mean()
    last = mlp[mlp["epoch"] == 30].groupby("width")["train_error"].mean()
    assert (first > 0.8).all() and (last < first).all()  # chance is 90% error; training learns
    assert last[64] < last[4]


def test_claims_rows(pipeline_run):
    df = tables.read_table(pipeline_run / "results/claims.parquet", CLAIMS_SCHEMA)
    d = df[df["experiment"] == "double_descent"].set_index("claim")
    assert len(d) == 18
    # these linear and random-feature claims hold even at this size (not so the
    # under-parameterised match with theory at n = 50, 20 seeds: finite-n bias up to 6%
    # and sampling noise)
    for c in [
        "linear_matches_hastie_over",
        "linear_peak_at_one",
        "optimal_ridge_monotone",
        "rf_error_peak",
        "rf_norm_peak",
        "rf_second_descent_error",
        "rff_error_peak",
        "rff_norm_peak",
    ]:
        assert d.loc[f"double_descent.{c}", "holds"], d.loc[f"double_descent.{c}"]
    assert d.loc["double_descent.linear_peak_at_one", "value"] == 1.0
    assert d.loc["double_descent.rf_error_peak", "value"] == 1.0
    # both second-descent ratios are computed (N from n/10 to 10 n); the MLP notes count runs
    for c in ["rf", "rff"]:
        for k in ["second_descent_mse", "second_descent_error", "kernel_limit_mse"]:
            assert not np.isnan(d.loc[f"double_descent.{c}_{k}", "value"]), (c, k)
    for c in ["mlp_peak_near_interpolation", "mlp_peak_height", "mlp_second_descent"]:
        assert d.loc[f"double_descent.{c}", "note"].startswith("0 of 6 runs diverged; ")
