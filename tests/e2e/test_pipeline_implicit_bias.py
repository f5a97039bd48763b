"""End-to-end: the implicit-bias target on the tiny .test config, asserting on its tables
and claims."""

import numpy as np
import pytest
import yaml

from overparam import tables
from overparam.claims import CLAIMS_SCHEMA
from overparam.config import validate
from overparam.experiments import get
from overparam.experiments.implicit_bias.claims import CLAIMS, final

from ..conftest import BASE_SCHEMA, TEST_CONFIG

pytestmark = pytest.mark.e2e

EXP = get("implicit_bias")
DIR = "results/implicit_bias"


@pytest.fixture(scope="module")
def cfg():
    return validate(yaml.safe_load(TEST_CONFIG.read_text()), BASE_SCHEMA)["implicit_bias"]


@pytest.fixture(scope="module")
def metrics(pipeline_run):
    return tables.read_table(pipeline_run / f"{DIR}/metrics.parquet", EXP.metrics_schema)


def test_outputs(pipeline_run, cfg):
    files = ["figures/implicit_bias.png", "figures/implicit_bias.pdf",
             f"{DIR}/metrics.parquet", f"{DIR}/claims.parquet"]  # fmt: skip
    files += [f"{DIR}/runs/{j}.parquet" for j in EXP.jobs(cfg)]
    for f in files:
        assert (pipeline_run / f).stat().st_size > 0, f


def test_metrics_table(metrics, cfg):
    assert set(metrics["panel"]) == {"least_squares", "logistic", "neural"}
    ls = metrics[metrics["panel"] == "least_squares"]
    gd = final(ls[ls["kind"] != "null_shift"])
    # GD lands on X^+ y + (I - X^+ X) w0 to float64 precision, from 0 on the min-norm point
    assert (gd["rel_dist"] < 1e-9).all()
    zero = gd[gd["kind"] == "gd_w0_zero"]
    np.testing.assert_allclose(zero["norm"], zero["ref_norm"], rtol=1e-9)
    other = ls[ls["kind"] == "null_shift"]
    assert (other["loss"] < 1e-20).all() and (other["norm"] > other["ref_norm"]).all()
    lg = metrics[metrics["panel"] == "logistic"]
    assert sorted(lg["dim"].unique()) == sorted(cfg["logistic"]["dims"])
    assert (lg["kkt"] < 1e-8).all() and lg["angle"].between(0, np.pi).all()
    end = final(lg)
    assert (end["step"] == cfg["logistic"]["steps"]).all()
    nn = final(metrics[metrics["panel"] == "neural"])
    assert len(nn) == len(cfg["neural"]["init_scales"]) * len(cfg["neural"]["seeds"])
    assert (nn["loss"] < cfg["claims_setup"]["interpolation_mse"]).all()


def test_claims_rows(pipeline_run, cfg):
    df = tables.read_table(pipeline_run / f"{DIR}/claims.parquet", CLAIMS_SCHEMA)
    assert list(df["claim"]) == [f"implicit_bias.{c}" for c in CLAIMS]
    by = df.set_index("claim")
    for c in ("ls_reaches_limit", "ls_min_norm", "svm_kkt", "norm_log_fit",
              "neural_interpolate", "neural_lazy_displacement"):  # fmt: skip
        assert by.loc[f"implicit_bias.{c}", "holds"], by.loc[f"implicit_bias.{c}"]
    ls = df[df["claim"].str.startswith("implicit_bias.ls_")]
    assert (ls["n_seeds"] == len(cfg["least_squares"]["seeds"])).all()
    nets = df[df["claim"].str.startswith("implicit_bias.neural_")]
    assert (nets["n_seeds"] == len(cfg["neural"]["seeds"])).all()
    assert df["value"].notna().all()
    assert (df["ci_low"] <= df["value"]).all() and (df["value"] <= df["ci_high"]).all()
    assert (df["scale"] == "test").all() and (df["figure"] == "figures/implicit_bias.png").all()
