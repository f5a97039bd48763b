"""End-to-end: the flat_minima target on the tiny .test config, asserting on its tables and
claims."""

import numpy as np
import pytest
import yaml

from overparam import tables
from overparam.claims import CLAIMS_SCHEMA
from overparam.config import validate
from overparam.experiments import get
from overparam.experiments.flat_minima.claims import CLAIMS, per_run

from ..conftest import BASE_SCHEMA, TEST_CONFIG

pytestmark = pytest.mark.e2e

EXP = get("flat_minima")
DIR = "results/flat_minima"


@pytest.fixture(scope="module")
def cfg():
    return validate(yaml.safe_load(TEST_CONFIG.read_text()), BASE_SCHEMA)["flat_minima"]


@pytest.fixture(scope="module")
def metrics(pipeline_run):
    return tables.read_table(pipeline_run / f"{DIR}/metrics.parquet", EXP.metrics_schema)


def test_outputs(pipeline_run, cfg):
    files = ["figures/flat_minima.png", "figures/flat_minima.pdf",
             f"{DIR}/metrics.parquet", f"{DIR}/claims.parquet"]  # fmt: skip
    files += [f"{DIR}/runs/{j}.parquet" for j in EXP.jobs(cfg)]
    for f in files:
        assert (pipeline_run / f).stat().st_size > 0, f


def test_metrics_table(metrics, cfg):
    S, B = len(cfg["seeds"]), len(cfg["batch_sizes"])
    runs = per_run(metrics, cfg["claims_setup"]["eps"])
    assert len(runs) == 2 * B * S and runs.notna().all().all()
    # every run reached the common training loss, and stopped there
    assert (runs["reached"] == 1).all()
    assert (runs["train_loss"] < cfg["stop_train_loss"]).all()
    assert (runs["top_eig"] > 0).all() and (runs["eps_sharpness"] > 0).all()
    sweep = metrics[metrics["rule"] != "gd"]
    lr = sweep.groupby(["rule", "batch_size"])["lr"].first()
    np.testing.assert_allclose(runs["stability_limit"].groupby(["rule", "batch_size"]).first(),
                               2 / lr)  # fmt: skip
    # at the reference batch size the two rules share the learning rate, hence the run
    ref = cfg["ref_batch"]
    if ref in cfg["batch_sizes"]:
        np.testing.assert_allclose(runs.loc[("fixed", ref)], runs.loc[("scaled", ref)])
    sl = metrics[metrics["quantity"] == "slice_train_loss"]
    assert len(sl) == 2 * S * cfg["slice"]["points"] and sl["value"].notna().all()
    # the edge-of-stability job: a sharpness trajectory per (lr, seed), from step 0
    e = cfg["edge_of_stability"]
    gd = metrics[metrics["quantity"] == "gd_sharpness"]
    assert (gd["rule"] == "gd").all() and gd["value"].notna().all() and (gd["value"] > 0).all()
    first = gd.groupby(["lr", "seed"])["x"].min()
    assert len(first) == len(e["lrs"]) * len(e["seeds"]) and (first == 0).all()


def test_claims_rows(pipeline_run, cfg):
    df = tables.read_table(pipeline_run / f"{DIR}/claims.parquet", CLAIMS_SCHEMA)
    assert list(df["claim"]) == [f"flat_minima.{c}" for c in CLAIMS]
    gd = df["claim"].str.contains(".gd_", regex=False)
    assert (df.loc[~gd, "n_seeds"] == len(cfg["seeds"])).all()
    assert (df.loc[gd, "n_seeds"] == len(cfg["edge_of_stability"]["seeds"])).all()
    ok = df["value"].notna()
    assert (df.loc[ok, "ci_low"] <= df.loc[ok, "value"]).all()
    assert (df.loc[ok, "value"] <= df.loc[ok, "ci_high"]).all()
    assert (df["scale"] == "test").all() and (df["figure"] == "figures/flat_minima.png").all()
    by = df.set_index("claim")
    # slopes are always defined when every run reached the target, and the climb towards
    # 2 / lr whenever GD starts below it (at initialisation, far below)
    for c in ("fixed_sharper_with_batch", "fixed_worse_test_with_batch",
              "gd_progressive_sharpening"):  # fmt: skip
        assert np.isfinite(by.loc[f"flat_minima.{c}", "value"]), c
    assert "mini-batch SGD solutions" in by.loc["flat_minima.gd_edge_of_stability", "note"]
    assert "B=16" in by.loc["flat_minima.fixed_sharper_with_batch", "note"]
