"""A tiny width_vs_depth run: its table, parameter counts, determinism, and the figure."""

import numpy as np
import pandas as pd
import pytest

from overparam.experiments import RunContext, get
from overparam.experiments.width_vs_depth.onepass import chosen_lr, onepass_runs
from overparam.experiments.width_vs_depth.run import checkpoint_steps, split_validation
from overparam.models import MLPSpec, num_params

from .conftest import TINY

EXP = get("width_vs_depth")


def test_run_tables(tiny_run):
    assert list(tiny_run) == ["b20000_d1", "b20000_d2", "b20000_d3", "onepass_b20000"]
    for job_id, df in tiny_run.items():
        EXP.run_schema.validate(df, job_id)
        if job_id.startswith("onepass"):
            continue
        assert (df["protocol"] == "fit").all() and df["val_loss"].isna().all()
        depth, width = int(df["depth"].iloc[0]), int(df["width"].iloc[0])
        assert (df["num_params"] == num_params(MLPSpec(40, (width,) * depth, 10))).all()
        assert abs(df["num_params"].iloc[0] - 20000) <= 200
        assert sorted(df["seed"].unique()) == [0, 1]
        assert sorted(df["epoch"].unique()) == [0, 1, 2, 3]
        assert not df["diverged"].any() and df["train_acc"].between(0, 1).all()
        # Adam learns something in 3 epochs: the train loss falls from its initial value
        first, last = (df[df["epoch"] == e].set_index("seed")["train_loss"] for e in (0, 3))
        assert (last < first).all()
        # every recorded row is one member at one epoch
        assert not df.duplicated(["seed", "epoch"]).any()


def test_one_pass_run_table(tiny_run):
    df = tiny_run["onepass_b20000"]
    o = TINY["onepass"]
    assert (df["protocol"] == "onepass").all() and sorted(df["depth"].unique()) == [2, 3]
    # 600 at 80%: 480, the last 100 validate; 380 train at batch 100 = 4 steps, 2 checkpoints
    assert sorted(df["step"].unique()) == [0, 2, 4]
    assert sorted(df["lr"].unique()) == sorted(o["lrs"])
    assert len(df) == 2 * len(o["lrs"]) * len(TINY["seeds"]) * 3
    assert not df.duplicated(["depth", "lr", "seed", "step"]).any()
    assert df["val_loss"].notna().all() and df["test_loss"].notna().all()
    # the training set is measured at the start and the end of the pass only
    assert df.loc[df["step"] == 2, "train_loss"].isna().all()
    assert df.loc[df["step"] != 2, "train_loss"].notna().all()
    assert (df["epoch"] == (df["step"] == 4)).all()
    # the same seed at two learning rates starts from the same init: equal losses at step 0
    init = df[df["step"] == 0].groupby(["depth", "seed"])["val_loss"].nunique()
    assert (init == 1).all()
    r = onepass_runs(df)
    assert len(r) == 2 * len(o["lrs"]) * len(TINY["seeds"]) and (r["stop_step"] >= 0).all()
    assert chosen_lr(r)["lr"].isin(o["lrs"]).all()


def test_checkpoints_and_the_validation_split():
    assert checkpoint_steps(500, 10) == [0, 50, 100, 150, 200, 250, 300, 350, 400, 450, 500]
    assert checkpoint_steps(4, 2) == [0, 2, 4] and checkpoint_steps(3, 5) == [0, 1, 2, 3]
    data = {"x": np.arange(20.0).reshape(10, 2), "y": np.arange(10)}
    train, val = split_validation(data, 3)
    assert list(train["y"]) == list(range(7)) and list(val["y"]) == [7, 8, 9]
    with pytest.raises(ValueError, match="val_samples"):
        split_validation(data, 10)


def test_the_run_is_deterministic(tiny_run):
    job = EXP.parts(TINY)["b20000_d2"]
    again = EXP.run(job, RunContext(device="cpu", threads=1, log=lambda m: None))
    pd.testing.assert_frame_equal(again, tiny_run["b20000_d2"])


def test_figure_from_the_tiny_metrics(tiny_run, tmp_path):
    m = EXP.aggregate(list(tiny_run.values()), TINY)
    EXP.metrics_schema.validate(m, "metrics")
    assert list(m["depth"].unique()) == [1, 2, 3]
    assert list(m["protocol"].unique()) == ["fit", "onepass"]
    png, pdf = tmp_path / "f.png", tmp_path / "f.pdf"
    EXP.plot(m, TINY, png, pdf)
    assert png.stat().st_size > 0 and pdf.stat().st_size > 0
    assert np.isfinite(m["test_loss"]).all()
