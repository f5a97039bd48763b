"""Panels (b, c) and (g, h, i): min-norm regression of one-hot MNIST-1D labels on N random
features (overparam.features), N from n/10 to 10 n, and the N = infinity point, ridgeless
regression with the features' limit kernel: random ReLU features (panel ``random_features``,
the config's ``kind``) with the arc-cosine kernel, and random Fourier features (panel
``random_fourier``, Belkin et al. 2019, Fig. 2) with the Gaussian kernel of a median-heuristic
bandwidth. Test MSE, test 0-1 error and the coefficient norm against N.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...data import corrupt_labels
from ...features import draw, kernel_min_norm, limit_kernel, median_bandwidth, standardize
from ...linear import min_norm
from .. import RunContext
from . import RandomFeaturesJob
from .common import NAME, NAN, NUM_CLASSES, PanelClaim, factor_from, run_frame, run_row, sizes

TEST_CHUNK = 2048  # test rows per random-feature block
# claim keys of one family after its prefix (rf: ReLU features, rff: Fourier features)
FAMILY_CLAIMS = (
    "error_peak",
    "norm_peak",
    "second_descent_mse",
    "second_descent_error",
    "kernel_limit_mse",
)
PREFIX = {"random_features": "rf", "random_fourier": "rff"}
RF_CLAIMS = tuple(f"rf_{k}" for k in FAMILY_CLAIMS)
RFF_CLAIMS = tuple(f"rff_{k}" for k in FAMILY_CLAIMS)
KERNEL = {"relu": "arc-cosine kernel (degree 1)", "fourier": "Gaussian kernel"}
KERNEL_COLS = ["test_mse", "test_error", "train_mse", "norm"]


def one_hot(y: np.ndarray, k: int = NUM_CLASSES) -> np.ndarray:
    return np.eye(k)[np.asarray(y, dtype=int)]


def _errors(pred, Y, y, predt, Yt, yt) -> dict:
    return dict(
        train_mse=float(np.mean(np.sum((pred - Y) ** 2, 1))),
        test_mse=float(np.mean(np.sum((predt - Yt) ** 2, 1))),
        train_error=float(np.mean(pred.argmax(1) != y)),
        test_error=float(np.mean(predt.argmax(1) != yt)),
    )


def run_random_features(job: RandomFeaturesJob, ctx: RunContext) -> pd.DataFrame:
    ds = job.data.load(ctx.inputs.get("data"))
    n, n_test = job.n_train, job.n_test
    if n > len(ds["y"]) or n_test > len(ds["y_test"]):
        raise ValueError(
            f"{job.panel}: n_train={n}, n_test={n_test} exceed the dataset's "
            f"{len(ds['y'])} / {len(ds['y_test'])} samples"
        )
    y_clean = ds["y"][:n]
    noise = job.label_noise
    y, _ = corrupt_labels(y_clean, noise, NUM_CLASSES, np.random.default_rng([job.noise_seed, 17]))
    x, xt = standardize(ds["x"][:n], ds["x_test"][:n_test])
    yt = ds["y_test"][:n_test]
    Y, Yt = one_hot(y), one_hot(yt)
    s = median_bandwidth(x) if job.bandwidth == "median" else float(job.bandwidth)
    bw = s if job.kind == "fourier" else NAN
    Ns = sizes(n, job.ratio_min, job.ratio_max, job.num_ratios)
    common = dict(panel=job.panel, n_train=n, label_noise=noise, bandwidth=bw)
    # the N = infinity point: ridgeless regression with the limit kernel (no feature draw)
    t0 = time.perf_counter()
    a = kernel_min_norm(limit_kernel(job.kind, x, x, s), Y)
    pred = limit_kernel(job.kind, x, x, s) @ a
    predt = np.concatenate(
        [
            limit_kernel(job.kind, xt[i : i + TEST_CHUNK], x, s) @ a
            for i in range(0, len(xt), TEST_CHUNK)
        ]
    )
    kernel = dict(
        estimator="kernel_limit",
        width=0,
        num_params=0,
        gamma=math.inf,
        params_per_sample=math.inf,
        norm=float(np.sqrt(max(float(np.sum(a * pred)), 0.0))),
        **_errors(pred, Y, y, predt, Yt, yt),
        **common,
    )
    ctx.log(
        f"[{NAME}/{job.panel}] N = infinity ({KERNEL[job.kind]}"
        + (f", bandwidth {s:.4g}" if job.kind == "fourier" else "")
        + f"): test MSE {kernel['test_mse']:.4g}, test error {kernel['test_error']:.4f} "
        f"in {time.perf_counter() - t0:.1f}s"
    )
    rows = []
    for seed in range(job.num_seeds):
        t0 = time.perf_counter()
        rf = draw(
            job.kind, x.shape[1], int(Ns.max()), np.random.default_rng([seed, 8101]), bandwidth=s
        )
        for N in Ns:
            phi = rf(x, N)
            b = min_norm(phi, Y)  # (N, 10)
            pred = phi @ b
            # test features in row chunks: at paper scale 12000 x 10^4 would be ~1 GB at once
            predt = np.concatenate(
                [rf(xt[i : i + TEST_CHUNK], N) @ b for i in range(0, len(xt), TEST_CHUNK)]
            )
            rows.append(
                run_row(
                    estimator="min_norm",
                    seed=seed,
                    width=int(N),
                    num_params=int(N) * NUM_CLASSES,
                    gamma=N / n,
                    params_per_sample=N * NUM_CLASSES / n,
                    norm=float(np.linalg.norm(b)),
                    **_errors(pred, Y, y, predt, Yt, yt),
                    **common,
                )
            )
        rows.append(run_row(seed=seed, **kernel))
        ctx.log(
            f"[{NAME}/{job.panel}] seed {seed}: {len(Ns)} sizes "
            f"N={Ns.min()}..{Ns.max()} in {time.perf_counter() - t0:.1f}s"
        )
    return run_frame(rows)


def rf_summary(m: pd.DataFrame, panel: str = "random_features") -> pd.DataFrame:
    """Per number of features N (``width``): means over the feature draws (the min-norm fits;
    the kernel limit is ``kernel_summary``)."""
    rf = m[(m["panel"] == panel) & (m["estimator"] == "min_norm")]
    # one groupby mean (the bootstrap calls this 1000 times: named aggregation is ~5x slower)
    g = rf.groupby("width", sort=True)
    out = g[["gamma", "test_mse", "test_error", "train_mse", "norm"]].mean()
    return out.assign(runs=g.size()).reset_index()


def kernel_summary(m: pd.DataFrame, panel: str = "random_features") -> pd.Series | None:
    """The kernel limit's test MSE, test error, train MSE and norm (mean over its rows, which
    are identical); None when the table has no kernel-limit row."""
    k = m.loc[(m["panel"] == panel) & (m["estimator"] == "kernel_limit"), KERNEL_COLS]
    if k.empty:
        return None
    return pd.Series(k.to_numpy().mean(0), index=KERNEL_COLS)


def _best_under(f: pd.DataFrame, n: int, col: str) -> tuple[float, int] | None:
    w = f["width"].to_numpy()
    v = f[col].to_numpy()[w < n]
    if not len(v):
        return None
    i = int(v.argmin())
    return float(v[i]), int(w[w < n][i])


def _below_best_under(f: pd.DataFrame, n: int, col: str) -> tuple[float, str]:
    """``col`` at the largest N / its minimum over the under-parameterised sizes N < n, and
    that comparison in words; NaN when the grid has no N < n."""
    best = _best_under(f, n, col)
    last = f.iloc[-1] if len(f) else None
    if best is None or last is None or int(last["width"]) < n:
        return NAN, f"no {col} to compare: the grid needs sizes below and above n={n}"
    return float(last[col] / best[0]) if best[0] > 0 else NAN, (
        f"{last[col]:.4g} at N={int(last['width'])} vs best under-parameterised "
        f"{best[0]:.4g} at N={best[1]}"
    )


def _kernel_vs_best_under(f: pd.DataFrame, k: pd.Series | None, n: int) -> tuple[float, str]:
    """The kernel limit's test MSE / the minimum over N < n; the 0-1 error's ratio in words."""
    best, best_e = _best_under(f, n, "test_mse"), _best_under(f, n, "test_error")
    if k is None or best is None or best_e is None:
        return NAN, "no kernel-limit row or no size N < n to compare with"
    last = f.iloc[-1]
    ratio = float(k["test_mse"] / best[0]) if best[0] > 0 else NAN
    return ratio, (
        f"N = infinity (kernel limit): test MSE {k['test_mse']:.4g} vs best under-parameterised "
        f"{best[0]:.4g} at N={best[1]}; test 0-1 error {k['test_error']:.4f} vs {best_e[0]:.4f} "
        f"at N={best_e[1]} (ratio {k['test_error'] / best_e[0]:.3g}); the largest N="
        f"{int(last['width'])}: MSE {last['test_mse']:.4g}, error {last['test_error']:.4f}; "
        f"norm {k['norm']:.4g} (RKHS) vs {last['norm']:.4g}"
    )


def rf_claims(
    metrics: pd.DataFrame, c: Mapping[str, Any], panel: str = "random_features"
) -> list[PanelClaim]:
    """The claims of one feature family (``panel``); ``c`` is its config section."""
    p = PREFIX[panel]
    keys = [f"{p}_{k}" for k in FAMILY_CLAIMS]
    f = rf_summary(metrics, panel)
    n = int(c["n_train"])
    if f.empty:
        return [(k, NAN, f"no {panel} rows") for k in keys]
    i_pk = int(f["test_mse"].to_numpy().argmax())
    i_nm = int(f["norm"].to_numpy().argmax())
    i_e = int(f["test_error"].to_numpy().argmax())
    mse, note_mse = _below_best_under(f, n, "test_mse")
    err, note_err = _below_best_under(f, n, "test_error")
    kern, note_kern = _kernel_vs_best_under(f, kernel_summary(metrics, panel), n)
    return [
        (
            keys[0],
            factor_from(float(f["width"].iloc[i_pk]), n),
            f"test MSE peaks at N={int(f['width'].iloc[i_pk])} (n={n}); 0-1 test error peaks at "
            f"N={int(f['width'].iloc[i_e])} ({f['test_error'].iloc[i_e]:.3f})",
        ),
        (
            keys[1],
            factor_from(float(f["width"].iloc[i_nm]), n),
            f"norm peaks at N={int(f['width'].iloc[i_nm])}",
        ),
        (
            keys[2],
            mse,
            f"test MSE {note_mse}; {f['test_mse'].iloc[i_pk]:.4g} at the peak "
            f"N={int(f['width'].iloc[i_pk])} (largest / peak "
            f"{f['test_mse'].iloc[-1] / f['test_mse'].iloc[i_pk]:.3g})",
        ),
        (keys[3], err, f"test 0-1 error {note_err}"),
        (keys[4], kern, note_kern),
    ]


def rff_claims(metrics: pd.DataFrame, c: Mapping[str, Any]) -> list[PanelClaim]:
    """The claims of the random Fourier features panel; ``c`` is its config section."""
    return rf_claims(metrics, c, panel="random_fourier")
