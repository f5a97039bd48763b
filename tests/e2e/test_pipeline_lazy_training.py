"""End-to-end: the lazy-training target on the tiny .test config, asserting on its tables and
claims."""

import numpy as np
import pytest
import yaml

from overparam import tables
from overparam.claims import CLAIMS_SCHEMA
from overparam.config import validate
from overparam.experiments import get
from overparam.experiments.lazy_training.claims import CLAIMS, slopes

from ..conftest import BASE_SCHEMA, TEST_CONFIG

pytestmark = pytest.mark.e2e

EXP = get("lazy_training")
DIR = "results/lazy_training"


@pytest.fixture(scope="module")
def cfg():
    return validate(yaml.safe_load(TEST_CONFIG.read_text()), BASE_SCHEMA)["lazy_training"]


@pytest.fixture(scope="module")
def metrics(pipeline_run):
    return tables.read_table(pipeline_run / f"{DIR}/metrics.parquet", EXP.metrics_schema)


def test_outputs(pipeline_run, cfg):
    files = ["figures/lazy_training.png", "figures/lazy_training.pdf",
             f"{DIR}/metrics.parquet", f"{DIR}/claims.parquet"]  # fmt: skip
    files += [f"{DIR}/runs/{j}.parquet" for j in EXP.jobs(cfg)]
    for f in files:
        assert (pipeline_run / f).stat().st_size > 0, f


def test_metrics_table(metrics, cfg):
    S, W = len(cfg["seeds"]), len(cfg["widths"])
    per = metrics.groupby(["regime", "quantity"]).size()
    assert set(per) == {W * S} and len(per) == 2 * (cfg["depth"] + 1 + 4)
    assert metrics["value"].notna().all() and (metrics["value"] >= 0).all()
    q = metrics.set_index(["regime", "quantity", "width", "seed"])["value"]
    # GD fits the training set; at the reference width the two regimes are one run
    assert (q.loc[("ntk", "train_loss")] < 0.1).all()
    w0 = min(cfg["widths"])
    np.testing.assert_allclose(
        q.loc[("ntk", "ntk_change", w0)], q.loc[("scaled", "ntk_change", w0)]
    )
    # even at this size the NTK parametrisation is lazier when wider; the scaled output is not
    s = slopes(metrics)
    assert s["ntk.ntk_change"] < -0.3 and s["ntk.weight_change_l2"] < -0.5
    assert s["scaled.ntk_change"] > s["ntk.ntk_change"] + 0.3


def test_claims_rows(pipeline_run, cfg):
    df = tables.read_table(pipeline_run / f"{DIR}/claims.parquet", CLAIMS_SCHEMA)
    assert list(df["claim"]) == [f"lazy_training.{c}" for c in CLAIMS]
    assert (df["n_seeds"] == len(cfg["seeds"])).all() and df["value"].notna().all()
    assert (df["ci_low"] <= df["value"]).all() and (df["value"] <= df["ci_high"]).all()
    assert (df["scale"] == "test").all() and (df["figure"] == "figures/lazy_training.png").all()
    by = df.set_index("claim")
    assert by.loc["lazy_training.ntk_change_vanishes", "holds"]
    assert by.loc["lazy_training.scaled_leaves_lazy", "holds"]
    assert "weight_change_l3" in by.loc["lazy_training.weight_change_vanishes", "note"]
