"""Figure of optimization_ease. Top row, the extension (one hidden layer, random targets,
mini-batch SGD): loss curves, time to fit and final loss against width. Bottom row, the
reference demo as written (standard parametrization) and re-run in NTK parametrization: loss
curves of each, and time to fit against width for both, with the NTK runs' infinite-width
kernel limit. Last row (NTK runs only): the gaps between each network and its kernel limit
against width, with the O(width^-1/2) rate of Lee et al. 2019."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ... import plots
from .claims import _complete, diverged_runs, kernel_per_run, per_run, per_width

PARAM_STYLE = {"standard": ("C0", "o-"), "ntk": ("C2", "s--")}


def _curves(ax, metrics: pd.DataFrame, thr: float, title: str) -> None:
    """Median and IQR over seeds of the train loss against epoch, one line per width."""
    widths = sorted(metrics["width"].unique())
    pal = dict(zip(widths, plots.sns.color_palette("viridis", len(widths))))
    n_seeds = metrics["seed"].nunique()
    for w in widths:
        g = metrics[metrics["width"] == w].groupby("epoch")["train_loss"]
        q = g.quantile([0.25, 0.5, 0.75]).unstack()
        ax.plot(q.index, q[0.5], color=pal[w], label=f"width {w}")
        ax.fill_between(q.index, q[0.25], q[0.75], color=pal[w], alpha=0.2, lw=0)
    ax.axhline(thr, color="k", ls=":", lw=1, label=f"threshold {thr:g}")
    ax.set(
        yscale="log",
        xlabel="epoch",
        ylabel=f"train MSE (median, IQR over {n_seeds} seeds)",
        title=title,
    )
    ax.legend(fontsize=8)


def _diverged_text(ax, div: list, n_runs: int) -> None:
    ax.text(
        0.02,
        0.97,
        f"{len(div)} of {n_runs} runs diverged (not shown)",
        transform=ax.transAxes,
        fontsize=8,
        color="C3",
        va="top",
    )


def plot(metrics: pd.DataFrame, cfg: Mapping[str, Any], png: Path, pdf: Path) -> None:
    thr = cfg["loss_threshold"]
    metrics = _complete(metrics)
    demo = metrics[metrics["setup"] == "demo"]
    ext = metrics[metrics["setup"] == "extension"]
    has_kernel = len(demo) and demo["kernel_loss"].notna().any()
    fig, axes = plots.subplots(3, 3 if has_kernel else 2 if len(demo) else 1, width=4.8, height=3.8)
    ax_c, ax_e, ax_f = axes[:3]
    widths = sorted(ext["width"].unique())
    n_seeds = ext["seed"].nunique()
    _curves(
        ax_c,
        ext,
        thr,
        f"(a) extension: SGD lr={cfg['lr']:g}, batch {cfg['batch_size']}, "
        f"n={cfg['n']}, d={cfg['d']}",
    )

    r = per_run(ext, thr)
    s = per_width(r)
    budget = int(ext["epoch"].max())
    shown = r["epochs_to_threshold"].fillna(budget + 1)
    ax_e.scatter(r["width"], shown, s=14, color="0.5", label="seeds (top line: never reached)")
    ax_e.plot(s["width"], s["median_epochs"], "o-", color="C0", label=f"median of {n_seeds}")
    ax_e.axhline(budget + 1, color="C3", ls="--", lw=1)
    ax_e.set(
        xscale="log",
        yscale="log",
        xlabel="hidden width",
        ylabel=f"epochs until train MSE < {thr:g}",
        title="(b) extension: time to fit",
    )
    ax_e.legend(fontsize=8)
    ax_f.scatter(r["width"], r["final_train_loss"], s=14, color="0.5", label="seeds")
    ax_f.plot(s["width"], s["median_final_loss"], "o-", color="C1", label=f"median of {n_seeds}")
    ax_f.axhline(cfg["loss_floor"], color="0.4", ls=":", lw=1, label="numerical zero")
    ax_f.set(
        xscale="log",
        yscale="log",
        xlabel="hidden width",
        ylabel=f"train MSE after {budget} epochs",
        title="(c) extension: final training loss",
    )
    div = diverged_runs(ext)
    if div:  # diverged runs have no loss (NaN): say so instead of silently leaving them out
        for ax in (ax_c, ax_f):
            _diverged_text(ax, div, len(r))
        if not np.isfinite(r["final_train_loss"]).any():  # nothing to scale log axes to
            ax_f.set(xlim=(min(widths) / 1.5, max(widths) * 1.5), ylim=(cfg["loss_floor"], 10.0))
        if not np.isfinite(ext["train_loss"]).any():
            ax_c.set_ylim(cfg["loss_floor"], 10.0)
    ax_f.legend(fontsize=8)
    for ax in (ax_e, ax_f):
        plots.plain_log_ticks(ax, "x")
    plots.plain_log_ticks(ax_e, "y")
    if len(demo):
        _demo_panels(axes[3:6], demo, cfg)
    if has_kernel:
        _kernel_panels(axes[6:], demo, cfg)
    plots.save(fig, png, pdf)


def _demo_panels(axes, demo: pd.DataFrame, cfg: Mapping[str, Any]) -> None:
    thr = cfg["loss_threshold"]
    params = [p for p in PARAM_STYLE if p in set(demo["parametrization"])]
    depth = int(demo["depth"].iloc[0])
    for ax, p, letter in zip(axes[:2], params, "de"):
        d = demo[demo["parametrization"] == p]
        lr = float(d["lr"].iloc[0])
        _curves(ax, d, thr, f"({letter}) demo, {p} param.: full-batch SGD lr={lr:g}")
        if d["limit_loss"].notna().any():  # the infinite-width network (one curve per seed)
            lim = d.groupby("epoch")["limit_loss"].median()  # the same for every width
            ax.plot(lim.index, lim.values, color="k", ls="--", lw=1.2, label="infinite width")
            ax.legend(fontsize=8)
        div = diverged_runs(d)
        if div:
            _diverged_text(ax, div, d.groupby(["width", "seed"]).ngroups)
    for ax in axes[len(params) : 2]:
        ax.set_visible(False)
    ax = axes[2]
    r = per_run(demo, thr)
    budget = int(demo["epoch"].max())
    for p in params:
        rp = r[r["parametrization"] == p]
        s = per_width(rp)
        color, style = PARAM_STYLE[p]
        shown = rp["epochs_to_threshold"].fillna(budget + 1)
        ax.scatter(rp["width"], shown, s=14, color=color, alpha=0.4)
        lr = float(demo.loc[demo["parametrization"] == p, "lr"].iloc[0])
        label = f"{p}, lr={lr:g}: median of {rp['seed'].nunique()}"
        ax.plot(s["width"], s["median_epochs"], style, color=color, label=label)
    kr = kernel_per_run(demo, thr)
    if len(kr) and kr["t_kernel"].notna().any():
        k = kr.groupby("width")[["t_kernel", "t_limit"]].median()
        ax.plot(k.index, k["t_kernel"], "x:", color="k", label="kernel limit, same init (median)")
        t_lim = kr.groupby("seed")["t_limit"].first().median()
        ax.axhline(t_lim, color="k", lw=1.2, label=f"infinite width (median): {t_lim:g}")
    ax.axhline(budget + 1, color="C3", ls="--", lw=1, label="never reached (censored)")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel=f"hidden width ({depth} hidden layers)",
        ylabel=f"epochs until train MSE < {thr:g}",
        title="(f) demo: time to fit, dots = seeds",
    )
    ax.legend(fontsize=8)
    plots.plain_log_ticks(ax, "both")


def _kernel_panels(axes, demo: pd.DataFrame, cfg: Mapping[str, Any]) -> None:
    """(g) |t_net - t_kernel| / t_kernel and (h) max_t |RMSE_net - RMSE_kernel| against width
    (dots: seeds; line: median) with a width^-1/2 guide through the widest median."""
    kr = kernel_per_run(demo, cfg["loss_threshold"])
    specs = [
        (
            "time_gap",
            "(g) NTK: time-to-fit gap to the kernel limit",
            "|t_net - t_kernel| / t_kernel",
        ),
        (
            "curve_gap",
            "(h) NTK: loss-curve gap to the kernel limit",
            "max_t |RMSE_net - RMSE_kernel|",
        ),
    ]
    for ax, (col, title, ylabel) in zip(axes, specs):
        ok = kr[np.isfinite(kr[col])]
        if ok.empty:
            ax.set_visible(False)
            continue
        ax.scatter(ok["width"], ok[col], s=14, color="C2", alpha=0.4, label="seeds")
        med = ok.groupby("width")[col].median()
        ax.plot(med.index, med.values, "s-", color="C2", label="median")
        w = np.asarray(med.index, float)
        guide = med.values[-1] * np.sqrt(w[-1] / w)
        ax.plot(w, guide, color="0.4", ls=":", label="width^-1/2 (Lee et al. 2019)")
        if col == "time_gap":
            ax.axhline(0.1, color="C3", ls="--", lw=1, label="tolerance at the widest: 0.1")
        ax.set(xscale="log", yscale="log", xlabel="hidden width", ylabel=ylabel, title=title)
        ax.legend(fontsize=8)
        plots.plain_log_ticks(ax, "x")
    for ax in axes[2:]:
        ax.set_visible(False)
