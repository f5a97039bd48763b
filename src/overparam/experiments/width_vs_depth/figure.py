"""Figure of width_vs_depth, from the metrics table only. The fit runs (4000 samples, many
epochs), against depth at each fixed parameter budget: (a) epochs until the training accuracy
reaches the fit target, (b) the test loss early-stopped on the test set (the old shape row),
(c) the final test accuracy; (d) training accuracy against epoch at the largest budget, one
line per depth. The one-pass runs (Kaplan et al.'s regime): (e) the test loss at the
validation-chosen checkpoint and learning rate against depth, the band the 3% claim allows
above the best shape shaded; (f) the validation loss along the pass at the largest budget,
each depth at its chosen learning rate. Lines are medians over seeds, dots single seeds."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ... import plots
from .claims import censored_epochs, per_run, per_shape
from .onepass import chosen_lr, of_protocol, onepass_runs


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
    fig, axes = plots.subplots(3, nrows=2, width=4.2, height=3.6)
    ax_e, ax_l, ax_a, ax_c, ax_o, ax_v = axes

    _by_depth(ax_e, runs, "epochs_censored", med, "median_epochs")
    ax_e.axhline(budget + 1, color="C3", ls="--", lw=1, label="never fit (censored)")
    ax_e.set(ylabel=f"epochs until train acc >= {fit:g}", title="(a) time to fit")
    ax_e.legend(fontsize=7)

    _by_depth(ax_l, runs, "best_test_loss", med, "median_best_test_loss")
    lo = cfg["claims_setup"]["shape_min_depth"]
    if lo > runs["depth"].min():
        ax_l.axvspan(runs["depth"].min() - 0.5, lo - 0.5, color="0.9", zorder=0)
    ax_l.set(
        ylabel="test loss, min over epochs (nats)",
        title="(b) fit runs: test loss stopped on the test set",
    )

    _by_depth(ax_a, runs, "final_test_acc", med, "median_final_test_acc")
    ax_a.set(ylabel=f"test accuracy after {budget} epochs", title="(c) test accuracy")

    fit_m = of_protocol(metrics, "fit")
    top = fit_m[fit_m["budget"] == fit_m["budget"].max()]
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
    _onepass(ax_o, ax_v, metrics)
    plots.save(fig, png, pdf)


def _onepass(ax_o, ax_v, metrics: pd.DataFrame) -> None:
    one = onepass_runs(metrics)
    if one.empty:
        for ax in (ax_o, ax_v):
            ax.set_axis_off()
        return
    c = chosen_lr(one)
    for i, (b, g) in enumerate(c.groupby("budget")):
        pick = one.merge(g[["budget", "depth", "lr"]], on=["budget", "depth", "lr"])
        ax_o.plot(pick["depth"], pick["stop_test_loss"], ".", color=f"C{i}", alpha=0.4, ms=5)
        ax_o.plot(g["depth"], g["test_loss"], "o-", color=f"C{i}", label=f"{b:,} parameters")
        lo = g["test_loss"].min()
        ax_o.axhspan(lo, 1.03 * lo, color=f"C{i}", alpha=0.12, lw=0)
        for r in g.itertuples():
            if r.lr == r.lr:
                ax_o.annotate(
                    f"{r.lr:g}",
                    (r.depth, r.test_loss),
                    textcoords="offset points",
                    xytext=(0, 5),
                    ha="center",
                    fontsize=6,
                    color=f"C{i}",
                )
    ax_o.set_xticks(sorted(one["depth"].unique()))
    n = int(one.groupby(["budget", "depth", "lr"])["seed"].size().max())
    ax_o.set(
        xlabel="depth (hidden layers); width matched to the budget",
        ylabel="test loss where validation stopped (nats)",
        title=f"(e) one pass, lr per depth on validation ({n} seeds)",
    )
    ax_o.legend(fontsize=7, title="shaded: +3% of the best shape", title_fontsize=6)

    m = of_protocol(metrics, "onepass")
    top_b = int(m["budget"].max())
    cb = c[c["budget"] == top_b]
    depths = sorted(cb["depth"].unique())
    pal = dict(zip(depths, plots.sns.color_palette("viridis", len(depths))))
    for r in cb.itertuples():
        q = m[(m["budget"] == top_b) & (m["depth"] == r.depth) & (m["lr"] == r.lr)]
        q = q[q["step"] > 0].groupby("step")["val_loss"].median()
        ax_v.plot(
            q.index,
            q,
            "o-",
            ms=3,
            color=pal[r.depth],
            label=f"L={r.depth}, w={r.width}, lr {r.lr:g}",
        )
    ax_v.set(
        xlabel="optimizer steps (one pass; each batch fresh)",
        ylabel="validation loss (median over seeds, nats)",
        title=f"(f) one pass, {top_b:,} parameters",
    )
    ax_v.legend(fontsize=7)
