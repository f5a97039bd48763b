"""Panels (b, c): min-norm regression of one-hot MNIST-1D labels on N random ReLU (or Fourier)
features (overparam.features), N from n/10 to 10 n (Belkin et al. 2019, Fig. 2): test MSE,
test 0-1 error and the coefficient norm against N.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...data import corrupt_labels
from ...features import draw, standardize
from ...linear import min_norm
from .. import RunContext
from . import RandomFeaturesJob
from .common import NAME, NAN, NUM_CLASSES, PanelClaim, factor_from, run_frame, run_row, sizes

TEST_CHUNK = 2048  # test rows per random-feature block
RF_CLAIMS = ("rf_error_peak", "rf_norm_peak", "rf_second_descent_mse", "rf_second_descent_error")


def one_hot(y: np.ndarray, k: int = NUM_CLASSES) -> np.ndarray:
    return np.eye(k)[np.asarray(y, dtype=int)]


def run_random_features(job: RandomFeaturesJob, ctx: RunContext) -> pd.DataFrame:
    ds = job.data.load(ctx.inputs.get("data"))
    n, n_test = job.n_train, job.n_test
    if n > len(ds["y"]) or n_test > len(ds["y_test"]):
        raise ValueError(
            f"random_features: n_train={n}, n_test={n_test} exceed the dataset's "
            f"{len(ds['y'])} / {len(ds['y_test'])} samples"
        )
    y_clean = ds["y"][:n]
    noise = job.label_noise
    y, _ = corrupt_labels(y_clean, noise, NUM_CLASSES, np.random.default_rng([job.noise_seed, 17]))
    x, xt = standardize(ds["x"][:n], ds["x_test"][:n_test])
    yt = ds["y_test"][:n_test]
    Y, Yt = one_hot(y), one_hot(yt)
    Ns = sizes(n, job.ratio_min, job.ratio_max, job.num_ratios)
    rows = []
    for seed in range(job.num_seeds):
        t0 = time.perf_counter()
        rf = draw(
            job.kind,
            x.shape[1],
            int(Ns.max()),
            np.random.default_rng([seed, 8101]),
            bandwidth=job.bandwidth,
        )
        for N in Ns:
            phi = rf(x, N)
            b = min_norm(phi, Y)  # (N, 10)
            pred = phi @ b
            # test features in row chunks: at paper scale 12000 x 10^4 would be ~1 GB at once
            predt = np.concatenate(
                [rf(xt[a : a + TEST_CHUNK], N) @ b for a in range(0, len(xt), TEST_CHUNK)]
            )
            rows.append(
                run_row(
                    panel="random_features",
                    estimator="min_norm",
                    seed=seed,
                    n_train=n,
                    width=int(N),
                    num_params=int(N) * NUM_CLASSES,
                    gamma=N / n,
                    params_per_sample=N * NUM_CLASSES / n,
                    label_noise=noise,
                    train_mse=float(np.mean(np.sum((pred - Y) ** 2, 1))),
                    test_mse=float(np.mean(np.sum((predt - Yt) ** 2, 1))),
                    norm=float(np.linalg.norm(b)),
                    train_error=float(np.mean(pred.argmax(1) != y)),
                    test_error=float(np.mean(predt.argmax(1) != yt)),
                )
            )
        ctx.log(
            f"[{NAME}/random_features] seed {seed}: {len(Ns)} sizes "
            f"N={Ns.min()}..{Ns.max()} in {time.perf_counter() - t0:.1f}s"
        )
    return run_frame(rows)


def rf_summary(m: pd.DataFrame) -> pd.DataFrame:
    """Per number of features N (``width``): means over the feature draws."""
    rf = m[m["panel"] == "random_features"]
    return (
        rf.groupby("width", sort=True)
        .agg(
            gamma=("gamma", "first"),
            test_mse=("test_mse", "mean"),
            test_error=("test_error", "mean"),
            train_mse=("train_mse", "mean"),
            norm=("norm", "mean"),
            runs=("seed", "size"),
        )
        .reset_index()
    )


def _below_best_under(f: pd.DataFrame, n: int, col: str) -> tuple[float, str]:
    """``col`` at the largest N / its minimum over the under-parameterised sizes N < n, and
    that comparison in words; NaN when the grid has no N < n."""
    under = f[f["width"] < n]
    last = f.iloc[-1] if len(f) else None
    if under.empty or last is None or int(last["width"]) < n:
        return NAN, f"no {col} to compare: the grid needs sizes below and above n={n}"
    i = int(under[col].to_numpy().argmin())
    best = float(under[col].iloc[i])
    return float(last[col] / best) if best > 0 else NAN, (
        f"{last[col]:.4g} at N={int(last['width'])} vs best under-parameterised "
        f"{best:.4g} at N={int(under['width'].iloc[i])}"
    )


def rf_claims(metrics: pd.DataFrame, c: Mapping[str, Any]) -> list[PanelClaim]:
    """The four claims of the panels; ``c`` is the config section ``random_features``."""
    f = rf_summary(metrics)
    n = int(c["n_train"])
    if f.empty:
        return [(k, NAN, "no random-features rows") for k in RF_CLAIMS]
    i_pk = int(f["test_mse"].to_numpy().argmax())
    i_nm = int(f["norm"].to_numpy().argmax())
    i_e = int(f["test_error"].to_numpy().argmax())
    mse, note_mse = _below_best_under(f, n, "test_mse")
    err, note_err = _below_best_under(f, n, "test_error")
    return [
        (
            "rf_error_peak",
            factor_from(float(f["width"].iloc[i_pk]), n),
            f"test MSE peaks at N={int(f['width'].iloc[i_pk])} (n={n}); 0-1 test error peaks at "
            f"N={int(f['width'].iloc[i_e])} ({f['test_error'].iloc[i_e]:.3f})",
        ),
        (
            "rf_norm_peak",
            factor_from(float(f["width"].iloc[i_nm]), n),
            f"norm peaks at N={int(f['width'].iloc[i_nm])}",
        ),
        (
            "rf_second_descent_mse",
            mse,
            f"test MSE {note_mse}; {f['test_mse'].iloc[i_pk]:.4g} at the peak "
            f"N={int(f['width'].iloc[i_pk])} (largest / peak "
            f"{f['test_mse'].iloc[-1] / f['test_mse'].iloc[i_pk]:.3g})",
        ),
        ("rf_second_descent_error", err, f"test 0-1 error {note_err}"),
    ]


def draw_random_features(ax_rf, ax_norm, metrics: pd.DataFrame, c: Mapping[str, Any]) -> None:
    """Panels (b) test MSE and 0-1 error, (c) coefficient norm, against N/n."""
    from ... import plots

    f = rf_summary(metrics)
    rf_rows = metrics[metrics["panel"] == "random_features"]
    ax_rf.scatter(rf_rows["gamma"], rf_rows["test_mse"], s=5, color="C1", alpha=0.35)
    k = int(f["runs"].max()) if len(f) else 0
    ax_rf.plot(
        f["gamma"],
        f["test_mse"],
        "o-",
        ms=3,
        color="C1",
        label=f"test MSE (squared loss), mean of {k} feature draws (dots: each)",
    )
    ax_rf.set(
        xscale="log",
        yscale="log",
        xlabel="features per sample N/n",
        ylabel="test MSE (one-hot targets)",
        title=f"(b) random {c['kind']} features, MNIST-1D, n={c['n_train']}",
    )
    ax_e = ax_rf.twinx()
    ax_e.plot(f["gamma"], 100 * f["test_error"], "s--", ms=3, color="C4", label="test 0-1 error")
    ax_e.set_ylabel("test error (%)", color="C4")
    ax_e.grid(False)
    for a in (ax_rf, ax_norm):
        a.axvline(1, color="0.6", ls=":", lw=1)
    h1, l1 = ax_rf.get_legend_handles_labels()
    h2, l2 = ax_e.get_legend_handles_labels()
    ax_rf.legend(h1 + h2, l1 + l2, fontsize=7.5, loc="upper right")
    plots.plain_log_ticks(ax_rf, "x")
    ax_norm.scatter(rf_rows["gamma"], rf_rows["norm"], s=5, color="C3", alpha=0.35)
    ax_norm.plot(
        f["gamma"], f["norm"], "o-", ms=3, color="C3", label=f"mean over {k} feature draws"
    )
    ax_norm.set(
        xscale="log",
        yscale="log",
        xlabel="features per sample N/n",
        ylabel=r"coefficient norm $\|\hat{B}\|_F$",
        title="(c) norm of the min-norm fit",
    )
    ax_norm.legend(fontsize=7.5)
    plots.plain_log_ticks(ax_norm, "x")
