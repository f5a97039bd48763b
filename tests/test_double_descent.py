import math

import numpy as np
import pandas as pd
import pytest

from overparam.experiments import double_descent as dd


def test_size_grid_contains_the_threshold():
    s = dd.sizes(200, 0.1, 10.0, 41)
    assert s[0] == 20 and s[-1] == 2000 and 200 in s
    assert np.all(np.diff(s) > 0)


def test_factor_from():
    assert dd.factor_from(50, 100) == 2.0 and dd.factor_from(200, 100) == 2.0
    assert math.isnan(dd.factor_from(math.nan, 100))


def test_landmarks_of_a_double_descent_curve():
    f = pd.DataFrame({"width": [4, 8, 16, 32, 64, 128],
                      "train_error": [0.6, 0.5, 0.3, 0.0, 0.0, 0.0],
                      "test_error": [0.7, 0.5, 0.52, 0.56, 0.5, 0.45]})
    lm = dd.mlp_landmarks(f, 0.01)
    # the smallest widths underfit (0.7): the first-descent minimum is at 8, the peak after it
    assert (lm["h_interp"], lm["h_min"], lm["err_min"]) == (32, 8, 0.5)
    assert (lm["h_peak"], lm["err_peak"], lm["h_last"], lm["err_last"]) == (32, 0.56, 128, 0.45)
    lm = dd.mlp_landmarks(f.assign(train_error=0.2), 0.01)  # never interpolates
    assert math.isnan(lm["h_interp"]) and math.isnan(lm["h_peak"]) and lm["h_last"] == 128


def test_linear_panel_small():
    cfg = {"linear": {"n": 40, "snr_r2": 1.0, "noise_sd": 0.5, "gamma_min": 0.5, "gamma_max": 2.0,
                      "num_gammas": 3, "num_seeds": 200, "exclude_band": 1.5}}
    df = dd.run_linear(cfg, log=lambda s: None)
    dd.RUN_SCHEMA.validate(df, "linear")
    assert sorted(df["width"].unique()) == [20, 40, 80]
    s = dd.linear_summary(df).set_index(["estimator", "gamma"])
    # min-norm at gamma = 2 (finite-n mean r^2/2 + sigma^2 n/(p-n-1) = 0.5 + 0.256) and 1/2
    assert s.loc[("min_norm", 2.0), "mean"] == pytest.approx(0.756, rel=0.1)
    assert s.loc[("min_norm", 0.5), "mean"] == pytest.approx(0.25 * 20 / 19, rel=0.15)
    assert s.loc[("min_norm", 1.0), "mean"] > 10 * s.loc[("optimal_ridge", 1.0), "mean"]


def test_random_features_panel_on_synthetic_data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 6)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + 2 * (x[:, 1] > 0)
    data = {"x": x[:40], "y": y[:40], "x_test": x[40:], "y_test": y[40:]}
    cfg = {"data": {"num_samples": 300, "train_split": 0.2, "seed": 0},
           "random_features": {"kind": "relu", "n_train": 40, "n_test": 200, "ratio_min": 0.25,
                               "ratio_max": 4.0, "num_ratios": 5, "num_seeds": 2,
                               "label_noise": 0.0, "noise_seed": 0}}
    df = dd.run_random_features(cfg, log=lambda s: None, data=data)
    dd.RUN_SCHEMA.validate(df, "rf")
    f = dd.rf_summary(df).set_index("width")
    assert list(f.index) == [10, 20, 40, 80, 160]
    assert f["norm"].idxmax() == 40 and f["test_mse"].idxmax() == 40
    assert (df.loc[df["width"] > 40, "train_mse"] < 1e-12).all()
    with pytest.raises(ValueError, match="exceed"):
        dd.run_random_features({**cfg, "random_features": {**cfg["random_features"], "n_train": 41}},
                               data=data)


def test_unknown_job():
    with pytest.raises(ValueError, match="unknown double_descent job"):
        dd.run({"mlp": {"widths": [4]}}, "mlp_h5")
