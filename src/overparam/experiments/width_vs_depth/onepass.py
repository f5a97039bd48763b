"""width_vs_depth's one-pass protocol (Kaplan et al.'s regime), as its claims and figure read
it: per run the checkpoint of lowest validation loss and the test loss there, per (budget,
depth) the learning rate chosen on validation loss, and the spread over depths."""

from __future__ import annotations

import pandas as pd

ONEPASS_KEYS = ["budget", "depth", "lr", "seed"]


def of_protocol(metrics: pd.DataFrame, protocol: str) -> pd.DataFrame:
    """The rows of one protocol (a table without the column is all ``fit``)."""
    if "protocol" not in metrics.columns:
        return metrics if protocol == "fit" else metrics.iloc[:0]
    return metrics[metrics["protocol"] == protocol]


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
