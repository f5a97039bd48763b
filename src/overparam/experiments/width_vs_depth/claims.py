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

NAME = "width_vs_depth"
CLAIMS = ("deeper_slower_to_fit", "shape_insensitive", "shape_insensitive_small_data")
RUN_KEYS = ["budget", "depth", "seed"]
ONEPASS_KEYS = ["budget", "depth", "lr", "seed"]


def of_protocol(metrics: pd.DataFrame, protocol: str) -> pd.DataFrame:
    """The rows of one protocol (a table without the column is all ``fit``)."""
    if "protocol" not in metrics.columns:
        return metrics if protocol == "fit" else metrics.iloc[:0]
    return metrics[metrics["protocol"] == protocol]


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


def onepass_runs(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per (budget, depth, lr, seed) of the one-pass runs: ``stop_step`` (the
    checkpoint of lowest validation loss, the earliest on a tie; -1 if none is finite),
    ``best_val_loss`` there, ``stop_test_loss`` and ``stop_test_acc`` (the test set at that
    checkpoint: never used to choose it), ``end_train_loss`` and ``end_val_loss`` (at the last
    checkpoint), ``total_steps`` and ``diverged``."""
    m = of_protocol(metrics, "onepass").sort_values([*ONEPASS_KEYS, "step"])
    cols = [
        "budget",
        "depth",
        "lr",
        "seed",
        "width",
        "num_params",
        "stop_step",
        "best_val_loss",
        "stop_test_loss",
        "stop_test_acc",
        "end_train_loss",
        "end_val_loss",
        "mid_val_loss",
        "total_steps",
        "diverged",
    ]
    if m.empty:
        return pd.DataFrame(columns=cols)
    g = m.groupby(ONEPASS_KEYS, sort=True)
    out = g.agg(
        width=("width", "first"),
        num_params=("num_params", "first"),
        total_steps=("step", "max"),
        diverged=("diverged", "any"),
    )
    finite = m[m["val_loss"].notna()]
    best = finite.loc[finite.groupby(ONEPASS_KEYS)["val_loss"].idxmin()].set_index(ONEPASS_KEYS)
    out["stop_step"] = best["step"].reindex(out.index).fillna(-1).astype(int)
    out["best_val_loss"] = best["val_loss"].reindex(out.index)
    out["stop_test_loss"] = best["test_loss"].reindex(out.index)
    out["stop_test_acc"] = best["test_acc"].reindex(out.index)
    last = m.drop_duplicates(ONEPASS_KEYS, keep="last").set_index(ONEPASS_KEYS)
    out["end_train_loss"] = last["train_loss"]
    out["end_val_loss"] = last["val_loss"]
    steps = sorted(m["step"].unique())
    mid = min(steps, key=lambda t: (abs(t - steps[-1] / 2), t))
    out["mid_val_loss"] = m[m["step"] == mid].set_index(ONEPASS_KEYS)["val_loss"]
    out["diverged"] = out["diverged"].astype(bool)
    return out.reset_index()[cols]


def chosen_lr(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (budget, depth) of ``onepass_runs`` rows: the learning rate of the grid with the
    lowest median (over seeds) validation loss among those none of whose seeds diverged
    (``lr``, NaN if none is eligible; ``eligible`` counts them), ``at_edge`` (it is the grid's
    smallest or largest), the medians of the test loss and accuracy at the validation-chosen
    checkpoints (``test_loss``, ``test_acc``), of the validation loss, of the stopping step and
    of the last checkpoint's train and validation loss and of the mid-run validation loss."""
    keys = ["budget", "depth"]
    per_lr = (
        runs.groupby([*keys, "lr"], sort=True)
        .agg(
            width=("width", "first"),
            div=("diverged", "any"),
            val_loss=("best_val_loss", "median"),
            test_loss=("stop_test_loss", "median"),
            test_acc=("stop_test_acc", "median"),
            stop_step=("stop_step", "median"),
            end_train_loss=("end_train_loss", "median"),
            end_val_loss=("end_val_loss", "median"),
            mid_val_loss=("mid_val_loss", "median"),
            total_steps=("total_steps", "max"),
        )
        .reset_index()
    )
    grid = sorted(runs["lr"].unique())
    ok = per_lr["val_loss"].notna() & ~per_lr["div"].astype(bool)
    shapes = per_lr.groupby(keys, sort=True).agg(width=("width", "first")).reset_index()
    shapes["eligible"] = ok.groupby([per_lr[k] for k in keys]).sum().to_numpy()
    cols = [
        "lr",
        "val_loss",
        "test_loss",
        "test_acc",
        "stop_step",
        "end_train_loss",
        "end_val_loss",
        "mid_val_loss",
        "total_steps",
    ]
    best = per_lr[ok].sort_values([*keys, "val_loss", "lr"]).drop_duplicates(keys)
    out = shapes.merge(best[[*keys, *cols]], on=keys, how="left")
    out["at_edge"] = (len(grid) > 1) & out["lr"].isin([grid[0], grid[-1]])
    out["total_steps"] = out["total_steps"].fillna(0).astype(int)
    return out[[*keys, "width", *cols, "at_edge", "eligible"]]


def onepass_spread(runs: pd.DataFrame) -> float:
    """Max over budgets of (largest / smallest median test loss over depths) - 1, each
    depth at its validation-chosen learning rate and each run at its validation-chosen
    checkpoint (the rule of ``chosen_lr``, computed here with only the columns it needs: the
    bootstrap calls it a thousand times). NaN if a (budget, depth) has no eligible rate."""
    if runs.empty:
        return float("nan")
    keys = ["budget", "depth"]
    g = runs.groupby([*keys, "lr"], sort=True)
    per_lr = pd.DataFrame(
        {
            "div": g["diverged"].any(),
            "val": g["best_val_loss"].median(),
            "test": g["stop_test_loss"].median(),
        }
    ).reset_index()
    ok = per_lr[per_lr["val"].notna() & ~per_lr["div"].astype(bool)]
    best = ok.sort_values([*keys, "val", "lr"]).drop_duplicates(keys)
    if len(best) < per_lr[keys].drop_duplicates().shape[0] or best["test"].isna().any():
        return float("nan")
    by = best.groupby("budget")["test"]
    return float((by.max() / by.min() - 1.0).max())


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


def onepass_note(one: pd.DataFrame) -> str:
    """Per budget and depth: the chosen lr (! = at the grid's edge), the median test loss at
    the validation-chosen checkpoint, when it stopped, the train / validation loss at the end
    of the pass (their gap says whether the runs overfit) and how much lower the validation
    loss is at the end than at mid-pass (a large drop: the loss is still limited by steps)."""
    if one.empty:
        return "no one-pass runs"
    c = chosen_lr(one)
    div = int(one["diverged"].sum())
    parts = []
    for b, g in c.groupby("budget"):
        parts.append(
            f"P={b}: "
            + ", ".join(
                f"L={r.depth} lr {r.lr:g}{'!' if r.at_edge else ''} test {r.test_loss:.3f} "
                f"(stop {r.stop_step:g}/{r.total_steps}; end train {r.end_train_loss:.3f} / "
                f"val {r.end_val_loss:.3f}, {1 - r.end_val_loss / r.mid_val_loss:.0%} below "
                "mid-pass)"
                if r.eligible
                else f"L={r.depth} no eligible lr"
                for r in g.itertuples()
            )
        )
    return (
        (f"{div} of {len(one)} one-pass runs diverged; " if div else "")
        + "lr chosen on validation (! = grid edge), median test loss (nats) at the "
        + "validation-chosen checkpoint: "
        + "; ".join(parts)
    )


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
