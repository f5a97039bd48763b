"""Figure of mode_connectivity, from the metrics table only: (a) the reference demo's MSE
along the straight line (its own pair and alphas), with the mean over the demo's pairs before
and after weight matching; (b) train loss along the linear, aligned and Bezier paths at the
Bezier width; (c) the train-loss barrier against width, unaligned vs aligned; (d) the
instability (Frankle et al.'s: above the endpoints' mean) of spawned copies against the spawn
step k at the chosen lr, and the former protocol (lr train.lr, above the chord). Lines are
means over pairs; bands and dots show every pair."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ... import plots
from .claims import barriers

_STYLE = {
    "linear": ("C3", "straight line"),
    "aligned": ("C0", "straight line, weight-matched"),
    "bezier": ("C2", "Bezier curve (trained)"),
}


def _band(ax, d: pd.DataFrame, col: str, color: str, label: str) -> None:
    g = d.groupby("alpha")[col]
    x = g.mean().index.to_numpy()
    ax.plot(x, g.mean(), color=color, label=label)
    ax.fill_between(x, g.min(), g.max(), color=color, alpha=0.2, lw=0)


def _demo(ax, metrics: pd.DataFrame) -> None:
    """Panel (a): the reference demo's straight line, its alphas and the further pairs."""
    demo = metrics[metrics["panel"] == "demo"].sort_values("alpha")
    own = demo[(demo["seed"] == 0) & (demo["method"] == "linear")]
    ax.plot(own["alpha"], own["train_loss"], color="k", lw=1, label="the demo's pair")
    at = own[own["demo_alpha"].astype(bool)]
    ax.plot(at["alpha"], at["train_loss"], "o", color="C1", label="the demo's alphas")
    for m in ("linear", "aligned"):
        d = demo[demo["method"] == m]
        if d["seed"].nunique() > 1:
            color, label = _STYLE[m]
            _band(ax, d, "train_loss", color, f"{label} ({d['seed'].nunique()} pairs)")
    ax.axhline(0.1, color="0.5", ls=":", lw=1, label="the demo's 'barrier' line (0.1)")
    ax.set(
        xlabel=r"$\alpha$ (model 1 weight: $\alpha w_1 + (1-\alpha) w_2$)",
        ylabel="train MSE",
        title="(a) reference demo: straight line",
    )
    ax.legend(fontsize=6)


def _curves(ax, metrics: pd.DataFrame, cfg: Mapping[str, Any]) -> None:
    """Panel (b): every path between the pairs of the Bezier width."""
    bw = int(cfg["bezier"]["width"])
    w = metrics[(metrics["panel"] == "width") & (metrics["width"] == bw)]
    for m, (color, label) in _STYLE.items():
        d = w[w["method"] == m]
        if len(d):
            _band(ax, d, "train_loss", color, label)
    ax.set(
        xlabel=r"$\alpha$ (Bezier: t)",
        ylabel="train loss (cross-entropy)",
        title=f"(b) MNIST-1D, width {bw}: paths between pairs",
    )
    b_cfg = cfg["bezier"]
    ax.text(
        0.02,
        0.02,
        f"curve: {b_cfg['epochs']} epochs, lr {b_cfg['lr']:g} "
        f"({b_cfg['lr_schedule']}), L2 {b_cfg['weight_decay']:g}",
        fontsize=6,
        transform=ax.transAxes,
    )
    ax.legend(fontsize=7)


def _widths(ax, b: pd.DataFrame) -> None:
    """Panel (c): the straight lines' barriers against the width."""
    bb = b[(b["panel"] == "width") & b["method"].isin(["linear", "aligned"])]
    for m, d in bb.groupby("method"):
        color, label = _STYLE[str(m)]
        mean = d.groupby("width")["barrier_train_loss"].mean()
        ax.plot(mean.index, mean, "-", color=color, label=label)
        ax.plot(d["width"], d["barrier_train_loss"], ".", color=color, alpha=0.6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    plots.plain_log_ticks(ax, "x")
    ax.set(
        xlabel="hidden width h (40-h-h-10)",
        ylabel="train-loss barrier",
        title="(c) barrier vs width (dots: pairs)",
    )
    ax.legend(fontsize=7)


def _stability(ax, b: pd.DataFrame, cfg: Mapping[str, Any]) -> None:
    """Panel (d): the instability against the spawn step, at both learning rates."""
    s = b[b["panel"] == "stability"]
    if len(s):
        sel = s[s["selected_lr"].astype(bool)]
        lr = float(sel["lr"].iloc[0]) if len(sel) else float("nan")
        mean = sel.groupby("spawn_step")["barrier_mean_test_err"].mean()
        ax.plot(
            mean.index,
            mean * 100,
            "-o",
            color="C4",
            label=f"chosen lr {lr:g}: instability (vs endpoints' mean)",
        )
        ax.plot(sel["spawn_step"], sel["barrier_mean_test_err"] * 100, ".", color="C4", alpha=0.5)
        old_lr = float(cfg["train"]["lr"])
        old = s[np.isclose(s["lr"], old_lr)].groupby("spawn_step")["barrier_test_err"].mean()
        ax.plot(
            old.index,
            old * 100,
            "--s",
            color="0.5",
            ms=3,
            label=f"former: lr {old_lr:g}, above the chord",
        )
        tol = cfg["claims_setup"]["stable_tolerance"] * 100
        ax.axhline(tol, color="0.5", ls=":", lw=1, label=f"stable below {tol:g} points")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlim(-0.5, 2 * max(float(s["spawn_step"].max()), 1.0))
    ax.set(
        xlabel="spawn step k (symmetric log: linear below 1)",
        ylabel="test-error barrier (points)",
        title=f"(d) stability at width {cfg['stability']['width']}",
    )
    ax.legend(fontsize=6)


def plot(metrics: pd.DataFrame, cfg: Mapping[str, Any], png: Path, pdf: Path) -> None:
    fig, axes = plots.subplots(2, nrows=2, width=5.0, height=3.8)
    ax_d, ax_c, ax_w, ax_s = axes.reshape(-1)
    _demo(ax_d, metrics)
    _curves(ax_c, metrics, cfg)
    b = barriers(metrics)
    _widths(ax_w, b)
    _stability(ax_s, b, cfg)
    fig.suptitle(
        f"Mode connectivity: {cfg['pairs']} pairs per width, {cfg['stability']['pairs']} per "
        "spawn step (lines: means; bands and dots: every pair)",
        fontsize=10,
    )
    plots.save(fig, png, pdf)
