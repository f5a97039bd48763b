"""Figure of lazy_training, from the metrics table only: against width (log-log), (a) the
relative weight change per layer, (b) the relative NTK change, (c) the gap between the network
and its linearisation (and gradient flow with Theta_0: converged, the two nearly coincide), each in the NTK parametrisation (solid)
and with the output scaled down (dashed, Chizat et al. 2019), (d) the final training loss.
Lines are means over seeds, dots every seed; a grey line of slope -1/2 is the reference."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ... import plots

_LS = {"ntk": ("-", "NTK param."), "scaled": ("--", "output scaled down")}


def _curve(ax, d: pd.DataFrame, color: str, regime: str, label: str, marker: str = "o") -> None:
    mean = d.groupby("width")["value"].mean()
    ls, rlabel = _LS[regime]
    ax.plot(mean.index, mean, ls, color=color, marker=marker, ms=4, label=f"{label}, {rlabel}")
    ax.plot(d["width"], d["value"], ".", color=color, alpha=0.35, ms=4)


def _reference(ax, d: pd.DataFrame) -> None:
    w = np.sort(d["width"].unique()).astype(float)
    if len(w) and len(d):
        start = float(d[d["width"] == w[0]]["value"].mean())
        ax.plot(w, start * (w / w[0]) ** -0.5, ":", color="0.5", lw=1, label=r"width$^{-1/2}$")


def _axes(ax, ylabel: str, title: str) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    plots.plain_log_ticks(ax, "x")
    ax.set(xlabel="hidden width w", ylabel=ylabel, title=title)
    ax.legend(fontsize=6)


def plot(metrics: pd.DataFrame, cfg: Mapping[str, Any], png: Path, pdf: Path) -> None:
    fig, axes = plots.subplots(2, nrows=2, width=5.0, height=3.8)
    ax_w, ax_k, ax_g, ax_l = axes.reshape(-1)
    q = metrics["quantity"]
    layers = sorted(x for x in q.unique() if str(x).startswith("weight_change_l"))
    for i, name in enumerate(layers):
        for regime in _LS:
            d = metrics[(q == name) & (metrics["regime"] == regime)]
            _curve(ax_w, d, f"C{i}", regime, f"layer {name.rsplit('l', 1)[1]}")
    _reference(ax_w, metrics[(q == "weight_change_l1") & (metrics["regime"] == "ntk")])
    _axes(ax_w, r"$\|W_T - W_0\| / \|W_0\|$", "(a) relative weight change")
    for regime in _LS:
        _curve(
            ax_k, metrics[(q == "ntk_change") & (metrics["regime"] == regime)], "C3", regime, "NTK"
        )
    _reference(ax_k, metrics[(q == "ntk_change") & (metrics["regime"] == "ntk")])
    _axes(ax_k, r"$\|\Theta_T - \Theta_0\|_F / \|\Theta_0\|_F$", "(b) relative NTK change")
    gaps = (
        ("lin_gap", "C4", "vs linearised", "o"),
        ("kr_gap", "C2", "vs flow with $\\Theta_0$", "x"),
    )
    for name, color, label, marker in gaps:
        for regime in _LS:
            _curve(
                ax_g,
                metrics[(q == name) & (metrics["regime"] == regime)],
                color,
                regime,
                label,
                marker,
            )
    _reference(ax_g, metrics[(q == "lin_gap") & (metrics["regime"] == "ntk")])
    _axes(ax_g, "RMS gap on test points", "(c) network vs linearisation")
    for regime in _LS:
        _curve(
            ax_l,
            metrics[(q == "train_loss") & (metrics["regime"] == regime)],
            "k",
            regime,
            "train MSE",
        )
    _axes(ax_l, "final training MSE", f"(d) after {cfg['steps']} GD steps")
    fig.suptitle(
        f"Lazy training: {len(cfg['seeds'])} seeds, {cfg['depth']} hidden layers, "
        f"{cfg['data']['train']} training points (lines: means; dots: every seed)",
        fontsize=10,
    )
    plots.save(fig, png, pdf)
