"""Wider networks are easier to optimize.

An MLP regresses n=100 points in d=20 dimensions with plain SGD; the same data, learning rate
and number of epochs for every width. We record the training-loss curve of every (width,
seed), the final training loss and the first epoch at which the training MSE falls below a
threshold. The claim: both decrease with width.

Jobs: one per width (``w<width>``); the seeds of a width train as one batched ensemble.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .. import plots
from ..claims import Claim, make_claim
from ..models import MLPSpec, init_mlp_ensemble
from ..tables import Schema
from ..train import TrainConfig, resolve_device, train_ensemble

NAME = "optimization_ease"
TRAINS = True

RUN_SCHEMA = Schema(
    name="optimization_ease.runs",
    columns={"width": "int", "depth": "int", "num_params": "int", "seed": "int", "epoch": "int",
             "step": "int", "train_loss": "float", "test_loss": "float", "diverged": "bool"},
    nullable=frozenset({"train_loss", "test_loss"}),
)
METRICS_SCHEMA = Schema(name="optimization_ease.metrics", columns=RUN_SCHEMA.columns,
                        nullable=RUN_SCHEMA.nullable)


def jobs(cfg: dict) -> list[str]:
    return [f"w{w}" for w in cfg["widths"]]


def make_data(cfg: dict, seed: int = 0, n_test: int = 500) -> dict[str, np.ndarray]:
    """x ~ N(0, I_d). Targets: i.i.d. N(0, 1) ('random': memorisation, the pure optimisation
    problem) or a random tanh teacher of width 2d, standardised ('teacher')."""
    rng = np.random.default_rng([seed, 20170])
    n, d = cfg["n"], cfg["d"]
    x = rng.standard_normal((n + n_test, d))
    if cfg.get("target", "random") == "random":
        y = rng.standard_normal(n + n_test)
    else:
        w = rng.standard_normal((d, 2 * d)) / np.sqrt(d)
        a = rng.standard_normal(2 * d)
        y = np.tanh(x @ w) @ a
        y = (y - y[:n].mean()) / y[:n].std()
    f32 = np.float32
    return {"x": x[:n].astype(f32), "y": y[:n].astype(f32), "x_test": x[n:].astype(f32),
            "y_test": y[n:].astype(f32)}


def run(cfg: dict, job: str, device: str = "auto", threads: int | None = None, log=print,
        **_) -> pd.DataFrame:
    width = int(job.removeprefix("w"))
    if width not in cfg["widths"]:
        raise ValueError(f"job {job!r}: width {width} is not in optimization_ease.widths")
    dev = resolve_device(device)
    depth = int(cfg.get("depth", 1))
    spec = MLPSpec(in_dim=cfg["d"], hidden=(width,) * depth, out_dim=1)
    seeds = [int(s) for s in cfg["seeds"]]
    data = make_data(cfg)
    params = init_mlp_ensemble(spec, seeds, device=dev)
    tc = TrainConfig(epochs=int(cfg["epochs"]), batch_size=int(cfg.get("batch_size", 10)),
                     lr=float(cfg["lr"]), optimizer=cfg.get("optimizer", "sgd"),
                     momentum=float(cfg.get("momentum", 0.0)), loss="mse",
                     eval_every=int(cfg.get("eval_every", 10)), threads=threads)
    res = train_ensemble(spec, params, data, tc, seeds, device=dev, log=log)
    h = res.history
    n_params = sum(int(np.prod(p.shape[1:])) for p in params)
    return pd.DataFrame({
        "width": width, "depth": depth, "num_params": n_params,
        "seed": h["seed"].astype("int64"), "epoch": h["epoch"].astype("int64"),
        "step": h["step"].astype("int64"), "train_loss": h["train_loss"].astype(float),
        "test_loss": h["test_loss"].astype(float), "diverged": h["diverged"].astype(bool),
    })


def aggregate(frames: list[pd.DataFrame], cfg: dict) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True).sort_values(["width", "seed", "epoch"],
                                                            ignore_index=True)


def per_run(metrics: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """One row per (width, seed): final train loss and first recorded epoch below threshold
    (NaN if never reached within the budget)."""
    def one(g: pd.DataFrame) -> pd.Series:
        g = g.sort_values("epoch")
        below = g.loc[g["train_loss"] < threshold, "epoch"]
        return pd.Series({"final_train_loss": float(g["train_loss"].iloc[-1]),
                          "epochs_to_threshold": float(below.iloc[0]) if len(below) else np.nan,
                          "diverged": bool(g["diverged"].any()),
                          "max_epoch": int(g["epoch"].max())})

    return metrics.groupby(["width", "seed"]).apply(one, include_groups=False).reset_index()


def per_width(metrics: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Medians over seeds. A run that never reached the threshold counts as 'later than the
    budget' (epochs + 1) in the median, so a width where most seeds fail has a censored median."""
    r = per_run(metrics, threshold)
    censored = r["epochs_to_threshold"].fillna(r["max_epoch"] + 1)
    r = r.assign(epochs_censored=censored)
    return r.groupby("width").agg(
        median_epochs=("epochs_censored", "median"),
        median_final_loss=("final_train_loss", "median"),
        reached=("epochs_to_threshold", lambda s: int(s.notna().sum())),
        runs=("seed", "size"),
        budget=("max_epoch", "max"),
    ).reset_index().sort_values("width")


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


def check(metrics: pd.DataFrame, cfg: dict, scale: str) -> list[Claim]:
    """Both claims compare medians over seeds. A diverged run has no loss, so a median that
    silently skipped it would compare widths on different seeds: if any run diverged, both
    values are NaN (the claims do not hold) and the note names the diverged runs."""
    fig = f"figures/{NAME}.png"
    w = per_width(metrics, cfg["loss_threshold"])
    div = diverged_runs(metrics)
    n_runs = metrics.groupby(["width", "seed"]).ngroups
    div_note = (f"{len(div)} of {n_runs} runs diverged (width, seed): "
                + ", ".join(f"({a}, {b})" for a, b in div) + "; " if div else "")
    note_e = "; ".join(f"w={r.width}: {r.median_epochs:g}"
                       + (" (censored)" if r.median_epochs > r.budget else "")
                       for r in w.itertuples())
    note_l = "; ".join(f"w={r.width}: {r.median_final_loss:.3g}" for r in w.itertuples())
    return [
        make_claim(cfg["claims"]["epochs_decrease"], claim="epochs_decrease", experiment=NAME,
                   value=np.nan if div else _violations(w["median_epochs"]), figure=fig,
                   scale=scale, note=div_note + "median epochs: " + note_e),
        make_claim(cfg["claims"]["final_loss_decreases"], claim="final_loss_decreases",
                   experiment=NAME,
                   value=np.nan if div else _violations(w["median_final_loss"], cfg["loss_floor"]),
                   figure=fig, scale=scale, note=div_note + "median final loss: " + note_l),
    ]


def plot(metrics: pd.DataFrame, cfg: dict, png, pdf) -> None:
    thr = cfg["loss_threshold"]
    fig, (ax_c, ax_e, ax_f) = plots.subplots(3, width=4.8, height=3.8)
    widths = sorted(metrics["width"].unique())
    pal = dict(zip(widths, plots.sns.color_palette("viridis", len(widths))))
    for w in widths:
        g = metrics[metrics["width"] == w].groupby("epoch")["train_loss"]
        q = g.quantile([0.25, 0.5, 0.75]).unstack()
        ax_c.plot(q.index, q[0.5], color=pal[w], label=f"width {w}")
        ax_c.fill_between(q.index, q[0.25], q[0.75], color=pal[w], alpha=0.2, lw=0)
    ax_c.axhline(thr, color="k", ls=":", lw=1, label=f"threshold {thr:g}")
    ax_c.set(yscale="log", xlabel="epoch", ylabel="train MSE (median, IQR over seeds)",
             title=f"(a) SGD, lr={cfg['lr']:g}, n={cfg['n']}, d={cfg['d']}")
    ax_c.legend(fontsize=8)

    r = per_run(metrics, thr)
    s = per_width(metrics, thr)
    budget = int(metrics["epoch"].max())
    shown = r["epochs_to_threshold"].fillna(budget + 1)
    ax_e.scatter(r["width"], shown, s=14, color="0.5", label="seeds (top line: never reached)")
    ax_e.plot(s["width"], s["median_epochs"], "o-", color="C0", label="median")
    ax_e.axhline(budget + 1, color="C3", ls="--", lw=1)
    ax_e.set(xscale="log", yscale="log", xlabel="hidden width",
             ylabel=f"epochs until train MSE < {thr:g}", title="(b) time to fit")
    ax_e.legend(fontsize=8)
    ax_f.scatter(r["width"], r["final_train_loss"], s=14, color="0.5", label="seeds")
    ax_f.plot(s["width"], s["median_final_loss"], "o-", color="C1", label="median")
    ax_f.axhline(cfg["loss_floor"], color="0.4", ls=":", lw=1, label="numerical zero")
    ax_f.set(xscale="log", yscale="log", xlabel="hidden width",
             ylabel=f"train MSE after {budget} epochs", title="(c) final training loss")
    div = diverged_runs(metrics)
    if div:  # diverged runs have no loss (NaN): say so instead of silently leaving them out
        for ax in (ax_c, ax_f):
            ax.text(0.02, 0.97, f"{len(div)} of {len(r)} runs diverged (not shown)",
                    transform=ax.transAxes, fontsize=8, color="C3", va="top")
        if not np.isfinite(r["final_train_loss"]).any():  # nothing to scale log axes to
            ax_f.set(xlim=(min(widths) / 1.5, max(widths) * 1.5), ylim=(cfg["loss_floor"], 10.0))
        if not np.isfinite(metrics["train_loss"]).any():
            ax_c.set_ylim(cfg["loss_floor"], 10.0)
    ax_f.legend(fontsize=8)
    for ax in (ax_e, ax_f):
        plots.plain_log_ticks(ax, "x")
    plots.plain_log_ticks(ax_e, "y")
    plots.save(fig, png, pdf)
