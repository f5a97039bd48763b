"""flat_minima's jobs on a tiny config: the rows and what they must satisfy."""

import numpy as np

from overparam.experiments.flat_minima import RUN_SCHEMA

from .conftest import TINY

PER_RUN = {"reached", "steps", "train_loss", "train_acc", "test_loss", "test_acc", "top_eig",
           "stability_limit", "eps_sharpness"}  # fmt: skip


def test_tables_follow_the_schema(tiny_run):
    assert set(tiny_run) == {"fixed_lr", "scaled_lr"}
    for job_id, df in tiny_run.items():
        RUN_SCHEMA.validate(df, job_id)
        assert list(df.columns) == list(RUN_SCHEMA.columns)
        assert set(RUN_SCHEMA.doc) == set(RUN_SCHEMA.columns)


def test_rows_per_job(tiny_run):
    S, B = len(TINY["seeds"]), len(TINY["batch_sizes"])
    E, A = len(TINY["sharpness"]["eps"]), TINY["slice"]["points"]
    for df in tiny_run.values():
        assert set(df["quantity"]) == PER_RUN | {"slice_train_loss", "slice_test_loss"}
        assert len(df) == S * B * (len(PER_RUN) - 1 + E) + 2 * S * A
        runs = df[df["quantity"].isin(PER_RUN)]
        assert runs["value"].notna().all()  # nothing diverged at this size


def test_every_run_stops_at_the_target_loss(tiny_run):
    for df in tiny_run.values():
        v = df.set_index(["quantity", "batch_size", "seed"])["value"]
        assert (v.loc["reached"] == 1).all()
        assert (v.loc["train_loss"] < TINY["stop_train_loss"]).all()
        assert (v.loc["steps"] > 0).all() and (v.loc["steps"] <= 200).all()


def test_lr_rules_and_stability_limit(tiny_run):
    fixed, scaled = tiny_run["fixed_lr"], tiny_run["scaled_lr"]
    assert (fixed["lr"] == TINY["lr"]).all()
    for b, g in scaled.groupby("batch_size"):
        assert np.allclose(g["lr"], TINY["lr"] * b / TINY["ref_batch"])
    lim = scaled[scaled["quantity"] == "stability_limit"]
    np.testing.assert_allclose(lim["value"], 2 / lim["lr"])


def test_sharpness_rows(tiny_run):
    df = tiny_run["fixed_lr"]
    eps = df[df["quantity"] == "eps_sharpness"]
    assert sorted(eps["x"].unique()) == sorted(TINY["sharpness"]["eps"])
    wide = eps.pivot_table(index=["batch_size", "seed"], columns="x", values="value")
    assert (wide[1e-3] >= wide[5e-4]).all() and (wide[5e-4] > 0).all()
    top = df[df["quantity"] == "top_eig"]["value"]
    assert (top > 0).all()


def test_slice_ends_are_the_sweeps_ends(tiny_run):
    df = tiny_run["fixed_lr"]
    lo, hi = TINY["batch_sizes"][0], TINY["batch_sizes"][-1]
    sl = df[df["quantity"] == "slice_train_loss"]
    assert (sl["batch_size"] == hi).all()
    tr = df[df["quantity"] == "train_loss"].set_index(["batch_size", "seed"])["value"]
    for alpha, b in ((0.0, lo), (1.0, hi)):
        end = sl[sl["x"] == alpha].set_index("seed")["value"]
        np.testing.assert_allclose(end.to_numpy(), tr.loc[b].loc[end.index].to_numpy(), rtol=1e-5)
