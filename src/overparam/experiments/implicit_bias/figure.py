"""Figure of implicit_bias, from the metrics table only: (a) least squares: relative distance
to X^+ y + (I - X^+ X) w0 over GD steps; (b) separable logistic regression: the angle to the
hard-margin SVM direction against 1/log t (a straight line if it falls like 1/log t), d = 2
dashed as an illustration; (c) ||w_t|| against log t, with Soudry et al.'s finite-t form at the
SVM rate (||w_svm|| log t + b + c / log t, b and c fitted); (d) networks: how far GD moves the
weights relative to their start, ||theta_T - theta_0|| / ||theta_0||, against the init scale.
Lines are means over seeds; thin lines and dots show every seed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ... import plots
from .claims import final


def _seeds(ax, d: pd.DataFrame, x: str, y: str, color: str, label: str, ls="-", fx=None) -> None:
    f = fx or (lambda s: s)
    for _, g in d.groupby("seed"):
        ax.plot(f(g[x].to_numpy(dtype=float)), g[y], color=color, lw=0.5, alpha=0.35, ls=ls)
    mean = d.groupby(x)[y].mean()
    ax.plot(f(mean.index.to_numpy(dtype=float)), mean, color=color, lw=1.6, ls=ls, label=label)


def _least_squares(ax, metrics: pd.DataFrame, cfg: Mapping[str, Any]) -> None:
    """Panel (a): the relative distance to the limit along GD, from both starts."""
    ls = metrics[metrics["panel"] == "least_squares"]
    for kind, color, label in (
        ("gd_w0_random", "C1", r"from random $w_0$"),
        ("gd_w0_zero", "C0", r"from $w_0 = 0$ (limit $X^+y$)"),
    ):
        _seeds(
            ax,
            ls[ls["kind"] == kind],
            "step",
            "rel_dist",
            color,
            label,
            "--" if kind == "gd_w0_zero" else "-",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axhline(1e-6, color="0.5", ls=":", lw=1, label="claim: below 1e-6")
    ax.set(
        xlabel="GD step t",
        ylabel=r"$\|w_t - w_\infty\| / \|w_\infty\|$",
        title=f"(a) least squares, n={cfg['least_squares']['n']}, p={cfg['least_squares']['p']}",
    )
    ax.legend(fontsize=7)


def _logistic(ax_a, ax_n, metrics: pd.DataFrame, cfg: Mapping[str, Any]) -> None:
    """Panels (b) and (c): the angle to the SVM direction and the norm along GD."""
    lg = metrics[metrics["panel"] == "logistic"]
    lg_cfg = cfg["logistic"]
    for i, (d, g) in enumerate(lg.groupby("dim")):
        claimed = d >= lg_cfg["claim_min_dim"]
        ls_ = "-" if claimed else "--"
        lab = f"d = {d}" + ("" if claimed else " (illustration)")
        _seeds(ax_a, g, "step", "angle", f"C{i + 2}", lab, ls_, fx=lambda t: 1.0 / np.log(t + 1))
        _seeds(ax_n, g, "step", "norm", f"C{i + 2}", lab, ls_, fx=lambda t: np.log(t))
        if claimed:  # the theorem's finite-t form at the SVM rate: b and c fitted, slope fixed
            end = g.groupby("step")["norm"].mean()
            end = end[end.index >= lg_cfg["fit_from_step"]]
            lt = np.log(end.index.to_numpy(dtype=float))
            rest = end.to_numpy() - float(g["ref_norm"].mean()) * lt
            if len(lt) >= 2:
                b, c = np.linalg.lstsq(
                    np.column_stack([np.ones_like(lt), 1 / lt]), rest, rcond=None
                )[0]
                ax_n.plot(lt, float(g["ref_norm"].mean()) * lt + b + c / lt, ":", color="k", lw=1)
    ax_a.axvline(
        1.0 / np.log(lg_cfg["fit_from_step"] + 1), color="0.5", ls=":", lw=1, label="fits start"
    )
    ax_a.set(
        xlabel=r"$1 / \log(t+1)$",
        ylabel="angle to the SVM direction (rad)",
        title="(b) separable logistic regression: direction",
    )
    ax_a.set_xlim(0, None)
    ax_a.set_ylim(0, None)
    ax_a.legend(fontsize=7)
    ax_n.axvline(np.log(lg_cfg["fit_from_step"]), color="0.5", ls=":", lw=1)
    ax_n.set(
        xlabel=r"$\log t$",
        ylabel=r"$\|w_t\|$",
        title=r"(c) $\|w_t\|$ (dotted: $\|w_{svm}\| \log t + b + c / \log t$)",
    )
    ax_n.set_ylim(0, None)
    ax_n.legend(fontsize=7)


def _neural(ax, metrics: pd.DataFrame, cfg: Mapping[str, Any]) -> None:
    """Panel (d): the networks' relative move against the init scale."""
    net = metrics[metrics["panel"] == "neural"]
    nn = final(net)
    if len(nn):
        mean = nn.groupby("init_scale")["rel_dist"].mean()
        ax.plot(mean.index, mean, "-o", color="C4", label="mean over seeds")
        ax.plot(nn["init_scale"], nn["rel_dist"], ".", color="C4", alpha=0.5)
        c_hi = float(mean.index[-1])  # a centred lazy model's bound: O(1 / alpha) = c^-2
        ax.plot(
            mean.index,
            mean.iloc[-1] * (mean.index / c_hi) ** -2.0,
            ":",
            color="0.4",
            label=r"$\propto c^{-2}$ (centred-model rate)",
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(mean.index, [f"{s:g}" for s in mean.index])
        ax.minorticks_off()
    nc = cfg["neural"]
    ax.set(
        xlabel="init scale (multiplies every initial weight)",
        ylabel=r"relative move $\|\theta_T - \theta_0\| / \|\theta_0\|$",
        title=f"(d) ReLU nets, width {nc['width']}: GD to interpolation",
    )
    ax.legend(fontsize=7)


def plot(metrics: pd.DataFrame, cfg: Mapping[str, Any], png: Path, pdf: Path) -> None:
    fig, axes = plots.subplots(2, nrows=2, width=5.0, height=3.8)
    ax_ls, ax_a, ax_n, ax_nn = axes.reshape(-1)
    _least_squares(ax_ls, metrics, cfg)
    _logistic(ax_a, ax_n, metrics, cfg)
    _neural(ax_nn, metrics, cfg)
    fig.suptitle(
        "Implicit bias of gradient descent (lines: means over seeds; thin lines and dots: "
        "every seed)",
        fontsize=10,
    )
    plots.save(fig, png, pdf)
