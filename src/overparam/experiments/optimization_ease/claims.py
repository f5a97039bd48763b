"""Claims of optimization_ease: per-run summaries and the monotonicity checks, on the
extension sweep and on each parametrization of the reference demo; for the NTK runs, how far
each network's training is from its infinite-width kernel limit (``kernel_values``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...claims import Claim, slope
from .. import CheckContext

NAME = "optimization_ease"
RUN_KEYS = ("setup", "parametrization", "width", "seed")
SWEEP_CLAIMS = ("epochs_decrease", "final_loss_decreases")
# the NTK runs against their kernel limit (claims.yaml: demo.<key>)
KERNEL_CLAIMS = (
    "ntk_time_gap_widest",
    "ntk_time_gap_rate",
    "ntk_curve_gap_rate",
    "ntk_median_time_vs_limit",
)
KERNEL_COLUMNS = ("kernel_loss", "limit_loss")


def _complete(metrics: pd.DataFrame) -> pd.DataFrame:
    """Tables written before the demo existed (and small test tables) have no setup or
    parametrization columns: all their rows are the standard-parametrization extension."""
    fill: dict[str, Any] = {"setup": "extension", "parametrization": "standard"}
    fill |= dict.fromkeys(KERNEL_COLUMNS, np.nan)  # tables from before the kernel limit
    missing = {k: v for k, v in fill.items() if k not in metrics.columns}
    return metrics.assign(**missing) if missing else metrics


def per_run(metrics: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """One row per (setup, parametrization, width, seed): final train loss (the last
    recorded epoch; NaN if diverged), first recorded epoch below ``threshold`` (NaN if never
    reached within the budget), whether it diverged and the budget (last recorded epoch)."""
    m = _complete(metrics).sort_values([*RUN_KEYS, "epoch"])
    keys = list(RUN_KEYS)
    g = m.groupby(keys, sort=True)
    out = g.agg(max_epoch=("epoch", "max"), diverged=("diverged", "any"))
    out["final_train_loss"] = m.drop_duplicates(keys, keep="last").set_index(keys)["train_loss"]
    below = m[m["train_loss"] < threshold].groupby(keys)["epoch"].min()
    out["epochs_to_threshold"] = below.reindex(out.index).astype(float)
    out["max_epoch"] = out["max_epoch"].astype(int)
    out["diverged"] = out["diverged"].astype(bool)
    return out.reset_index()


def per_width(runs: pd.DataFrame, threshold: float | None = None) -> pd.DataFrame:
    """Medians over seeds per width of one sweep (``runs`` from ``per_run``, or a metrics
    table with ``threshold``). A run that never reached the threshold counts as 'later than
    the budget' (epochs + 1) in the median, so a width where most seeds fail has a censored
    median."""
    r = per_run(runs, threshold) if threshold is not None else runs
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


def sweep_values(runs: pd.DataFrame, floor: float) -> dict[str, float]:
    """Both claims of one sweep (``per_run`` rows of one setup and parametrization):
    violations of strict decrease of the medians over seeds. A diverged run has no loss, so a
    median that silently skipped it would compare widths on different seeds: if any run
    diverged, both values are NaN (the claims do not hold)."""
    if runs["diverged"].any() or runs.empty:
        return dict.fromkeys(SWEEP_CLAIMS, np.nan)
    # the medians of per_width, without its counts (this runs once per bootstrap resample)
    w = (
        runs.assign(median_epochs=runs["epochs_to_threshold"].fillna(runs["max_epoch"] + 1))
        .rename(columns={"final_train_loss": "median_final_loss"})
        .groupby("width", sort=True)[["median_epochs", "median_final_loss"]]
        .median()
    )
    return {
        "epochs_decrease": _violations(w["median_epochs"]),
        "final_loss_decreases": _violations(w["median_final_loss"], floor),
    }


def _sweep_rows(runs: pd.DataFrame, setup: str) -> pd.DataFrame:
    return runs[runs["setup"] == setup]


def _sweep(runs: pd.DataFrame, setup: str, param: str) -> pd.DataFrame:
    return runs[(runs["setup"] == setup) & (runs["parametrization"] == param)]


def demo_claim_key(param: str, claim: str) -> str:
    """Config key (under demo.claims) of a demo claim: ``ntk_<claim>`` for the NTK runs."""
    return claim if param == "standard" else f"{param}_{claim}"


def demo_values(runs: pd.DataFrame, params, floor: float) -> dict[str, float]:
    """Every demo claim (keys ``demo_claim_key``) from the demo's per-run rows."""
    out: dict[str, float] = {}
    for p in params:
        for claim, v in sweep_values(_sweep(runs, "demo", p), floor).items():
            out[demo_claim_key(p, claim)] = v
    return out


def diverged_runs(metrics: pd.DataFrame) -> list[tuple[int, int]]:
    """(width, seed) of every run marked diverged (of the table given: filter a setup first)."""
    d = metrics.groupby(["width", "seed"])["diverged"].any()
    return [(int(w), int(s)) for (w, s), v in d.items() if v]


def _notes(runs: pd.DataFrame) -> dict[str, str]:
    """Per-claim notes of one sweep: the medians per width and the diverged runs."""
    w = per_width(runs)
    div = runs[runs["diverged"]]
    div_note = (
        f"{len(div)} of {len(runs)} runs diverged (width, seed): "
        + ", ".join(f"({a}, {b})" for a, b in zip(div["width"], div["seed"]))
        + "; "
        if len(div)
        else ""
    )
    note_e = "; ".join(
        f"w={r.width}: {r.median_epochs:g}"
        + (" (censored)" if r.median_epochs > r.budget else "")
        + f" ({r.reached}/{r.runs} reached)"
        for r in w.itertuples()
    )
    note_l = "; ".join(f"w={r.width}: {r.median_final_loss:.3g}" for r in w.itertuples())
    return {
        "epochs_decrease": div_note + "median epochs: " + note_e,
        "final_loss_decreases": div_note + "median final loss: " + note_l,
    }


def check(metrics: pd.DataFrame, cfg: Mapping[str, Any], ctx: CheckContext) -> list[Claim]:
    """The extension's two claims, then each demo parametrization's two. Intervals resample
    the seeds of the extension and of the demo separately (they are different seed sets);
    within the demo, standard and NTK runs of a seed share its data and are resampled
    together."""
    from .batched import KERNEL_BATCH, sweeps_batch

    runs = per_run(metrics, cfg["loss_threshold"])
    floor = cfg["loss_floor"]
    ext = _sweep(runs, "extension", "standard")
    out = []
    if len(ext):
        batch = sweeps_batch("extension", ["standard"], floor, demo=False)
        est = ctx.estimates(lambda r: sweep_values(r, floor), ext, batch=batch)
        notes = _notes(ext)
        out += ctx.claims(NAME, {k: k for k in SWEEP_CLAIMS}, est, notes)
    demo = cfg.get("demo")
    if not demo:
        return out
    params = list(demo["lr"])
    druns = _sweep_rows(runs, "demo")
    batch = sweeps_batch("demo", params, floor, demo=True)
    est = ctx.estimates(lambda r: demo_values(r, params, floor), druns, batch=batch)
    for p in params:
        notes = _notes(_sweep(druns, "demo", p))
        keys = {f"demo.{demo_claim_key(p, c)}": c for c in SWEEP_CLAIMS}
        out += ctx.claims(
            NAME,
            {k: k for k in keys},
            {k: est[k.removeprefix("demo.")] for k in keys},
            {k: f"lr={demo['lr'][p]:g}; " + notes[c] for k, c in keys.items()},
        )
    if "ntk" in params:
        kr = kernel_per_run(metrics, cfg["loss_threshold"])
        est = ctx.estimates(kernel_values, kr, batch=KERNEL_BATCH)
        note = f"lr={demo['lr']['ntk']:g}; " + (_kernel_note(kr) if len(kr) else "no NTK runs")
        ids = [f"demo.{k}" for k in KERNEL_CLAIMS]
        out += ctx.claims(
            NAME,
            {k: k for k in ids},
            {f"demo.{k}": est[k] for k in KERNEL_CLAIMS},
            dict.fromkeys(ids, note),
        )
    return out


def _first_below(m: pd.DataFrame, col: str, threshold: float, keys: list[str]) -> pd.Series:
    return m[m[col] < threshold].groupby(keys)["epoch"].min()


def kernel_per_run(metrics: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """One row per NTK demo run (width, seed) against its kernel limit: ``t_net``, the first
    epoch with train MSE < ``threshold`` (never: budget + 1); ``t_kernel`` and ``t_limit``, the
    same for the kernel GD from the run's own initial outputs and from the infinite-width
    network's draw (NaN if never); ``time_gap`` = |t_net - t_kernel| / t_kernel, floored at
    half an epoch (0.5 / t_kernel); ``curve_gap`` = max over epochs of |sqrt(train MSE) -
    sqrt(kernel MSE)|; ``diverged``; ``lr_over_critical`` where recorded."""
    m = _complete(metrics)
    m = m[(m["setup"] == "demo") & (m["parametrization"] == "ntk")].sort_values(
        ["width", "seed", "epoch"]
    )
    keys = ["width", "seed"]
    g = m.groupby(keys, sort=True)
    out = g.agg(max_epoch=("epoch", "max"), diverged=("diverged", "any"))
    if "lr_over_critical" in m.columns:
        out["lr_over_critical"] = g["lr_over_critical"].max()
    t_net = _first_below(m, "train_loss", threshold, keys).reindex(out.index)
    out["t_net"] = t_net.astype(float).fillna(out["max_epoch"] + 1)
    for col, name in (("kernel_loss", "t_kernel"), ("limit_loss", "t_limit")):
        out[name] = _first_below(m, col, threshold, keys).reindex(out.index).astype(float)
    gap = (out["t_net"] - out["t_kernel"]).abs() / out["t_kernel"]
    out["time_gap"] = np.maximum(gap, 0.5 / out["t_kernel"])
    diff = (np.sqrt(m["train_loss"]) - np.sqrt(m["kernel_loss"])).abs()
    out["curve_gap"] = diff.groupby([m["width"], m["seed"]]).max()  # NaN: no kernel column
    out.loc[out["diverged"], ["t_net", "time_gap", "curve_gap"]] = np.nan
    return out.reset_index()


def kernel_values(kr: pd.DataFrame) -> dict[str, float]:
    """The NTK runs' kernel-limit claims from ``kernel_per_run`` rows (keys KERNEL_CLAIMS):
    the widest width's median time gap, the log-log slopes over width of the median time gap
    and of the median curve gap, and the unpaired |median t_net - median t_limit| / median
    t_limit at the widest width. Any diverged run makes all of them NaN."""
    if kr.empty or kr["diverged"].any():
        return dict.fromkeys(KERNEL_CLAIMS, np.nan)
    w = kr.groupby("width", sort=True)[["time_gap", "curve_gap", "t_net", "t_limit"]].median()
    widest = w.iloc[-1]
    return {
        "ntk_time_gap_widest": float(widest["time_gap"]),
        "ntk_time_gap_rate": slope(w.index, w["time_gap"], strict=True),
        "ntk_curve_gap_rate": slope(w.index, w["curve_gap"], strict=True),
        "ntk_median_time_vs_limit": float(
            abs(widest["t_net"] - widest["t_limit"]) / widest["t_limit"]
        ),
    }


def _kernel_note(kr: pd.DataFrame) -> str:
    w = kr.groupby("width", sort=True).median(numeric_only=True)
    parts = [
        f"w={i}: t_net {r.t_net:g}, t_kernel {r.t_kernel:g}, gap {r.time_gap:.3g}, "
        f"curve gap {r.curve_gap:.3g}"
        for i, r in w.iterrows()
    ]
    lim = kr.groupby("seed")["t_limit"].first().median()
    note = "medians over seeds: " + "; ".join(parts) + f"; infinite-width t_limit {lim:g}"
    if "lr_over_critical" in kr.columns and kr["lr_over_critical"].notna().any():
        note += f"; lr / eta_critical {kr['lr_over_critical'].min():.3g}-"
        note += f"{kr['lr_over_critical'].max():.3g}"
    div = kr[kr["diverged"]]
    if len(div):
        note = f"{len(div)} of {len(kr)} runs diverged; " + note
    return note


def rows(cfg: Mapping[str, Any]) -> dict[str, str]:
    """The metrics rows each claim's value is computed from (a pandas query per claim id;
    ``overparam explain`` shows them): the runs of its sweep, every recorded epoch."""
    out = {c: 'setup == "extension" and parametrization == "standard"' for c in SWEEP_CLAIMS}
    for p in (cfg.get("demo") or {}).get("lr", {}):
        for c in SWEEP_CLAIMS:
            out[f"demo.{demo_claim_key(p, c)}"] = f'setup == "demo" and parametrization == "{p}"'
        if p == "ntk":
            for c in KERNEL_CLAIMS:
                out[f"demo.{c}"] = 'setup == "demo" and parametrization == "ntk"'
    return out
