"""End-to-end: the width-vs-depth target on the tiny .test config, asserting on its tables and
claims."""

import numpy as np
import pytest
import yaml

from overparam import tables
from overparam.claims import CLAIMS_SCHEMA
from overparam.config import validate
from overparam.experiments import get
from overparam.experiments.width_vs_depth.claims import CLAIMS, per_run, per_shape
from overparam.experiments.width_vs_depth.onepass import chosen_lr, onepass_runs

from ..conftest import BASE_SCHEMA, TEST_CONFIG

pytestmark = pytest.mark.e2e

EXP = get("width_vs_depth")
DIR = "results/width_vs_depth"


@pytest.fixture(scope="module")
def cfg():
    return validate(yaml.safe_load(TEST_CONFIG.read_text()), BASE_SCHEMA)["width_vs_depth"]


@pytest.fixture(scope="module")
def metrics(pipeline_run):
    return tables.read_table(pipeline_run / f"{DIR}/metrics.parquet", EXP.metrics_schema)


def test_outputs(pipeline_run, cfg):
    files = ["figures/width_vs_depth.png", "figures/width_vs_depth.pdf",
             f"{DIR}/metrics.parquet", f"{DIR}/claims.parquet", f"{DIR}/provenance.json"]  # fmt: skip
    files += [f"{DIR}/runs/{j}.parquet" for j in EXP.jobs(cfg)]
    assert len(EXP.parts(cfg)) == len(cfg["budgets"]) * (len(cfg["depths"]) + 1) == 4
    # one job per budget trains its depths in turn (a bundle), one runs its one-pass protocol
    assert list(EXP.jobs(cfg)) == ["b20000", "onepass_b20000"]
    for f in files:
        assert (pipeline_run / f).stat().st_size > 0, f


def test_bundle_provenance(pipeline_run, cfg):
    """The bundle's run table records each of its parts: rows and seconds."""
    prov = tables.read_provenance(pipeline_run / f"{DIR}/runs/b20000.parquet")
    assert list(prov["parts"]) == [f"b20000_d{d}" for d in cfg["depths"]]
    rows = len(cfg["seeds"]) * (cfg["epochs"] // cfg["eval_every"] + 1)
    assert all(p["rows"] == rows and p["train_s"] > 0 for p in prov["parts"].values())
    assert prov["config"] == EXP.jobs(cfg)["b20000"].params()


def test_metrics_table(metrics, cfg):
    S, E = len(cfg["seeds"]), cfg["epochs"] // cfg["eval_every"] + 1
    o = cfg["onepass"]
    one = metrics[metrics["protocol"] == "onepass"]
    assert len(one) == len(cfg["budgets"]) * len(o["depths"]) * len(o["lrs"]) * S * (
        o["checkpoints"] + 1
    )
    assert one["val_loss"].notna().all() and not one["diverged"].any()
    metrics = metrics[metrics["protocol"] == "fit"]
    assert len(metrics) == len(cfg["budgets"]) * len(cfg["depths"]) * S * E
    shapes = metrics.groupby("depth")[["width", "num_params", "budget"]].first()
    assert list(shapes["width"]) == [392, 118, 73]  # the budget-matched widths of 20000
    assert ((shapes["num_params"] - shapes["budget"]).abs() <= 0.01 * shapes["budget"]).all()
    assert not metrics["diverged"].any() and metrics["test_loss"].notna().all()
    # every shape learns: training accuracy rises well above chance (10 classes)
    last = metrics[metrics["epoch"] == cfg["epochs"]]
    assert (last["train_acc"] > 0.4).all() and (last["test_acc"] > 0.3).all()
    # at this scale the one- and two-hidden-layer networks reach the fit target, depth 4 lags
    s = per_shape(per_run(metrics, cfg["claims_setup"]["fit_train_acc"])).set_index("depth")
    assert s.loc[2, "median_epochs"] <= cfg["epochs"]
    assert s.loc[4, "median_final_train_acc"] < s.loc[2, "median_final_train_acc"]


def test_claims_rows(pipeline_run, cfg, metrics):
    df = tables.read_table(pipeline_run / f"{DIR}/claims.parquet", CLAIMS_SCHEMA)
    assert list(df["claim"]) == [f"width_vs_depth.{c}" for c in CLAIMS]
    assert (df["n_seeds"] == len(cfg["seeds"])).all() and df["value"].notna().all()
    assert (df["ci_low"] <= df["value"]).all() and (df["value"] <= df["ci_high"]).all()
    assert (df["scale"] == "test").all() and (df["figure"] == "figures/width_vs_depth.png").all()
    by = df.set_index("claim")
    slower = by.loc["width_vs_depth.deeper_slower_to_fit"]
    assert slower["holds"] and slower["value"] > 1
    assert "L=4 (w=73)" in slower["note"]
    # the old shape row's value is the spread of the test-stopped test losses of depths 2 and 4
    r = per_run(metrics, cfg["claims_setup"]["fit_train_acc"])
    med = r[r["depth"] >= 2].groupby("depth")["best_test_loss"].median()
    spread = by.loc["width_vs_depth.shape_insensitive_small_data", "value"]
    assert spread == pytest.approx(med.max() / med.min() - 1)
    assert np.isfinite(spread) and spread > 0
    # the one-pass row's: of the test losses where validation stopped, at validation's lr
    c = chosen_lr(onepass_runs(metrics))
    assert c["lr"].isin(cfg["onepass"]["lrs"]).all() and len(c) == 2
    one = by.loc["width_vs_depth.shape_insensitive", "value"]
    assert one == pytest.approx(c["test_loss"].max() / c["test_loss"].min() - 1)
    assert by.loc["width_vs_depth.shape_insensitive", "tier"] == "extension"
