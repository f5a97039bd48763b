"""Claims of optimization_ease: per-run summaries and the monotonicity checks, on the
extension sweep and on each parametrization of the reference demo."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...claims import Claim, make_claim
from .. import CheckContext

NAME = "optimization_ease"
RUN_KEYS = ("setup", "parametrization", "width", "seed")
SWEEP_CLAIMS = ("epochs_decrease", "final_loss_decreases")


def _complete(metrics: pd.DataFrame) -> pd.DataFrame:
    """Tables written before the demo existed (and small test tables) have no setup or
    parametrization columns: all their rows are the standard-parametrization extension."""
    fill = {"setup": "extension", "parametrization": "standard"}
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
    runs = per_run(metrics, cfg["loss_threshold"])
    floor = cfg["loss_floor"]
    ext = _sweep(runs, "extension", "standard")
    out = []
    if len(ext):
        est = ctx.estimates(lambda r: sweep_values(r, floor), ext)
        notes = _notes(ext)
        out += ctx.claims(NAME, {k: k for k in SWEEP_CLAIMS}, est, notes)
    demo = cfg.get("demo")
    if not demo:
        return out
    params = list(demo["lr"])
    druns = _sweep_rows(runs, "demo")
    est = ctx.estimates(lambda r: demo_values(r, params, floor), druns)
    for p in params:
        notes = _notes(_sweep(druns, "demo", p))
        for claim in SWEEP_CLAIMS:
            key = demo_claim_key(p, claim)
            out.append(
                make_claim(
                    ctx.definition(NAME, f"demo.{key}"),
                    claim=f"demo.{key}",
                    experiment=NAME,
                    estimate=est[key],
                    figure=ctx.figure,
                    scale=ctx.scale,
                    note=f"lr={demo['lr'][p]:g}; " + notes[claim],
                )
            )
    return out


def rows(cfg: Mapping[str, Any]) -> dict[str, str]:
    """The metrics rows each claim's value is computed from (a pandas query per claim id;
    ``overparam explain`` shows them): the runs of its sweep, every recorded epoch."""
    out = {c: 'setup == "extension" and parametrization == "standard"' for c in SWEEP_CLAIMS}
    for p in (cfg.get("demo") or {}).get("lr", {}):
        for c in SWEEP_CLAIMS:
            out[f"demo.{demo_claim_key(p, c)}"] = f'setup == "demo" and parametrization == "{p}"'
    return out
