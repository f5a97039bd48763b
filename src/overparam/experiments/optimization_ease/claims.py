"""Claims of optimization_ease: per-run summaries and the two monotonicity checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...claims import Claim, make_claim
from .. import CheckContext

NAME = "optimization_ease"


def per_run(metrics: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """One row per (width, seed): final train loss and first recorded epoch below threshold
    (NaN if never reached within the budget)."""

    def one(g: pd.DataFrame) -> pd.Series:
        g = g.sort_values("epoch")
        below = g.loc[g["train_loss"] < threshold, "epoch"]
        return pd.Series(
            {
                "final_train_loss": float(g["train_loss"].iloc[-1]),
                "epochs_to_threshold": float(below.iloc[0]) if len(below) else np.nan,
                "diverged": bool(g["diverged"].any()),
                "max_epoch": int(g["epoch"].max()),
            }
        )

    return metrics.groupby(["width", "seed"]).apply(one, include_groups=False).reset_index()


def per_width(metrics: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Medians over seeds. A run that never reached the threshold counts as 'later than the
    budget' (epochs + 1) in the median, so a width where most seeds fail has a censored median."""
    r = per_run(metrics, threshold)
    censored = r["epochs_to_threshold"].fillna(r["max_epoch"] + 1)
    r = r.assign(epochs_censored=censored)
    return (
        r.groupby("width")
        .agg(
            median_epochs=("epochs_censored", "median"),
            median_final_loss=("final_train_loss", "median"),
            reached=("epochs_to_threshold", lambda s: int(s.notna().sum())),
            runs=("seed", "size"),
            budget=("max_epoch", "max"),
        )
        .reset_index()
        .sort_values("width")
    )


def _violations(values, floor: float | None = None) -> int:
    """Adjacent pairs (by increasing width) where the value does not strictly decrease. With a
    ``floor``, values below it are numerically zero: equal there counts as decreasing (both
    widths fit the data), but rising above the floor again does not. NaN is a violation."""
    v = np.asarray(values, float)
    if floor is None:
        return int(np.sum(~(v[1:] < v[:-1])))
    v = np.maximum(v, floor)
    ok = (v[1:] < v[:-1]) | ((v[1:] == floor) & (v[:-1] == floor))
    return int(np.sum(~ok))


def diverged_runs(metrics: pd.DataFrame) -> list[tuple[int, int]]:
    """(width, seed) of every run marked diverged."""
    d = metrics.groupby(["width", "seed"])["diverged"].any()
    return [(int(w), int(s)) for (w, s), v in d.items() if v]


def values(metrics: pd.DataFrame, cfg: Mapping[str, Any]) -> dict[str, float]:
    """Both claims' values: violations of strict decrease of the medians over seeds. A
    diverged run has no loss, so a median that silently skipped it would compare widths on
    different seeds: if any run diverged, both values are NaN (the claims do not hold)."""
    w = per_width(metrics, cfg["loss_threshold"])
    div = bool(metrics["diverged"].any())
    return {
        "epochs_decrease": np.nan if div else _violations(w["median_epochs"]),
        "final_loss_decreases": (
            np.nan if div else _violations(w["median_final_loss"], cfg["loss_floor"])
        ),
    }


def check(metrics: pd.DataFrame, cfg: Mapping[str, Any], ctx: CheckContext) -> list[Claim]:
    """Both claims compare medians over seeds; the notes list the medians per width and name
    the diverged runs."""
    w = per_width(metrics, cfg["loss_threshold"])
    est = ctx.estimates(lambda m: values(m, cfg), metrics)
    div = diverged_runs(metrics)
    n_runs = metrics.groupby(["width", "seed"]).ngroups
    div_note = (
        f"{len(div)} of {n_runs} runs diverged (width, seed): "
        + ", ".join(f"({a}, {b})" for a, b in div)
        + "; "
        if div
        else ""
    )
    note_e = "; ".join(
        f"w={r.width}: {r.median_epochs:g}" + (" (censored)" if r.median_epochs > r.budget else "")
        for r in w.itertuples()
    )
    note_l = "; ".join(f"w={r.width}: {r.median_final_loss:.3g}" for r in w.itertuples())
    notes = {
        "epochs_decrease": "median epochs: " + note_e,
        "final_loss_decreases": "median final loss: " + note_l,
    }
    return [
        make_claim(
            cfg["claims"][key],
            claim=key,
            experiment=NAME,
            estimate=est[key],
            figure=ctx.figure,
            scale=ctx.scale,
            note=div_note + note,
        )
        for key, note in notes.items()
    ]
