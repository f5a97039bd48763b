"""End-to-end: the mode-connectivity target on the tiny .test config, asserting on its tables
and claims."""

import numpy as np
import pytest
import yaml

from overparam import tables
from overparam.claims import CLAIMS_SCHEMA
from overparam.config import validate
from overparam.experiments import get
from overparam.experiments.mode_connectivity.claims import CLAIMS, barriers

from ..conftest import BASE_SCHEMA, TEST_CONFIG

pytestmark = pytest.mark.e2e

EXP = get("mode_connectivity")
DIR = "results/mode_connectivity"


@pytest.fixture(scope="module")
def cfg():
    return validate(yaml.safe_load(TEST_CONFIG.read_text()), BASE_SCHEMA)["mode_connectivity"]


@pytest.fixture(scope="module")
def metrics(pipeline_run):
    return tables.read_table(pipeline_run / f"{DIR}/metrics.parquet", EXP.metrics_schema)


def test_outputs(pipeline_run, cfg):
    files = ["figures/mode_connectivity.png", "figures/mode_connectivity.pdf",
             f"{DIR}/metrics.parquet", f"{DIR}/claims.parquet"]  # fmt: skip
    files += [f"{DIR}/runs/{j}.parquet" for j in EXP.jobs(cfg)]
    for f in files:
        assert (pipeline_run / f).stat().st_size > 0, f


def test_metrics_table(metrics, cfg):
    assert set(metrics["panel"]) == {"demo", "width", "lr_select", "stability"}
    demo = metrics[metrics["panel"] == "demo"]
    assert len(demo) == cfg["demo"]["grid_points"] * cfg["demo"]["pairs"] * 2  # linear, aligned
    own = demo[(demo["seed"] == 0) & (demo["method"] == "linear")]
    assert len(own) == cfg["demo"]["grid_points"] and own["demo_alpha"].sum() == 7
    # the demo as written: both networks fit (MSE < 1e-6); its straight line has a barrier
    assert (demo.loc[demo["alpha"].isin([0.0, 1.0]), "train_loss"] < 1e-6).all()
    assert own["train_loss"].max() > 0.1
    sel = metrics[metrics["panel"] == "lr_select"]
    assert len(sel) == len(cfg["stability"]["lr_grid"]) * cfg["stability"]["select_seeds"]
    assert sel["val_err"].notna().all() and sel["selected_lr"].sum() == cfg["stability"][
        "select_seeds"]  # fmt: skip
    w = metrics[metrics["panel"] == "width"]
    P, A = cfg["pairs"], cfg["alphas"]
    assert len(w) == len(cfg["widths"]) * 2 * P * A + P * cfg["bezier"]["points"]
    aligned = w[w["method"] == "aligned"]
    assert (aligned["perm_max_abs_diff"] < 1e-4).all()  # the permuted network is the same function
    s = metrics[metrics["panel"] == "stability"]
    spe = -(-int(cfg["data"]["num_samples"] * cfg["data"]["train_split"]) // 100)
    assert sorted(s["spawn_step"].unique()) == [k * spe for k in cfg["stability"]["spawn_epochs"]]
    assert s["selected_lr"].any() and set(s["lr"]) >= {cfg["train"]["lr"]}
    b = barriers(metrics)
    assert b["barrier_train_loss"].notna().all() and (b["barrier_train_loss"] >= 0).all()
    # weight matching permutes network b only: the aligned line ends where the straight one does
    ends = w[w["alpha"].isin([0.0, 1.0])].sort_values(["width", "seed", "alpha"])
    np.testing.assert_allclose(
        ends.loc[ends["method"] == "aligned", "train_loss"].to_numpy(),
        ends.loc[ends["method"] == "linear", "train_loss"].to_numpy(),
        rtol=1e-5,
    )


def test_claims_rows(pipeline_run):
    df = tables.read_table(pipeline_run / f"{DIR}/claims.parquet", CLAIMS_SCHEMA)
    assert list(df["claim"]) == [f"mode_connectivity.{c}" for c in CLAIMS]
    by = df.set_index("claim")
    demo = by.loc["mode_connectivity.demo_linearly_connected"]
    # the demo's own verdict, reproduced: its straight line is not low-loss
    assert not demo["holds"] and demo["value"] > 0.1 and demo["n_seeds"] == 1
    rest = df[df["claim"] != "mode_connectivity.demo_linearly_connected"]
    assert (rest["n_seeds"] == 2).all() and rest["value"].notna().all()
    assert (rest["ci_low"] <= rest["value"]).all() and (rest["value"] <= rest["ci_high"]).all()
    assert (df["scale"] == "test").all() and (df["figure"] == "figures/mode_connectivity.png").all()
