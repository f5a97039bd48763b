"""double_descent, random-features panel on a small synthetic dataset (a file, as the
pipeline passes it)."""

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
    assert [k for k, _, _ in out] == ["rf_error_peak", "rf_norm_peak", "rf_second_descent"]
    assert out[0][1] == 1.0 and out[1][1] == 1.0  # both peak at N = n
    assert 0 < out[2][1] < 1  # the widest model beats the peak
    assert out[1][2] == "norm peaks at N=40"
