"""mode_connectivity's jobs on a tiny config: the path rows and what they must satisfy."""

import numpy as np
import pytest

from overparam import connect
from overparam.experiments import get
from overparam.experiments.mode_connectivity import RUN_SCHEMA, choose_lr
from overparam.experiments.mode_connectivity.run import alpha_grid
from overparam.models import mlp_forward

from .conftest import TINY

EXP = get("mode_connectivity")


def test_tables_follow_the_schema(tiny_run):
    for job_id, df in tiny_run.items():
        RUN_SCHEMA.validate(df, job_id)
        assert list(df.columns) == list(RUN_SCHEMA.columns)


def test_demo_as_written(tiny_run):
    d = tiny_run["demo"]
    own = d[(d["seed"] == 0) & (d["method"] == "linear")]
    assert len(own) == 11 and own["demo_alpha"].sum() == 7  # 0, 0.1, ..., 1 hold the demo's 7
    ends = own[own["alpha"].isin([0.0, 1.0])]["train_loss"]
    assert (ends < 1e-6).all()  # both trained to MSE < 1e-6 (the endpoints exactly)
    assert own["train_loss"].max() > 0.1  # the straight line crosses a barrier (see README)
    pair = connect.demo_pair()
    mid = connect.interpolate(*([p[k] for p in pair.params] for k in (0, 1)), 0.5)
    mse = float(((mlp_forward(pair.spec, [p[None] for p in mid], pair.x) - pair.y) ** 2)
                .mean())  # fmt: skip
    got = own.loc[own["alpha"] == 0.5, "train_loss"].item()
    assert got == pytest.approx(mse, rel=1e-5)
    # the demo's alpha weighs its model 1 (seed 1): alpha 1 is that network, alpha 0 model 2
    by = own.set_index("alpha")["train_loss"]
    assert by[1.0] == pytest.approx(pair.train_mse[0], rel=1e-4)
    assert by[0.0] == pytest.approx(pair.train_mse[1], rel=1e-4)


def test_demo_pairs_and_their_weight_matching(tiny_run):
    d = tiny_run["demo"]
    assert set(d["seed"]) == {0, 1} and set(d["method"]) == {"linear", "aligned"}
    lin, al = (d[d["method"] == m].set_index(["seed", "alpha"]) for m in ("linear", "aligned"))
    # pair 1: the next seeds (3, 4), another pair of fitted networks
    assert (lin.xs(1, level="seed").loc[[0.0, 1.0], "train_loss"] < 1e-6).all()
    # matching permutes network b within its symmetry class: the endpoints are unchanged
    ends = lin.index.get_level_values("alpha").isin([0.0, 1.0])
    np.testing.assert_allclose(al.loc[ends, "train_loss"], lin.loc[ends, "train_loss"],
                               rtol=1e-4, atol=1e-9)  # fmt: skip
    assert (al["perm_max_abs_diff"] < 1e-4).all() and lin["perm_max_abs_diff"].isna().all()


def test_width_jobs(tiny_run):
    for w in TINY["widths"]:
        df = tiny_run[f"w{w}"]
        methods = set(df["method"])
        assert methods == ({"linear", "aligned", "bezier"} if w == 24 else {"linear", "aligned"})
        lin, al = (
            df[df["method"] == m].set_index(["seed", "alpha"]) for m in ("linear", "aligned")
        )
        # alignment moves network b within its symmetry class: both endpoints' losses unchanged
        for a in (0.0, 1.0):
            np.testing.assert_allclose(
                al.xs(a, level="alpha")["train_loss"], lin.xs(a, level="alpha")["train_loss"],
                rtol=1e-5,
            )  # fmt: skip
        assert (al["perm_max_abs_diff"] < 1e-4).all() and lin["perm_max_abs_diff"].isna().all()
        assert sorted(df["alpha"].unique())[:2] == [0.0, 0.2]
        assert set(df["seed"]) == {0, 1} and (df["spawn_step"] == -1).all()
        assert df[["train_loss", "test_loss", "train_err", "test_err"]].notna().all().all()


def test_stability_job(tiny_run):
    df = tiny_run["stability_w8"]
    sel = df[df["panel"] == "lr_select"]
    # one network per lr of the grid, validated on a split of the training set
    assert sorted(sel["lr"]) == [0.01, 0.05] and sel["val_err"].notna().all()
    assert sel["test_err"].isna().all() and sel["selected_lr"].sum() == 1
    chosen = sel.loc[sel["selected_lr"], "lr"].item()
    assert chosen == choose_lr(sel["lr"], sel["val_err"])
    st = df[df["panel"] == "stability"]
    assert sorted(st["spawn_step"].unique()) == [0, 5]  # 480 samples, batch 100: 5 steps/epoch
    assert set(st["method"]) == {"linear"} and set(st["seed"]) == {0, 1}
    # the chosen protocol's lr and the former one's (train.lr 0.05), marked
    assert set(st["lr"]) == {chosen, 0.05}
    assert (st["selected_lr"] == (st["lr"] == chosen)).all()


def test_choose_lr_rule():
    assert choose_lr([0.1, 0.1, 0.2, 0.2], [0.3, 0.1, 0.2, 0.2]) == 0.1  # ties: the smaller
    assert choose_lr([0.1, 0.2], [0.3, 0.25]) == 0.2
    assert choose_lr([0.1, 0.2], [0.3, float("nan")]) == 0.1  # diverged: error 1


def test_alpha_grid_holds_the_demo_alphas_exactly():
    a = alpha_grid(61, (0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0))
    assert len(a) == 61 and {0.2, 0.4, 0.6, 0.8} <= set(a.tolist())
