"""Drawing the random-features panels (b, c), (g, h) and (i) from the metrics table (the
computations they show are in ``random_features.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .common import NAN
from .random_features import KERNEL, _best_under, kernel_summary, rf_summary


def draw_random_features(
    ax_rf, ax_norm, metrics: pd.DataFrame, c: Mapping[str, Any], panel: str = "random_features"
) -> None:
    """Test MSE and 0-1 error (``ax_rf``) and the coefficient norm (``ax_norm``) against N/n,
    with the N = infinity kernel limit as horizontal lines."""
    from ... import plots

    fourier = panel == "random_fourier"
    kind = "fourier" if fourier else c["kind"]
    letters = ("(g)", "(h)") if fourier else ("(b)", "(c)")
    f = rf_summary(metrics, panel)
    k_lim = kernel_summary(metrics, panel)
    rows = metrics[(metrics["panel"] == panel) & (metrics["estimator"] == "min_norm")]
    ax_rf.scatter(rows["gamma"], rows["test_mse"], s=5, color="C1", alpha=0.35)
    k = int(f["runs"].max()) if len(f) else 0
    ax_rf.plot(
        f["gamma"],
        f["test_mse"],
        "o-",
        ms=3,
        color="C1",
        label=f"test MSE (squared loss), mean of {k} feature draws (dots: each)",
    )
    ax_e = ax_rf.twinx()
    ax_e.plot(f["gamma"], 100 * f["test_error"], "s--", ms=3, color="C4", label="test 0-1 error")
    if k_lim is not None:
        ax_rf.axhline(
            k_lim["test_mse"], color="C1", ls="-.", lw=1.2, label=f"N = inf: {KERNEL[kind]}, MSE"
        )
        ax_e.axhline(
            100 * k_lim["test_error"], color="C4", ls=":", lw=1.2, label="N = inf: 0-1 error"
        )
        ax_norm.axhline(
            k_lim["norm"], color="C3", ls="-.", lw=1.2, label="N = inf: RKHS norm of the kernel fit"
        )
    bw = rows["bandwidth"].dropna()
    extra = f", s={bw.iloc[0]:.3g} (median)" if fourier and len(bw) else ""
    ax_rf.set(
        xscale="log",
        yscale="log",
        xlabel="features per sample N/n",
        ylabel="test MSE (one-hot targets)",
        title=f"{letters[0]} random {kind} features, n={c['n_train']}{extra}",
    )
    if k_lim is not None:  # keep the kernel's error line off the frame
        lo, hi = ax_e.get_ylim()
        ax_e.set_ylim(min(lo, 100 * k_lim["test_error"] - 0.05 * (hi - lo)), hi)
    ax_e.set_ylabel("test error (%)", color="C4")
    ax_e.grid(False)
    for a in (ax_rf, ax_norm):
        a.axvline(1, color="0.6", ls=":", lw=1)
    h1, l1 = ax_rf.get_legend_handles_labels()
    h2, l2 = ax_e.get_legend_handles_labels()
    ax_rf.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper right")
    plots.plain_log_ticks(ax_rf, "x")
    ax_norm.scatter(rows["gamma"], rows["norm"], s=5, color="C3", alpha=0.35)
    ax_norm.plot(
        f["gamma"], f["norm"], "o-", ms=3, color="C3", label=f"mean over {k} feature draws"
    )
    ax_norm.set(
        xscale="log",
        yscale="log",
        xlabel="features per sample N/n",
        ylabel=r"coefficient norm $\|\hat{B}\|_F$",
        title=f"{letters[1]} norm of the min-norm fit ({kind})",
    )
    ax_norm.legend(fontsize=7.5)
    plots.plain_log_ticks(ax_norm, "x")


def draw_summary(ax, metrics: pd.DataFrame, cfg: Mapping[str, Any]) -> None:
    """Panel (i): per family, the test MSE and 0-1 error at the largest N and at N = infinity,
    each relative to its best under-parameterised value (below 1: the second descent beats it)."""
    labels, groups = [], []
    for panel, name in (
        ("random_features", f"{cfg['random_features']['kind']} features"),
        ("random_fourier", "Fourier features"),
    ):
        f = rf_summary(metrics, panel)
        n = int(cfg[panel]["n_train"])
        k_lim = kernel_summary(metrics, panel)
        vals = []
        for col in ("test_mse", "test_error"):
            best = _best_under(f, n, col) if len(f) else None
            last = float(f[col].iloc[-1]) if len(f) else NAN
            kv = float(k_lim[col]) if k_lim is not None else NAN
            vals += [last / best[0], kv / best[0]] if best else [NAN, NAN]
        labels.append(name)
        groups.append(vals)
    bars = ("MSE, largest N", "MSE, N = inf", "0-1 error, largest N", "0-1 error, N = inf")
    x = np.arange(len(labels))
    for j, (lab, col) in enumerate(zip(bars, ("C1", "C1", "C4", "C4"))):
        ax.bar(
            x + (j - 1.5) * 0.2,
            [g[j] for g in groups],
            width=0.18,
            color=col,
            alpha=1.0 if j % 2 == 0 else 0.5,
            hatch=None if j % 2 == 0 else "//",
            label=lab,
        )
    ax.axhline(1, color="k", lw=1)
    ax.set_xticks(x, labels)
    ax.set(
        ylabel="relative to the best N < n (below 1: beats it)",
        title="(i) large N and N = inf vs the best N < n",
    )
    ax.legend(fontsize=7.5)
