"""Figure of benign_overfitting: the demo, excess risk against n, the effective ranks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from ... import plots
from .. import get
from .claims import AS_WRITTEN, NAME, seeded, summary

# the demo panel's conditions: (family, label); the as-written rows are one run each
DEMO_BARS = [
    (AS_WRITTEN, "as written\n(test labels:\nother weights)"),
    (f"{AS_WRITTEN}_same_w", "as written,\ntest labels:\nsame weights"),
    ("demo_isotropic", "isotropic\nN(0, I), no\nstandardising"),
    ("demo", "corrected:\nspiked\ncovariance"),
]


def plot(metrics: pd.DataFrame, cfg: Mapping[str, Any], png: Path, pdf: Path) -> None:
    s = summary(seeded(metrics))
    fig, (ax_demo, ax_risk, ax_q) = plots.subplots(3, width=5.2, height=4.0)
    colors = dict(zip(cfg["families"], plots.sns.color_palette(plots.PALETTE)))

    _demo_panel(ax_demo, metrics, cfg)
    n_seeds = seeded(metrics)["seed"].nunique()
    for family, spec in cfg["families"].items():
        f = s[s["family"] == family].sort_values("n")
        label = f"{family} ({'benign' if spec['benign'] else 'not benign'})"
        ax_risk.errorbar(
            f["n"],
            f["excess_over_noise"],
            yerr=f["excess_over_noise_sd"],
            marker="o",
            ms=4,
            capsize=2,
            color=colors[family],
            label=label,
        )
        if spec["spectrum"] == "isotropic":
            ax_risk.plot(
                f["n"],
                f["theory"] / f["noise_var"],
                ls="--",
                color="k",
                lw=1,
                label=f"Hastie et al. limit, $\\gamma$={spec['gamma']:g}",
            )
            ax_risk.plot(
                f["n"],
                f["theory_finite"] / f["noise_var"],
                ls="none",
                marker="x",
                color="k",
                label="its exact finite-n expectation",
            )
        ax_q.plot(
            f["n"],
            f["k_star_over_n"] + f["n_over_R_k_star"],
            marker="o",
            ms=4,
            color=colors[family],
            label=f"{family}: $k^*/n + n/R_{{k^*}}$",
        )
        ax_q.plot(
            f["n"],
            f["r0_over_n"],
            ls=":",
            marker="s",
            ms=3,
            color=colors[family],
            label=f"{family}: $r_0/n$",
        )
    ax_risk.axhline(
        get(NAME).definitions(cfg)["vanishes"].threshold,
        color="0.4",
        ls=":",
        lw=1,
        label="claim threshold",
    )
    ax_risk.set(
        xscale="log",
        yscale="log",
        xlabel="training samples n",
        ylabel=r"excess risk / $\sigma^2$",
        title=f"(b) excess risk of the min-norm interpolator\n(mean $\\pm$ sd over {n_seeds} seeds)",
    )
    ax_risk.legend(fontsize=7.5)
    plots.plain_log_ticks(ax_risk)
    ax_q.set(
        xscale="log",
        yscale="log",
        xlabel="training samples n",
        ylabel="Bartlett et al. quantities",
        title="(c) effective ranks (benign: all -> 0)",
    )
    ax_q.legend(fontsize=7, ncol=1, loc="best")
    plots.plain_log_ticks(ax_q, "x")
    plots.save(fig, png, pdf)


def _demo_panel(ax, metrics: pd.DataFrame, cfg: Mapping[str, Any]) -> None:
    """Train and test MSE of the reference demo as written, of the same min-norm fit on an
    isotropic design and of the corrected (spiked) demo; one dot per seed."""
    d = cfg["demo"]
    floor = 1e-4  # an interpolator's train MSE is ~1e-30: drawn at the floor, value written
    labels = []
    for i, (family, label) in enumerate(DEMO_BARS):
        rows = metrics[metrics["family"] == family]
        for j, (col, shade) in enumerate([("train_mse", "0.85"), ("test_mse", "0.45")]):
            v = rows[col].to_numpy()
            if not v.size:
                continue
            x = i + (j - 0.5) * 0.38
            ax.bar(x, max(v.mean(), floor), width=0.36, color=shade, edgecolor="0.2")
            ax.scatter(np.full(v.size, x), np.maximum(v, floor), s=8, color="k", zorder=3)
            ax.annotate(
                f"{v.mean():.2g}",
                (x, max(v.mean(), floor)),
                ha="center",
                va="bottom",
                xytext=(0, 2),
                textcoords="offset points",
                fontsize=7,
            )
        runs = rows["seed"].nunique()
        labels.append(f"{label}\n({runs} run)" if runs == 1 else f"{label}\n({runs} seeds)")
    sigma2 = d["noise_sd"] ** 2
    ax.axhline(sigma2, color="C3", ls="--", lw=1, label=r"noise $\sigma^2$")
    ax.axhline(2 * sigma2, color="C3", ls=":", lw=1, label=r"$2\sigma^2$ (the demo's criterion)")
    w = metrics[metrics["family"] == AS_WRITTEN]
    if len(w):
        ax.text(
            0.02,
            0.98,
            f"as written: standardising with training means makes rank $XX^T$ = "
            f"{w['gram_rank'].iloc[0]:.0f} < n,\nso it cannot interpolate (train MSE = "
            f"mean(y)$^2$), and its test labels\ncome from other weights; isotropic: not benign",
            transform=ax.transAxes,
            va="top",
            fontsize=6.5,
        )
    ax.set_yscale("log")
    ax.set_ylim(floor, 1e5)
    ax.set_xticks(range(len(DEMO_BARS)), labels, fontsize=7)
    ax.set_title(f"(a) reference demo, n={d['n']}, p={d['p']}: as written vs corrected")
    ax.set_ylabel("mean squared error")
    handles, names = ax.get_legend_handles_labels()
    for shade, name in [("0.85", "train MSE"), ("0.45", "test MSE")]:
        handles.append(Patch(facecolor=shade, edgecolor="0.2"))
        names.append(name)
    ax.legend(handles, names, loc="upper right", bbox_to_anchor=(1, 0.84), fontsize=7, ncol=2)
