"""Figure of width_vs_depth, from the metrics table only. Against depth at each fixed
parameter budget: (a) epochs until the training accuracy reaches the fit target, (b) the
early-stopped test loss, (c) the final test accuracy; (d) training accuracy against epoch at
the largest budget, one line per depth. Lines are medians over seeds, dots single seeds."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ... import plots
from .claims import censored_epochs, per_run, per_shape


def _by_depth(ax, runs: pd.DataFrame, col: str, med: pd.DataFrame, med_col: str) -> None:
    budgets = sorted(runs["budget"].unique())
    for i, b in enumerate(budgets):
        r, s = runs[runs["budget"] == b], med[med["budget"] == b]
        ax.plot(r["depth"], r[col], ".", color=f"C{i}", alpha=0.4, ms=5)
        ax.plot(s["depth"], s[med_col], "o-", color=f"C{i}", label=f"{b:,} parameters")
    ax.set_xticks(sorted(runs["depth"].unique()))
    ax.set_xlabel("depth (hidden layers); width matched to the budget")
    ax.legend(fontsize=7)


def plot(metrics: pd.DataFrame, cfg: Mapping[str, Any], png: Path, pdf: Path) -> None:
    fit = cfg["claims_setup"]["fit_train_acc"]
    runs = per_run(metrics, fit)
    runs = runs.assign(epochs_censored=censored_epochs(runs))
    med = per_shape(runs)
    n_seeds = runs["seed"].nunique()
    budget = int(runs["max_epoch"].max())
    fig, axes = plots.subplots(4, width=4.2, height=3.6)
    ax_e, ax_l, ax_a, ax_c = axes

    _by_depth(ax_e, runs, "epochs_censored", med, "median_epochs")
    ax_e.axhline(budget + 1, color="C3", ls="--", lw=1, label="never fit (censored)")
    ax_e.set(ylabel=f"epochs until train acc >= {fit:g}", title="(a) time to fit")
    ax_e.legend(fontsize=7)

    _by_depth(ax_l, runs, "best_test_loss", med, "median_best_test_loss")
    lo = cfg["claims_setup"]["shape_min_depth"]
    if lo > runs["depth"].min():
        ax_l.axvspan(runs["depth"].min() - 0.5, lo - 0.5, color="0.9", zorder=0)
    ax_l.set(ylabel="early-stopped test loss (nats)", title="(b) best test cross-entropy")

    _by_depth(ax_a, runs, "final_test_acc", med, "median_final_test_acc")
    ax_a.set(ylabel=f"test accuracy after {budget} epochs", title="(c) test accuracy")

    top = metrics[metrics["budget"] == metrics["budget"].max()]
    depths = sorted(top["depth"].unique())
    pal = dict(zip(depths, plots.sns.color_palette("viridis", len(depths))))
    for L in depths:
        q = top[top["depth"] == L].groupby("epoch")["train_acc"].median()
        w = int(top.loc[top["depth"] == L, "width"].iloc[0])
        ax_c.plot(q.index, q, color=pal[L], label=f"L={L}, w={w}")
    ax_c.axhline(fit, color="k", ls=":", lw=1)
    ax_c.set(
        xlabel="epoch",
        ylabel=f"train accuracy (median of {n_seeds} seeds)",
        title=f"(d) training, {int(top['budget'].iloc[0]):,} parameters",
    )
    ax_c.legend(fontsize=7)
    plots.save(fig, png, pdf)
