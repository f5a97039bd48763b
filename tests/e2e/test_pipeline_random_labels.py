"""End-to-end: the random-labels target on the tiny .test config, asserting on its tables and
claims."""

import numpy as np
import pytest
import yaml

from overparam import tables
from overparam.claims import CLAIMS_SCHEMA
from overparam.config import validate
from overparam.experiments import get
from overparam.experiments.random_labels.claims import CLAIMS, finals

from ..conftest import BASE_SCHEMA, TEST_CONFIG

pytestmark = pytest.mark.e2e

EXP = get("random_labels")
DIR = "results/random_labels"


@pytest.fixture(scope="module")
def cfg():
    return validate(yaml.safe_load(TEST_CONFIG.read_text()), BASE_SCHEMA)["random_labels"]


@pytest.fixture(scope="module")
def metrics(pipeline_run):
    return tables.read_table(pipeline_run / f"{DIR}/metrics.parquet", EXP.metrics_schema)


def test_outputs(pipeline_run, cfg):
    files = ["figures/random_labels.png", "figures/random_labels.pdf",
             f"{DIR}/metrics.parquet", f"{DIR}/claims.parquet"]  # fmt: skip
    files += [f"{DIR}/runs/{j}.parquet" for j in EXP.jobs(cfg)]
    for f in files:
        assert (pipeline_run / f).stat().st_size > 0, f


def test_metrics_table(metrics, cfg):
    S, F = len(cfg["seeds"]), len(cfg["label_fractions"])
    f = finals(metrics)
    assert len(f) == len(cfg["widths"]) * S * (F + 1) and not f["diverged"].any()
    # every variant fits its own labels within the budget; the ensemble stops at the last fit
    assert f["fitted"].all() and (f["train_acc"] == 1.0).all()
    assert (f["epochs_run"] == f["fit_epoch"].max()).all()
    assert f["epochs_run"].iloc[0] < cfg["max_epochs"]
    lab = f[f["variant"] == "labels"].set_index(["label_fraction", "seed"])
    # the stated fraction of labels is redrawn: about 9/10 of them change
    assert (lab.loc[0.0, "changed_frac"] == 0).all()
    assert np.allclose(lab.loc[0.5, "changed_frac"], 0.45, atol=0.1)
    assert np.allclose(lab.loc[1.0, "changed_frac"], 0.9, atol=0.1)
    # true labels generalise; all-random labels do not (200 samples: a weak but clear gap)
    acc = lab["test_acc"].groupby(level="label_fraction").mean()
    assert acc[0.0] > acc[1.0] + 0.05 and acc[0.0] > 0.15


def test_claims_rows(pipeline_run, cfg):
    df = tables.read_table(pipeline_run / f"{DIR}/claims.parquet", CLAIMS_SCHEMA)
    assert list(df["claim"]) == [f"random_labels.{c}" for c in CLAIMS]
    assert (df["n_seeds"] == len(cfg["seeds"])).all() and df["value"].notna().all()
    assert (df["ci_low"] <= df["value"]).all() and (df["value"] <= df["ci_high"]).all()
    assert (df["scale"] == "test").all() and (df["figure"] == "figures/random_labels.png").all()
    by = df.set_index("claim")["value"]
    assert by["random_labels.memorises"] == 1.0
    assert by["random_labels.test_acc_falls"] == 0
    assert by["random_labels.chance_at_random"] < 0.06
    assert by["random_labels.slower_fit"] > 0.9
