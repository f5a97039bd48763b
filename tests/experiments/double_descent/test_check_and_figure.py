"""double_descent: the experiment's check (all panels' claims, in order) and figure, on small
synthetic tables."""

import pandas as pd
import pytest

from overparam import experiments
from overparam.claims import CLAIMS_SCHEMA, claims_frame
from overparam.experiments import CheckContext, RunContext
from overparam.experiments.double_descent import LinearJob

from ...conftest import validated
from .conftest import CURVE, RF_JOB, RFF_JOB

EXP = experiments.get("double_descent")
CFG = validated("config/config.yaml")["double_descent"]
ORDER = [
    "linear_matches_hastie_under",
    "linear_matches_hastie_over",
    "linear_peak_at_one",
    "optimal_ridge_monotone",
    "optimal_ridge_matches_theory",
    "rf_error_peak",
    "rf_norm_peak",
    "rf_second_descent_mse",
    "rf_second_descent_error",
    "rf_kernel_limit_mse",
    "mlp_peak_near_interpolation",
    "mlp_peak_height",
    "mlp_second_descent",
    "rff_error_peak",
    "rff_norm_peak",
    "rff_second_descent_mse",
    "rff_second_descent_error",
    "rff_kernel_limit_mse",
]


@pytest.fixture(scope="module")
def metrics(rf_ctx):
    quiet = RunContext(log=lambda s: None)
    lin = EXP.run(
        LinearJob(
            n=40,
            snr_r2=1.0,
            noise_sd=0.5,
            gamma_min=0.25,
            gamma_max=4.0,
            num_gammas=5,
            num_seeds=20,
        ),
        quiet,
    )
    rf = EXP.run(RF_JOB, rf_ctx)
    rff = EXP.run(RFF_JOB, rf_ctx)
    mlp = CURVE.assign(
        panel="mlp",
        estimator="sgd",
        seed=0,
        n_train=100,
        num_params=1,
        params_per_sample=0.5,
        ridge_lambda=0.0,
        label_noise=0.15,
        epoch=500,
        train_loss=1.0,
        test_loss=1.0,
        diverged=False,
    )
    return EXP.aggregate([mlp.reindex(columns=list(EXP.run_schema.columns)), rff, rf, lin], CFG)


def test_aggregate_orders_the_rows(metrics):
    EXP.metrics_schema.validate(metrics, "metrics")
    assert list(metrics["panel"].unique()) == ["linear", "mlp", "random_features", "random_fourier"]
    lin = metrics[metrics["panel"] == "linear"]
    assert list(lin["estimator"].unique()) == ["min_norm", "optimal_ridge"]


def test_check_gives_every_claim_in_panel_order(metrics):
    cfg = {
        **CFG,
        "random_features": {**CFG["random_features"], "n_train": 40},
        "random_fourier": {**CFG["random_fourier"], "n_train": 40},
    }
    ctx = CheckContext(scale="tiny", figure="somewhere/double_descent.png", resamples=50)
    df = claims_frame(EXP.check(metrics, cfg, ctx))
    CLAIMS_SCHEMA.validate(df, "claims")
    assert df["claim"].tolist() == [f"double_descent.{c}" for c in ORDER]
    assert (df["figure"] == "somewhere/double_descent.png").all() and (df["scale"] == "tiny").all()
    v = df.set_index("claim")["value"]
    assert v["double_descent.linear_peak_at_one"] == 1.0
    assert v["double_descent.rf_error_peak"] == 1.0
    assert v["double_descent.rff_norm_peak"] == 1.0
    assert v["double_descent.mlp_peak_height"] == pytest.approx(0.06)
    assert (
        df.set_index("claim").loc["double_descent.linear_peak_at_one", "threshold"]
        == EXP.definitions()["linear_peak_at_one"].threshold
    )


def test_plot_writes_both_files(metrics, tmp_path):
    png, pdf = tmp_path / "dd.png", tmp_path / "dd.pdf"
    EXP.plot(metrics, CFG, png, pdf)
    assert png.stat().st_size > 10_000 and pdf.read_bytes()[:4] == b"%PDF"


def test_run_tables_keep_their_column_order(metrics):
    assert list(metrics.columns) == list(EXP.run_schema.columns)
    assert isinstance(metrics, pd.DataFrame) and len(metrics) == 5 * 20 * 2 + 2 * (10 + 2) + 6
