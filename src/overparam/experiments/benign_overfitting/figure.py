"""Figure of benign_overfitting: the demo, excess risk against n, the effective ranks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ... import plots
from .claims import summary


def plot(metrics: pd.DataFrame, cfg: Mapping[str, Any], png: Path, pdf: Path) -> None:
    s = summary(metrics)
    fig, (ax_demo, ax_risk, ax_q) = plots.subplots(3, width=5.2, height=4.0)
    colors = dict(zip(cfg["families"], plots.sns.color_palette(plots.PALETTE)))

    demo = metrics[metrics["family"] == "demo"]
    d = cfg["demo"]
    parts = {
        "train MSE": demo["train_mse"],
        "test MSE": demo["test_mse"],
        "null predictor\ntest MSE": demo["null_mse"],
    }
    floor = 1e-4  # the train MSE is ~1e-30: drawn at the floor, its value written above
    for i, vals in enumerate(parts.values()):
        v = vals.to_numpy()
        ax_demo.bar(i, max(v.mean(), floor), color="0.8", edgecolor="0.3")
        ax_demo.scatter(np.full(v.size, i), np.maximum(v, floor), s=12, color="k", zorder=3)
        ax_demo.annotate(
            f"{v.mean():.2g}",
            (i, max(v.mean(), floor)),
            ha="center",
            va="bottom",
            xytext=(0, 3),
            textcoords="offset points",
        )
    ax_demo.axhline(d["noise_sd"] ** 2, color="C3", ls="--", lw=1, label=r"noise $\sigma^2$")
    ax_demo.set_yscale("log")
    ax_demo.set_ylim(floor, 100)
    ax_demo.set_xticks(range(len(parts)), list(parts))
    ax_demo.set_title(f"(a) min-norm interpolation, n={d['n']}, p={d['p']}")
    ax_demo.set_ylabel("mean squared error")
    ax_demo.legend(loc="upper left")

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
        cfg["claims"]["vanishing_fraction"]["threshold"],
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
        title="(b) excess risk of the min-norm interpolator",
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
