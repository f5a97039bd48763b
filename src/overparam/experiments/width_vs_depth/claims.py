"""Claims of width_vs_depth, each computed per budget and combined (it must hold at every one).

- ``deeper_slower_to_fit`` and ``shape_insensitive_small_data`` read the ``fit`` runs (many
  epochs on 4000 samples): epochs to fit and the test loss early-stopped on the test set.
- ``shape_insensitive`` reads the ``onepass`` runs (Kaplan et al.'s regime): per run the
  checkpoint of lowest validation loss and the test loss there; per (budget, depth) the grid
  learning rate with the lowest median validation loss (one with a diverged seed is not
  eligible); the spread over depths of the median test loss at that learning rate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ...claims import Claim
from .. import CheckContext
from .batched import values_batch
from .onepass import (
    of_protocol,
    onepass_note,
    onepass_runs,
    onepass_spread,
)

NAME = "width_vs_depth"
CLAIMS = ("deeper_slower_to_fit", "shape_insensitive", "shape_insensitive_small_data")
RUN_KEYS = ["budget", "depth", "seed"]


def per_run(metrics: pd.DataFrame, fit_train_acc: float) -> pd.DataFrame:
    """One row per (budget, depth, seed): ``epochs_to_fit`` (first recorded epoch with training
    accuracy >= ``fit_train_acc``; NaN if never within the run), ``max_epoch`` (the run's
    budget of epochs), ``best_test_loss`` (the early-stopped test loss: minimum over recorded
    epochs), ``final_train_acc``, ``final_test_acc``, ``best_test_acc`` and ``diverged``."""
    m = of_protocol(metrics, "fit").sort_values([*RUN_KEYS, "epoch"])
    g = m.groupby(RUN_KEYS, sort=True)
    out = g.agg(
        width=("width", "first"),
        num_params=("num_params", "first"),
        max_epoch=("epoch", "max"),
        diverged=("diverged", "any"),
        best_test_loss=("test_loss", "min"),
        best_test_acc=("test_acc", "max"),
    )
    last = m.drop_duplicates(RUN_KEYS, keep="last").set_index(RUN_KEYS)
    out["final_train_acc"] = last["train_acc"]
    out["final_test_acc"] = last["test_acc"]
    fit = m[m["train_acc"] >= fit_train_acc].groupby(RUN_KEYS)["epoch"].min()
    out["epochs_to_fit"] = fit.reindex(out.index).astype(float)
    out["diverged"] = out["diverged"].astype(bool)
    return out.reset_index()


def censored_epochs(runs: pd.DataFrame) -> pd.Series:
    """Epochs to fit, a run that never fit counted as one epoch past its budget."""
    return runs["epochs_to_fit"].fillna(runs["max_epoch"] + 1)


def per_shape(runs: pd.DataFrame) -> pd.DataFrame:
    """Medians over seeds per (budget, depth) of ``per_run`` rows, with the counts."""
    r = runs.assign(epochs_censored=censored_epochs(runs))
    return (
        r.groupby(["budget", "depth"], sort=True)
        .agg(
            width=("width", "first"),
            num_params=("num_params", "first"),
            median_epochs=("epochs_censored", "median"),
            fitted=("epochs_to_fit", lambda s: int(s.notna().sum())),
            runs=("seed", "size"),
            diverged=("diverged", "sum"),
            budget_epochs=("max_epoch", "max"),
            median_best_test_loss=("best_test_loss", "median"),
            median_final_test_acc=("final_test_acc", "median"),
            median_final_train_acc=("final_train_acc", "median"),
        )
        .reset_index()
    )


def slower_ratio(runs: pd.DataFrame, reference_depth: int) -> float:
    """Min over budgets of the median (censored) epochs to fit of the deepest network over
    that of ``reference_depth``: above 1 at every budget iff the deepest is slower at all."""
    r = runs.assign(e=censored_epochs(runs))
    med = r.groupby(["budget", "depth"])["e"].median()
    deepest = int(r["depth"].max())
    ratios = [med[(b, deepest)] / med[(b, reference_depth)] for b in sorted(set(r["budget"]))]
    return float(min(ratios)) if ratios else float("nan")


def shape_spread(runs: pd.DataFrame, min_depth: int) -> float:
    """Max over budgets of (largest / smallest median early-stopped test loss over the
    depths >= ``min_depth``) - 1. NaN if any of those runs diverged (its loss is cut short)."""
    r = runs[runs["depth"] >= min_depth]
    if r.empty or r["diverged"].any() or r["best_test_loss"].isna().any():
        return float("nan")
    med = r.groupby(["budget", "depth"])["best_test_loss"].median()
    spreads = [float(s.max() / s.min() - 1.0) for _, s in med.groupby(level="budget")]
    return float(max(spreads))


def claim_runs(metrics: pd.DataFrame, fit_train_acc: float) -> pd.DataFrame:
    """The per-run rows of both protocols in one table (``protocol`` tells them apart), so
    that one bootstrap over seeds resamples them together."""
    fit = per_run(metrics, fit_train_acc).assign(protocol="fit")
    one = onepass_runs(metrics).assign(protocol="onepass")
    return pd.concat([fit, one], ignore_index=True)


def values(runs: pd.DataFrame, setup: Mapping[str, Any]) -> dict[str, float]:
    fit = of_protocol(runs, "fit")
    one = of_protocol(runs, "onepass")
    return {
        "deeper_slower_to_fit": slower_ratio(fit, int(setup["reference_depth"])),
        "shape_insensitive": onepass_spread(one),
        "shape_insensitive_small_data": shape_spread(fit, int(setup["shape_min_depth"])),
    }


def notes(all_runs: pd.DataFrame, setup: Mapping[str, Any]) -> dict[str, str]:
    runs = of_protocol(all_runs, "fit")
    s = per_shape(runs)
    div = int(s["diverged"].sum())
    div_note = f"{div} of {len(runs)} runs diverged; " if div else ""
    fit, lo = setup["fit_train_acc"], setup["shape_min_depth"]
    by_budget_e, by_budget_l = [], []
    for b, g in s.groupby("budget"):
        by_budget_e.append(
            f"P={b}: "
            + ", ".join(
                f"L={r.depth} (w={r.width}) {r.median_epochs:g}"
                + ("*" if r.median_epochs > r.budget_epochs else "")
                + f" [{r.fitted}/{r.runs} fit]"
                for r in g.itertuples()
            )
        )
        by_budget_l.append(
            f"P={b}: "
            + ", ".join(
                f"L={r.depth} {r.median_best_test_loss:.3f}"
                + ("" if r.depth >= lo else " (not compared)")
                for r in g.itertuples()
            )
        )
    return {
        "deeper_slower_to_fit": div_note
        + f"median epochs to train acc >= {fit:g} (* = censored: most runs never fit): "
        + "; ".join(by_budget_e),
        "shape_insensitive": onepass_note(of_protocol(all_runs, "onepass")),
        "shape_insensitive_small_data": div_note
        + "median test loss (nats) early-stopped on the test set: "
        + "; ".join(by_budget_l),
    }


def check(metrics: pd.DataFrame, cfg: Mapping[str, Any], ctx: CheckContext) -> list[Claim]:
    setup = cfg["claims_setup"]
    runs = claim_runs(metrics, setup["fit_train_acc"])
    est = ctx.estimates(lambda r: values(r, setup), runs, batch=values_batch(setup))
    return ctx.claims(NAME, {k: k for k in CLAIMS}, est, notes=notes(runs, setup))


def rows(cfg: Mapping[str, Any]) -> dict[str, str]:
    """The metrics rows each claim's value is computed from (a pandas query per claim id;
    ``overparam explain`` shows them)."""
    setup = cfg["claims_setup"]
    return {
        "deeper_slower_to_fit": f"protocol == 'fit' and depth in [{int(setup['reference_depth'])}, "
        f"{max(int(d) for d in cfg['depths'])}]",
        "shape_insensitive": "protocol == 'onepass'",
        "shape_insensitive_small_data": f"protocol == 'fit' and depth >= "
        f"{int(setup['shape_min_depth'])}",
    }
