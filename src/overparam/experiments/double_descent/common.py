"""What the three panels of double_descent share: the run table, its rows, the size grid."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ...tables import Schema

NAME = "double_descent"
NUM_CLASSES = 10
NAN = math.nan

RUN_SCHEMA = Schema(
    name="double_descent.runs",
    columns={
        "panel": "str",
        "estimator": "str",
        "seed": "int",
        "n_train": "int",
        "width": "int",
        "num_params": "int",
        "gamma": "float",
        "params_per_sample": "float",
        "ridge_lambda": "float",
        "label_noise": "float",
        "bandwidth": "float",
        "epoch": "int",
        "train_mse": "float",
        "test_mse": "float",
        "excess_risk": "float",
        "theory_excess_risk": "float",
        "norm": "float",
        "train_error": "float",
        "test_error": "float",
        "train_loss": "float",
        "test_loss": "float",
        "diverged": "bool",
    },
    doc={
        "panel": "linear | random_features (the config's kind, relu) | random_fourier | mlp",
        "estimator": "min_norm | optimal_ridge | sgd | kernel_limit (N = infinity: ridgeless regression with the features' limit kernel; one identical row per feature-draw seed, so that resampling seeds keeps it)",
        "seed": "the run's seed",
        "n_train": "number of training samples",
        "width": "swept size: p (linear), N features (random features; 0 for the kernel limit N = infinity), h (mlp)",
        "num_params": "trainable parameters: p; 10 N (10 one-hot outputs; 0 for the kernel limit); the MLP's count",
        "gamma": "width / n_train: p/n or N/n (inf for the kernel limit); NaN for mlp",
        "params_per_sample": "num_params / n_train (inf for the kernel limit)",
        "ridge_lambda": "penalty in (1/n)||y - Xb||^2 + lam ||b||^2; 0 for min-norm / mlp",
        "label_noise": "fraction of training labels redrawn at random",
        "bandwidth": "random Fourier features: the Gaussian kernel's bandwidth s (median heuristic); NaN otherwise",
        "epoch": "mlp: recorded epoch; closed-form fits: 0",
        "train_mse": "mean squared error on the training set",
        "test_mse": "linear: exact excess + sigma^2; random features: squared error of the one-hot targets summed over classes, on a test sample",
        "excess_risk": "linear only: E[(x^T(b_hat - b))^2], exact",
        "theory_excess_risk": "linear only: the asymptotic limit, Hastie et al. (min_norm) or the Marchenko-Pastur closed form (optimal_ridge)",
        "norm": "||b_hat|| (Frobenius for the 10 outputs; the kernel limit: its RKHS norm sqrt(tr(a^T K a))); NaN for mlp",
        "train_error": "0-1 error on the (noisy) training labels",
        "test_error": "0-1 error on the clean test labels",
        "train_loss": "mlp: cross-entropy on the training set",
        "test_loss": "mlp: cross-entropy on the test set",
        "diverged": "the training loss became NaN or inf (mlp)",
    },
    nullable=frozenset(
        {
            "gamma",
            "bandwidth",
            "train_mse",
            "test_mse",
            "excess_risk",
            "theory_excess_risk",
            "norm",
            "train_error",
            "test_error",
            "train_loss",
            "test_loss",
        }
    ),
)
METRICS_SCHEMA = Schema(
    name="double_descent.metrics",
    columns=RUN_SCHEMA.columns,
    nullable=RUN_SCHEMA.nullable,
    doc=RUN_SCHEMA.doc,
)

# A claim of one panel before it meets its config entry: (claim key, value, note).
PanelClaim = tuple[str, float, str]


def log_grid(lo: float, hi: float, num: int) -> np.ndarray:
    """``num`` log-spaced values from lo to hi (an odd num with lo * hi = 1 contains 1)."""
    return np.geomspace(lo, hi, num)


def sizes(n: int, lo: float, hi: float, num: int) -> np.ndarray:
    """Distinct integer sizes round(ratio * n) >= 1 over a log grid of ratios."""
    return np.unique(np.maximum(1, np.rint(log_grid(lo, hi, num) * n).astype(int)))


def factor_from(x: float, ref: float) -> float:
    """max(x/ref, ref/x): 1 when equal; NaN when undefined."""
    if not (x > 0 and ref > 0):
        return NAN
    return float(max(x / ref, ref / x))


def run_row(**kw) -> dict:
    """One row of the run table: the given columns, the others NaN / their neutral value."""
    base = {c: NAN for c in RUN_SCHEMA.nullable}
    base.update(ridge_lambda=0.0, epoch=0, diverged=False, label_noise=0.0)
    base.update(kw)
    return base


def run_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows (from ``run_row``) as a table with the run schema's columns, in order, and dtypes."""
    df = pd.DataFrame(rows, columns=list(RUN_SCHEMA.columns))
    ints = {c: "int64" for c, k in RUN_SCHEMA.columns.items() if k == "int"}
    floats = {c: "float64" for c, k in RUN_SCHEMA.columns.items() if k == "float"}
    return df.astype({**ints, **floats, "diverged": "bool"})
