"""Figure of random_labels, from the metrics table only (Zhang et al. 2017, Fig. 1 a-c):
(a) training accuracy against epoch, mean over seeds per variant (widest network); (b) the
first epoch with training accuracy 1.0 against the fraction of redrawn labels, random inputs
as a separate marker; (c) clean test accuracy against the fraction, chance dashed. Dots are
single seeds."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ... import plots
from .claims import CHANCE, finals


def _label(variant: str, fraction: float) -> str:
    if variant == "random_inputs":
        return "random inputs, random labels"
    return "true labels" if fraction == 0 else f"{fraction:.0%} of labels redrawn"


def plot(metrics: pd.DataFrame, cfg: Mapping[str, Any], png: Path, pdf: Path) -> None:
    fig, (ax_c, ax_t, ax_a) = plots.subplots(3, width=4.2, height=3.4)
    widest = metrics["width"].max()
    m = metrics[metrics["width"] == widest]
    runs = list(m.groupby(["variant", "label_fraction"]))
    for i, ((var, fr), g) in enumerate(runs):
        curve = g.groupby("epoch")["train_acc"].mean()
        ls = ":" if var == "random_inputs" else "-"
        ax_c.plot(curve.index, curve, ls, color=f"C{i}", label=_label(var, fr))
    ax_c.set(
        xlabel="epoch",
        ylabel="training accuracy (own labels)",
        title=f"(a) fitting the labels, width {widest}",
        ylim=(0, 1.02),
    )
    ax_c.legend(fontsize=6)
    f = finals(metrics)
    for j, (w, fw) in enumerate(f.groupby("width")):
        lab = fw[fw["variant"] == "labels"]
        rnd = fw[fw["variant"] == "random_inputs"]
        for ax, col in ((ax_t, "fit_epoch"), (ax_a, "test_acc")):
            mean = lab.groupby("label_fraction")[col].mean()
            ax.plot(mean.index, mean, "o-", color=f"C{j}", ms=4, label=f"width {w}")
            ax.plot(lab["label_fraction"], lab[col], ".", color=f"C{j}", alpha=0.35)
            if len(rnd):
                ax.plot(
                    [1.0],
                    [rnd[col].mean()],
                    "s",
                    mfc="none",
                    color=f"C{j}",
                    ms=7,
                    label=f"random inputs, width {w}",
                )
    ax_t.set(
        xlabel="fraction of training labels redrawn",
        ylabel="first epoch at train acc 1.0",
        title="(b) time to fit",
        ylim=(0, None),
    )
    ax_a.axhline(CHANCE, ls="--", color="0.5", lw=1, label="chance")
    ax_a.set(
        xlabel="fraction of training labels redrawn",
        ylabel="test accuracy (clean labels)",
        title="(c) generalisation",
        ylim=(0, None),
    )
    for ax in (ax_t, ax_a):
        ax.legend(fontsize=6)
    plots.save(fig, png, pdf)
