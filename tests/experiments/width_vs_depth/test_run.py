"""A tiny width_vs_depth run: its table, parameter counts, determinism, and the figure."""

import numpy as np
import pandas as pd

from overparam.experiments import RunContext, get
from overparam.models import MLPSpec, num_params

from .conftest import TINY

EXP = get("width_vs_depth")


def test_run_tables(tiny_run):
    assert list(tiny_run) == ["b20000_d1", "b20000_d2", "b20000_d3"]
    for job_id, df in tiny_run.items():
        EXP.run_schema.validate(df, job_id)
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


def test_the_run_is_deterministic(tiny_run):
    job = EXP.jobs(TINY)["b20000_d2"]
    again = EXP.run(job, RunContext(device="cpu", threads=1, log=lambda m: None))
    pd.testing.assert_frame_equal(again, tiny_run["b20000_d2"])


def test_figure_from_the_tiny_metrics(tiny_run, tmp_path):
    m = EXP.aggregate(list(tiny_run.values()), TINY)
    EXP.metrics_schema.validate(m, "metrics")
    assert list(m["depth"].unique()) == [1, 2, 3]
    png, pdf = tmp_path / "f.png", tmp_path / "f.pdf"
    EXP.plot(m, TINY, png, pdf)
    assert png.stat().st_size > 0 and pdf.stat().st_size > 0
    assert np.isfinite(m["test_loss"]).all()
