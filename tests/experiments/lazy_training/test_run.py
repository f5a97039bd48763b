"""lazy_training's jobs on a tiny config: the rows and what they must satisfy."""

import math

import numpy as np

from overparam.experiments.lazy_training import RUN_SCHEMA, Task
from overparam.experiments.lazy_training.run import make_task

from .conftest import TINY


def test_tables_follow_the_schema(tiny_run):
    for job_id, df in tiny_run.items():
        RUN_SCHEMA.validate(df, job_id)
        assert list(df.columns) == list(RUN_SCHEMA.columns)
        assert df["value"].notna().all() and (df["value"] >= 0).all()


def test_rows_per_job(tiny_run):
    df = tiny_run["w16"]
    quantities = {f"weight_change_l{i}" for i in (1, 2, 3)}
    quantities |= {"ntk_change", "lin_gap", "kr_gap", "train_loss"}
    assert set(df["quantity"]) == quantities
    assert len(df) == 2 * len(TINY["seeds"]) * len(quantities)


def test_the_regimes_scale_output_and_lr(tiny_run):
    df = tiny_run["w64"]
    ntk, scaled = df[df["regime"] == "ntk"], df[df["regime"] == "scaled"]
    assert (ntk["output_scale"] == 1.0).all() and (ntk["lr"] == TINY["lr"]).all()
    alpha = math.sqrt(16 / 64)
    assert np.allclose(scaled["output_scale"], alpha)
    assert np.allclose(scaled["lr"], TINY["lr"] / alpha**2)
    # at the reference width the two regimes are the same run
    w16 = tiny_run["w16"].sort_values(["quantity", "seed"])
    a, b = (w16[w16["regime"] == r]["value"].to_numpy() for r in ("ntk", "scaled"))
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_training_fits_and_the_task_is_standardised(tiny_run):
    for df in tiny_run.values():
        assert (df[df["quantity"] == "train_loss"]["value"] < 0.5).all()
    x, y = make_task(Task(in_dim=4, train=8, test=8, seed=0))
    assert x.shape == (16, 4) and abs(float(y.mean())) < 1e-6 and abs(float(y.std(0)) - 1) < 0.1
    np.testing.assert_allclose(x.norm(dim=1).numpy(), 2.0, rtol=1e-5)
