"""implicit_bias's jobs on the tiny config: their tables and what they must show."""

import numpy as np

from overparam.experiments import get
from overparam.experiments.implicit_bias.claims import final

from .conftest import TINY

EXP = get("implicit_bias")


def test_tables_follow_the_schema(tiny_run):
    assert set(tiny_run) == set(EXP.jobs(TINY))
    for job_id, df in tiny_run.items():
        EXP.run_schema.validate(df, job_id)


def test_least_squares(tiny_run):
    df = tiny_run["least_squares"]
    gd = final(df[df["kind"] != "null_shift"])
    assert len(gd) == 2 * len(TINY["least_squares"]["seeds"])
    assert (gd["rel_dist"] < 1e-9).all() and (gd["loss"] < 1e-18).all()
    zero = gd[gd["kind"] == "gd_w0_zero"]
    np.testing.assert_allclose(zero["norm"], zero["ref_norm"], rtol=1e-9)  # min norm from 0
    rand = gd[gd["kind"] == "gd_w0_random"]
    assert (rand["norm"] > rand["ref_norm"]).all()
    other = df[df["kind"] == "null_shift"]
    assert (other["loss"] < 1e-20).all()
    np.testing.assert_allclose(
        other["norm"], other["ref_norm"] * np.sqrt(1 + other["init_scale"] ** 2)
    )


def test_logistic(tiny_run):
    for d in TINY["logistic"]["dims"]:
        df = tiny_run[f"logistic_d{d}"]
        assert (df["dim"] == d).all() and (df["kkt"] < 1e-8).all()
        for _, g in df.groupby("seed"):
            g = g.sort_values("step")
            assert g["step"].iloc[-1] == TINY["logistic"]["steps"]
            assert np.all(np.diff(g["norm"]) > 0) and np.all(np.diff(g["loss"]) < 0)
            assert g["angle"].iloc[-1] < g["angle"].iloc[len(g) // 2]


def test_neural(tiny_run):
    df = tiny_run["neural"]
    nn = TINY["neural"]
    assert len(df[df["step"] == 0]) == len(nn["init_scales"]) * len(nn["seeds"])
    assert (df.loc[df["step"] == 0, "rel_dist"] == 0).all()
    end = final(df)
    assert (end["step"] == nn["steps"]).all()
    assert (end["loss"] < TINY["claims_setup"]["interpolation_mse"]).all()
    # small init moves the weights far relative to where they started; large init barely
    moved = end.groupby("init_scale")["rel_dist"].mean()
    assert moved.iloc[0] > moved.iloc[-1]
