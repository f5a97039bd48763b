"""Figure of flat_minima, from the metrics table only. Against batch size (log x), for the
fixed learning rate (solid, C0) and lr scaled with the batch size (dashed, C1): (a) the top
eigenvalue of the training-loss Hessian with the stability limit 2 / lr (grey, same line
style), (b) Keskar's eps-sharpness, (c) test accuracy, all at the same training loss; (d) the
train (solid) and test (dotted) loss on the line from the smallest batch's solution (alpha 0)
to the largest batch's (alpha 1). Lines are means over the seeds that reached the target
loss, dots every such seed. (e) progressive sharpening and the edge of stability (Cohen et
al. 2021): the top eigenvalue along full-batch gradient descent on the training subset,
one colour per lr (one line per seed), with its 2 / lr (dashed); (f) the training loss of the
same runs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ... import plots
from . import GD_RULE
from .claims import per_run

STYLE = {"fixed": ("-", "C0", "fixed lr"), "scaled": ("--", "C1", "lr x B / ref_batch")}


def _by_batch(ax, runs: pd.DataFrame, col: str) -> None:
    for rule, (ls, color, label) in STYLE.items():
        if rule not in runs.index.get_level_values("rule"):
            continue
        r = runs.loc[rule]
        r = r[r["reached"] == 1]
        mean = r.groupby("batch_size")[col].mean()
        ax.plot(mean.index, mean, ls, color=color, marker="o", ms=4, label=label)
        ax.plot(r.index.get_level_values("batch_size"), r[col], ".", color=color, alpha=0.35)
        if col == "top_eig":
            lim = r.groupby("batch_size")["stability_limit"].first()
            ax.plot(lim.index, lim, ls, color="0.6", lw=1, label=f"2 / lr, {label}")


def _axes(ax, batches, ylabel: str, title: str, logy: bool = True) -> None:
    from matplotlib.ticker import NullFormatter, NullLocator

    ax.set_xscale("log", base=2)
    ax.set_xticks(list(batches), [f"{b:g}" for b in batches])
    ax.xaxis.set_minor_locator(NullLocator())
    if logy:
        ax.set_yscale("log")
        plots.plain_log_ticks(ax, "y")
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set(xlabel="batch size B", ylabel=ylabel, title=title)
    ax.legend(fontsize=6)


def plot(metrics: pd.DataFrame, cfg: Mapping[str, Any], png: Path, pdf: Path) -> None:
    eps = float(cfg["claims_setup"]["eps"])
    runs = per_run(metrics, eps)
    bs = sorted(int(b) for b in runs.index.get_level_values("batch_size").unique())
    fig, axes = plots.subplots(3, nrows=2, width=4.8, height=3.6)
    ax_e, ax_s, ax_g, ax_a, ax_l, ax_gl = axes
    _by_batch(ax_e, runs, "top_eig")
    _axes(ax_e, bs, r"top Hessian eigenvalue $\lambda_{max}$", "(a) sharpness vs 2 / lr")
    _by_batch(ax_s, runs, "eps_sharpness")
    _axes(ax_s, bs, f"eps-sharpness (eps {eps:g}, %)", "(b) Keskar's eps-sharpness")
    _by_batch(ax_a, runs, "test_acc")
    _axes(ax_a, bs, "test accuracy", "(c) test accuracy at the same train loss", logy=False)
    q = metrics["quantity"]
    for rule, (_, color, label) in STYLE.items():
        for name, ls in (("slice_train_loss", "-"), ("slice_test_loss", ":")):
            d = metrics[(q == name) & (metrics["rule"] == rule)]
            if len(d):
                mean = d.groupby("x")["value"].mean()
                split = "train" if "train" in name else "test"
                ax_l.plot(mean.index, mean, ls, color=color, label=f"{split}, {label}")
    for a in (0.0, 1.0):
        ax_l.axvline(a, color="0.7", lw=0.8)
    ax_l.set_yscale("log")
    ax_l.set(
        xlabel="alpha (0: smallest batch, 1: largest batch)",
        ylabel="cross-entropy",
        title="(d) loss on the line between the solutions",
    )
    ax_l.legend(fontsize=6)
    _gd(ax_g, ax_gl, metrics[metrics["rule"] == GD_RULE])
    plots.save(fig, png, pdf)


def _gd(ax_s, ax_l, gd: pd.DataFrame) -> None:
    """Sharpness and training loss along full-batch GD, per lr (colour) and seed (line)."""
    lrs = sorted(gd["lr"].unique())
    for i, lr in enumerate(lrs):
        color = f"C{i + 2}"
        for name, ax in (("gd_sharpness", ax_s), ("gd_train_loss", ax_l)):
            d = gd[(gd["lr"] == lr) & (gd["quantity"] == name)]
            for j, (_, r) in enumerate(d.groupby("seed")):
                r = r.sort_values("x")
                ax.plot(
                    r["x"],
                    r["value"],
                    "-",
                    color=color,
                    lw=0.9,
                    alpha=0.8,
                    label=f"lr {lr:g}" if j == 0 else None,
                )
        ax_s.axhline(2 / lr, color=color, ls="--", lw=1, label=f"2 / lr = {2 / lr:g}")
    ax_s.set(
        xlabel="step (full-batch GD)",
        ylabel=r"top Hessian eigenvalue $\lambda_{max}$",
        title="(e) progressive sharpening, edge of stability",
    )
    ax_l.set_yscale("log")
    ax_l.set(
        xlabel="step (full-batch GD)",
        ylabel="training loss (subset, cross-entropy)",
        title="(f) the same GD runs: training loss",
    )
    for ax in (ax_s, ax_l):
        if lrs:
            ax.legend(fontsize=6)
