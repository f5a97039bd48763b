"""flat_minima's jobs on a tiny config: the rows and what they must satisfy."""

import numpy as np
import pytest

from overparam.experiments.flat_minima import RUN_SCHEMA

from .conftest import TINY

PER_RUN = {"reached", "steps", "train_loss", "train_acc", "test_loss", "test_acc", "top_eig",
           "stability_limit", "eps_sharpness"}  # fmt: skip


SWEEPS = ("fixed_lr", "scaled_lr")
GD = {"gd_sharpness", "gd_train_loss", "gd_train_acc"}


def test_tables_follow_the_schema(tiny_run):
    assert set(tiny_run) == {"fixed_lr", "scaled_lr", "edge_of_stability"}
    for job_id, df in tiny_run.items():
        RUN_SCHEMA.validate(df, job_id)
        assert list(df.columns) == list(RUN_SCHEMA.columns)
        assert set(RUN_SCHEMA.doc) == set(RUN_SCHEMA.columns)


def test_rows_per_job(tiny_run):
    S, B = len(TINY["seeds"]), len(TINY["batch_sizes"])
    E, A = len(TINY["sharpness"]["eps"]), TINY["slice"]["points"]
    for df in (tiny_run[j] for j in SWEEPS):
        assert set(df["quantity"]) == PER_RUN | {"slice_train_loss", "slice_test_loss"}
        assert len(df) == S * B * (len(PER_RUN) - 1 + E) + 2 * S * A
        runs = df[df["quantity"].isin(PER_RUN)]
        assert runs["value"].notna().all()  # nothing diverged at this size


def test_every_run_stops_at_the_target_loss(tiny_run):
    for df in (tiny_run[j] for j in SWEEPS):
        v = df.set_index(["quantity", "batch_size", "seed"])["value"]
        assert (v.loc["reached"] == 1).all()
        assert (v.loc["train_loss"] < TINY["stop_train_loss"]).all()
        steps = df[df["quantity"] == "steps"]
        # the budget: max_steps x max(1, lr / this run's lr) (the same lr x steps)
        budget = TINY["max_steps"] * np.maximum(1.0, TINY["lr"] / steps["lr"])
        assert (steps["value"] > 0).all() and (steps["value"] <= budget).all()


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


def test_edge_of_stability_rows(tiny_run):
    df = tiny_run["edge_of_stability"]
    e = TINY["edge_of_stability"]
    assert set(df["quantity"]) == GD and (df["rule"] == "gd").all()
    assert (df["batch_size"] == e["samples"]).all() and df["value"].notna().all()
    assert sorted(df["lr"].unique()) == sorted(e["lrs"])
    for (lr, seed), r in df[df["quantity"] == "gd_sharpness"].groupby(["lr", "seed"]):
        steps = np.sort(r["x"].to_numpy())
        every = max(1, round(e["eig_time"] / lr))
        # a check at the start, every eig_time / lr steps, and one at the member's stop
        assert steps[0] == 0 and (steps[:-1] % every == 0).all()
        acc = df[(df["quantity"] == "gd_train_acc") & (df["lr"] == lr) & (df["seed"] == seed)]
        last = acc.sort_values("x")["value"].to_numpy()
        assert steps[-1] == round(e["max_time"] / lr) or last[-1] >= e["stop_train_acc"]
        assert (last[:-1] < e["stop_train_acc"]).all()  # it stops at its first success
        assert (r["value"] > 0).all()


def test_scaled_rule_checks_at_the_same_lr_x_steps():
    from overparam.experiments.flat_minima import FlatMinima
    from overparam.experiments.flat_minima.run import train_config

    jobs = FlatMinima().jobs(TINY)
    job = jobs["scaled_lr"]
    small, big = (train_config(job, b, 200, 1) for b in TINY["batch_sizes"])
    # B 8: lr 0.025, 4 x the steps between checks (in epochs: 25 steps per epoch -> 2 epochs)
    assert small.lr == pytest.approx(0.025) and big.lr == pytest.approx(0.1)
    assert small.eval_every * 25 == pytest.approx(4 * TINY["eval_steps"], rel=0.3)
