"""Figure of lottery_ticket: test accuracy and early-stopping step against the weights
remaining, for the ticket and both controls, one row of panels per job. Early-stopping steps
are counted from the initialisation (a variant rewound to step k: k + its own step), as in
the ``earlier_stop`` claim."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ... import plots
from .claims import summary

_STYLE = {
    "ticket": ("C0", "o", "winning ticket (IMP, rewound)"),
    "reinit": ("C3", "s", "random reinit (same mask)"),
    "random": ("C2", "^", "random pruning (same sparsity)"),
}


def plot(metrics: pd.DataFrame, cfg: Mapping[str, Any], png: Path, pdf: Path) -> None:
    s = summary(metrics)
    groups = list(s.groupby(["network", "rewind_step"]))
    fig, axes = plots.subplots(2, nrows=len(groups), width=5.0, height=3.7)
    axes = axes.reshape(len(groups), 2)
    thr = cfg["claims_setup"]["match_min_remaining"]
    tol = float(cfg["claims_setup"]["match_tolerance_sd"])
    for (ax_a, ax_s), ((net, k), g) in zip(axes, groups):
        dense = g[g["variant"] == "dense"].iloc[0]
        hidden = "-".join(map(str, cfg["networks"][net]))
        rew = "init" if k == 0 else f"step {k}"
        for ax, col, sd in ((ax_a, "acc_mean", "acc_sd"), (ax_s, "stop_init_mean", "stop_init_sd")):
            scale = 100.0 if col == "acc_mean" else 1.0
            for v, (color, marker, label) in _STYLE.items():
                d = g[g["variant"] == v].sort_values("remaining_frac")
                x, y, e = d["remaining_frac"] * 100, d[col] * scale, d[sd].fillna(0) * scale
                ax.plot(x, y, marker=marker, ms=4, color=color, label=label)
                ax.fill_between(x, y - e, y + e, color=color, alpha=0.18, lw=0)
            err = 0 if np.isnan(dense[sd]) else dense[sd] * scale
            ax.errorbar(
                [100], [dense[col] * scale], yerr=[err], fmt="D", color="k", ms=5, capsize=2
            )
            ax.axhline(dense[col] * scale, color="k", ls="--", lw=1, label="dense network (100%)")
            if col == "acc_mean" and not np.isnan(dense["acc_sd"]):  # matches_dense's line
                ax.axhline(
                    (dense[col] - tol * dense["acc_sd"]) * scale,
                    color="k",
                    ls=(0, (1, 2)),
                    lw=1,
                    label=f"matching: dense - {tol:g} sd",
                )
            ax.axvline(thr * 100, color="0.6", ls=":", lw=1)
            ax.set_xscale("log")
            ax.set_xlim(
                120, g["remaining_frac"].min() * 100 / 1.2
            )  # reversed: sparser to the right
            plots.plain_log_ticks(ax, "x")
            ax.set_xlabel("weights remaining (%)")
        budget = metrics.loc[
            (metrics["network"] == net) & (metrics["rewind_step"] == k), "total_steps"
        ].max()
        lines = [ax_s.axhline(budget, color="0.4", ls="-.", lw=1)]
        labels = ["training budget (never stopped early)"]
        if k:  # the rewound variants train the full budget from step k
            lines.append(ax_s.axhline(budget + k, color="0.4", ls=(0, (1, 3)), lw=1))
            labels.append(f"rewound variants' budget ({k} + {budget})")
        ax_s.legend(lines, labels, fontsize=7, loc="upper left")  # above the controls
        ax_a.set(
            ylabel="test accuracy at early stop (%)",
            title=f"{net} ({hidden}), rewind to {rew}: accuracy",
        )
        ax_s.set(
            ylabel="early-stopping step from init (min val. loss)",
            title=f"{net}, rewind to {rew}: early stopping",
        )
        ax_a.legend(fontsize=7, loc="lower left")
    n_seeds = metrics["seed"].nunique()
    fig.suptitle(
        f"Lottery tickets on MNIST-1D: mean $\\pm$ sd over {n_seeds} seeds "
        f"(dotted: {thr * 100:g}% remaining)",
        fontsize=10,
    )
    plots.save(fig, png, pdf)
