"""double_descent, random-features panel on a small synthetic dataset (a file, as the
pipeline passes it)."""

import math

import numpy as np
import pytest

from overparam.experiments.double_descent import RUN_SCHEMA
from overparam.experiments.double_descent.random_features import (
    one_hot,
    rf_claims,
    rf_summary,
    run_random_features,
)

from .conftest import RF_JOB as JOB


@pytest.fixture(scope="module")
def table(rf_ctx):
    return run_random_features(JOB, rf_ctx)


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
    assert [k for k, _, _ in out] == [
        "rf_error_peak",
        "rf_norm_peak",
        "rf_second_descent_mse",
        "rf_second_descent_error",
    ]
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
