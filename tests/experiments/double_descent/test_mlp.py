"""double_descent, MLP panel: landmarks of a curve, the noisy data, a tiny training run,
claims."""

import math

import numpy as np
import pandas as pd
import pytest

from overparam.data import MNIST1D, save_npz
from overparam.experiments import RunContext
from overparam.experiments.double_descent import RUN_SCHEMA, MLPJob
from overparam.experiments.double_descent.mlp import (
    mlp_claims,
    mlp_data,
    mlp_final,
    mlp_landmarks,
    run_mlp,
)

from .conftest import CURVE

REF = {
    "min_width": 12,
    "min_error": 0.468,
    "peak_width": 47,
    "peak_error": 0.558,
    "last_width": 300,
    "last_error": 0.459,
}


def synthetic(n=60, n_test=40, d=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n + n_test, d)).astype(np.float32)
    y = rng.integers(0, 10, n + n_test).astype(np.int64)
    return {"x": x[:n], "y": y[:n], "x_test": x[n:], "y_test": y[n:]}


def test_landmarks_of_a_double_descent_curve():
    lm = mlp_landmarks(CURVE, 0.01)
    # the smallest widths underfit (0.7): the first-descent minimum is at 8, the peak after it
    assert (lm["h_interp"], lm["h_min"], lm["err_min"]) == (32, 8, 0.5)
    assert (lm["h_peak"], lm["err_peak"], lm["h_last"], lm["err_last"]) == (32, 0.56, 128, 0.45)
    lm = mlp_landmarks(CURVE.assign(train_error=0.2), 0.01)  # never interpolates
    assert math.isnan(lm["h_interp"]) and math.isnan(lm["h_peak"]) and lm["h_last"] == 128


def test_mlp_data_redraws_a_fraction_of_the_labels():
    ds = synthetic(n=1000)
    d, n = mlp_data(ds, n_train=0, label_noise=0.5, noise_seed=3)
    assert n == 1000 and d["x"].shape == (1000, 40) and d["x_test"] is ds["x_test"]
    changed = np.mean(d["y"] != ds["y"])
    assert 0.35 < changed < 0.55  # half redrawn, a tenth of those to the same label
    again, _ = mlp_data(ds, n_train=0, label_noise=0.5, noise_seed=3)
    assert np.array_equal(again["y"], d["y"])  # one draw, fixed by noise_seed
    d, n = mlp_data(ds, n_train=100, label_noise=0.0, noise_seed=0)
    assert n == 100 and np.array_equal(d["y"], ds["y"][:100])
    with pytest.raises(ValueError, match="mlp.n_train=1001 exceeds the 1000 training samples"):
        mlp_data(ds, n_train=1001, label_noise=0.0, noise_seed=0)


def test_tiny_mlp_run(tmp_path):
    path = tmp_path / "data.npz"
    save_npz(path, synthetic())
    job = MLPJob(
        data=MNIST1D(num_samples=100, train_split=0.6, seed=0),
        width=4,
        seeds=(0, 1),
        depth=2,
        n_train=0,
        epochs=2,
        lr=0.01,
        momentum=0.9,
        batch_size=20,
        eval_every=1,
        label_noise=0.2,
        noise_seed=0,
    )
    ctx = RunContext(threads=1, inputs={"data": path}, log=lambda s: None)
    df = run_mlp(job, ctx)
    RUN_SCHEMA.validate(df, "mlp")
    assert sorted(zip(df["seed"], df["epoch"])) == [(s, e) for s in (0, 1) for e in (0, 1, 2)]
    p = 40 * 4 + 4 + 4 * 4 + 4 + 4 * 10 + 10
    assert (df["num_params"] == p).all() and (df["params_per_sample"] == p / 60).all()
    assert (df["panel"] == "mlp").all() and (df["width"] == 4).all()
    assert (df["label_noise"] == 0.2).all() and df["gamma"].isna().all()
    assert df["test_error"].between(0, 1).all()
    pd.testing.assert_frame_equal(run_mlp(job, ctx), df)  # seeded: the same table again


def test_mlp_final_takes_the_last_epoch():
    rows = [
        {
            "panel": "mlp",
            "width": w,
            "seed": s,
            "epoch": e,
            "num_params": w,
            "params_per_sample": w / 10,
            "n_train": 10,
            "train_error": 0.1 * e,
            "test_error": 0.2 * e + 0.01 * s,
            "test_loss": 1.0,
            "diverged": False,
        }
        for w in (4, 8)
        for s in (0, 1)
        for e in (0, 1, 2)
    ]
    f = mlp_final(pd.DataFrame(rows))
    assert f["width"].tolist() == [4, 8] and (f["epoch"] == 2).all() and (f["runs"] == 2).all()
    assert f["test_error"].tolist() == pytest.approx([0.405, 0.405])


def test_mlp_claims_of_a_curve():
    m = CURVE.assign(
        panel="mlp",
        seed=0,
        epoch=500,
        num_params=1,
        params_per_sample=1.0,
        n_train=1,
        test_loss=1.0,
        diverged=False,
    )
    c = {"interp_train_error": 0.01, "max_diverged_fraction": 0.0, "reference": REF}
    out = mlp_claims(m, c)
    assert [k for k, _, _ in out] == [
        "mlp_peak_near_interpolation",
        "mlp_peak_height",
        "mlp_second_descent",
    ]
    # peak / interpolation width, peak - minimum, widest - minimum (0.45 - 0.5)
    assert [v for _, v, _ in out] == pytest.approx([1.0, 0.06, -0.05])
    assert out[0][2].startswith(
        "0 of 6 runs diverged; after 500 epochs: first-descent min 0.500 at h=8, peak 0.560"
    )
    assert "widest 0.450 at h=128 (peak - widest 0.110)" in out[0][2]
    out = mlp_claims(m.assign(train_error=0.2), c)
    assert math.isnan(out[0][1])
    assert out[0][2].startswith(
        "0 of 6 runs diverged; no width reached mean train error <= 0.01 (widest: train 0.200"
    )
