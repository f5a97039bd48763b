"""Figure of optimization_ease: loss curves, time to fit and final loss against width."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ... import plots
from .claims import diverged_runs, per_run, per_width


def plot(metrics: pd.DataFrame, cfg: Mapping[str, Any], png: Path, pdf: Path) -> None:
    thr = cfg["loss_threshold"]
    fig, (ax_c, ax_e, ax_f) = plots.subplots(3, width=4.8, height=3.8)
    widths = sorted(metrics["width"].unique())
    pal = dict(zip(widths, plots.sns.color_palette("viridis", len(widths))))
    for w in widths:
        g = metrics[metrics["width"] == w].groupby("epoch")["train_loss"]
        q = g.quantile([0.25, 0.5, 0.75]).unstack()
        ax_c.plot(q.index, q[0.5], color=pal[w], label=f"width {w}")
        ax_c.fill_between(q.index, q[0.25], q[0.75], color=pal[w], alpha=0.2, lw=0)
    ax_c.axhline(thr, color="k", ls=":", lw=1, label=f"threshold {thr:g}")
    ax_c.set(
        yscale="log",
        xlabel="epoch",
        ylabel="train MSE (median, IQR over seeds)",
        title=f"(a) SGD, lr={cfg['lr']:g}, n={cfg['n']}, d={cfg['d']}",
    )
    ax_c.legend(fontsize=8)

    r = per_run(metrics, thr)
    s = per_width(metrics, thr)
    budget = int(metrics["epoch"].max())
    shown = r["epochs_to_threshold"].fillna(budget + 1)
    ax_e.scatter(r["width"], shown, s=14, color="0.5", label="seeds (top line: never reached)")
    ax_e.plot(s["width"], s["median_epochs"], "o-", color="C0", label="median")
    ax_e.axhline(budget + 1, color="C3", ls="--", lw=1)
    ax_e.set(
        xscale="log",
        yscale="log",
        xlabel="hidden width",
        ylabel=f"epochs until train MSE < {thr:g}",
        title="(b) time to fit",
    )
    ax_e.legend(fontsize=8)
    ax_f.scatter(r["width"], r["final_train_loss"], s=14, color="0.5", label="seeds")
    ax_f.plot(s["width"], s["median_final_loss"], "o-", color="C1", label="median")
    ax_f.axhline(cfg["loss_floor"], color="0.4", ls=":", lw=1, label="numerical zero")
    ax_f.set(
        xscale="log",
        yscale="log",
        xlabel="hidden width",
        ylabel=f"train MSE after {budget} epochs",
        title="(c) final training loss",
    )
    div = diverged_runs(metrics)
    if div:  # diverged runs have no loss (NaN): say so instead of silently leaving them out
        for ax in (ax_c, ax_f):
            ax.text(
                0.02,
                0.97,
                f"{len(div)} of {len(r)} runs diverged (not shown)",
                transform=ax.transAxes,
                fontsize=8,
                color="C3",
                va="top",
            )
        if not np.isfinite(r["final_train_loss"]).any():  # nothing to scale log axes to
            ax_f.set(xlim=(min(widths) / 1.5, max(widths) * 1.5), ylim=(cfg["loss_floor"], 10.0))
        if not np.isfinite(metrics["train_loss"]).any():
            ax_c.set_ylim(cfg["loss_floor"], 10.0)
    ax_f.legend(fontsize=8)
    for ax in (ax_e, ax_f):
        plots.plain_log_ticks(ax, "x")
    plots.plain_log_ticks(ax_e, "y")
    plots.save(fig, png, pdf)
