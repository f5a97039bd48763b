"""Barriers and claims of mode_connectivity.

A path's barrier (``barriers``) is computed from its rows, on the training loss and on the
test error, in two ways: the max over alpha of the value minus the chord between its
endpoints' values (``barrier_*``; ``connect.barrier``'s default) and minus the mean of the
endpoints' values (``barrier_mean_*``; Frankle et al. 2020's instability, Ainsworth et al.
2023's barrier). Every claim value is a function of the path rows, recomputed by
``ctx.estimates`` on tables whose pairs (``seed``) are resampled; the stability panel's lr
(``selected_lr``) was chosen by the job, before its runs, and is not resampled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...claims import Claim, slope
from .. import CheckContext

NAME = "mode_connectivity"
PATH = ["panel", "method", "width", "lr", "spawn_step", "seed"]


def barriers(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per path: its barriers (above the chord and above the endpoints' mean) on the
    train loss and on the test error, the largest train loss on it and the larger of its
    endpoints' train losses (vectorised: the claims' bootstrap calls this a thousand times).
    A path without both endpoints has NaN barriers. The lr_select rows (single networks, no
    paths) are left out."""
    m = metrics[metrics["panel"] != "lr_select"].sort_values([*PATH, "alpha"])
    g = m.groupby(PATH, sort=True)
    a = m["alpha"].to_numpy(dtype=float)
    ok = (g["alpha"].transform("first") == 0.0) & (g["alpha"].transform("last") == 1.0)
    cols = {}
    for col in ("train_loss", "test_err"):
        v = m[col].astype(float)
        first, last = g[col].transform("first"), g[col].transform("last")
        cols[f"barrier_{col}"] = (v - ((1 - a) * first + a * last)).where(ok)
        cols[f"barrier_mean_{col}"] = (v - (first + last) / 2).where(ok)
    ends = m["train_loss"].where(m["alpha"].isin([0.0, 1.0]))
    out = (
        m[PATH]
        .assign(
            **cols,
            max_train_loss=m["train_loss"],
            max_endpoint_loss=ends,
            selected_lr=m["selected_lr"].astype(bool),
        )
        .groupby(PATH, sort=True, dropna=False)
        .max()  # skips NaN: a path missing an endpoint is all-NaN, hence NaN
        .reset_index()
    )
    return out


def demo_values(metrics: pd.DataFrame) -> dict[str, float]:
    """The demo's own statistic, on its own pair (seed 0, straight line): the largest MSE at
    its alphas (and on the fine grid)."""
    d = metrics[(metrics["panel"] == "demo") & (metrics["seed"] == 0)]
    d = d[d["method"] == "linear"]
    at = d[d["demo_alpha"].astype(bool)]
    nan = float("nan")
    return {
        "demo_linearly_connected": float(at["train_loss"].max()) if len(at) else nan,
        "demo_fine_max": float(d["train_loss"].max()) if len(d) else nan,
    }


def demo_pair_values(b: pd.DataFrame) -> dict[str, float]:  # see batched.demo_pair_batch
    """The papers' reading of the demo, over all its pairs (``b``: the demo's ``barriers``,
    in any order): the mean straight-line barrier (train MSE above the endpoints' mean)
    before and after weight matching, and their ratio."""
    b = b[b["panel"] == "demo"].sort_values(PATH, ignore_index=True)  # barriers' own order
    by = b.groupby("method")["barrier_mean_train_loss"].mean()
    lin, al = float(by.get("linear", np.nan)), float(by.get("aligned", np.nan))
    return demo_pair_ratio(lin, al)


def demo_pair_ratio(lin: float, al: float) -> dict[str, float]:
    """The demo's pair values from its mean barriers unaligned (``lin``) and aligned."""
    return {
        "demo_independent_barrier": lin,
        "demo_aligned_barrier": al,
        "demo_aligned_shrinks": al / lin if lin > 0 else float("nan"),
    }


def width_barriers(b: pd.DataFrame) -> pd.DataFrame:
    """Mean train-loss barrier over pairs per width (rows) and method (columns)."""
    w = b[b["panel"] == "width"]
    per = w.pivot_table(
        index="width", columns="method", values="barrier_train_loss", aggfunc="mean"
    )
    return per.reindex(columns=["linear", "aligned", "bezier"])


def values(b: pd.DataFrame, cfg: Mapping[str, Any]) -> dict[str, float]:
    """Every claim value of the MNIST-1D panels and the numbers their notes report, from
    their ``barriers`` (in any order: a path's barriers are a function of its own rows, so
    resampling the paths of whole seeds is resampling their rows)."""
    nan = float("nan")
    b = b.sort_values(PATH, ignore_index=True)  # barriers' own order
    per = width_barriers(b)
    v: dict[str, float] = {}
    ratio = (per["aligned"] / per["linear"]).dropna()
    v["aligned_below_unaligned"] = float(ratio.max()) if len(ratio) else nan
    v["aligned_shrinks_with_width"] = slope(per.index.to_numpy(), per["aligned"].to_numpy())
    v["linear_slope"] = slope(per.index.to_numpy(), per["linear"].to_numpy())
    bw = int(cfg["bezier"]["width"])
    w = b[(b["panel"] == "width") & (b["width"] == bw)]
    cur, lin = w[w["method"] == "bezier"], w[w["method"] == "linear"]
    if len(cur) and len(lin):
        v["bezier_low_loss"] = float(
            cur["barrier_train_loss"].mean() / lin["barrier_train_loss"].mean()
        )
    else:
        v["bezier_low_loss"] = nan
    v["bezier_max_loss"] = float(cur["max_train_loss"].mean()) if len(cur) else nan
    v["bezier_near_endpoints"] = (
        float((cur["max_train_loss"] - cur["max_endpoint_loss"]).mean()) if len(cur) else nan
    )
    v["bezier_endpoint_loss"] = float(cur["max_endpoint_loss"].mean()) if len(cur) else nan
    v["linear_max_loss"] = float(lin["max_train_loss"].mean()) if len(lin) else nan
    v["bezier_test_error"] = float(cur["barrier_mean_test_err"].mean()) if len(cur) else nan
    v["linear_test_error"] = float(lin["barrier_mean_test_err"].mean()) if len(lin) else nan
    tol = float(cfg["claims_setup"]["stable_tolerance"])
    new = stability_barriers(b, selected=True)
    v["unstable_at_init"] = float(new.get(0, nan))
    v["unstable_at_init_chord"] = float(
        stability_barriers(b, selected=True, col="barrier_test_err").get(0, nan)
    )
    old = stability_barriers(b, lr=float(cfg["train"]["lr"]), col="barrier_test_err")
    v["unstable_at_init_old"] = float(old.get(0, nan))
    onset = stable_onset(new, tol, total_steps(cfg))
    v["stable_onset_step"] = onset
    v["stable_after_early_point"] = onset / total_steps(cfg)
    v["stable_last"] = float(new.iloc[-1]) if len(new) else nan
    return v


def total_steps(cfg: Mapping[str, Any]) -> int:
    """Optimizer steps of the full MNIST-1D schedule (``train.epochs`` epochs)."""
    d, t = cfg["data"], cfg["train"]
    n = int(d["num_samples"] * d["train_split"])
    return int(cfg["train"]["epochs"]) * -(-n // min(int(t["batch_size"]), n))


def stable_onset(s: pd.Series, tol: float, end: int) -> float:
    """The first spawn step from which the copies stay stable: the smallest k of ``s`` (mean
    instability per spawn step) with ``s < tol`` there and at every later step. ``end`` (the
    last step of training, where two copies are one network) when the last spawn step is not
    stable; NaN without any spawn step."""
    if not len(s):
        return float("nan")
    bad = s.index[~(s.to_numpy() < tol)]
    later = s.index[s.index > bad.max()] if len(bad) else s.index
    return float(later.min()) if len(later) else float(end)


def stability_barriers(
    b: pd.DataFrame,
    selected: bool | None = None,
    lr: float | None = None,
    col: str = "barrier_mean_test_err",
) -> pd.Series:
    """Mean test-error barrier over pairs per spawn step, of the rows at the chosen lr
    (``selected``) or at ``lr``; ``col``: Frankle et al.'s instability (above the endpoints'
    mean, the default) or the height above the chord."""
    s = b[b["panel"] == "stability"]
    if selected is not None:
        s = s[s["selected_lr"] == selected] if "selected_lr" in s else s.iloc[:0]
    if lr is not None:
        s = s[np.isclose(s["lr"], lr)]
    return s.groupby("spawn_step")[col].mean()


CLAIMS = (
    "demo_linearly_connected",
    "demo_independent_barrier",
    "demo_aligned_shrinks",
    "aligned_below_unaligned",
    "aligned_shrinks_with_width",
    "bezier_low_loss",
    "bezier_near_endpoints",
    "bezier_test_error",
    "unstable_at_init",
    "stable_after_early_point",
)


def chosen_lr(metrics: pd.DataFrame) -> float:
    """The lr the stability job chose (its ``selected_lr`` rows), NaN without any."""
    sel = metrics[(metrics["panel"] == "lr_select") & metrics["selected_lr"].astype(bool)]
    return float(sel["lr"].iloc[0]) if len(sel) else float("nan")


def _ci(e) -> str:
    return f"{e.value:.3g} [{e.ci_low:.3g}, {e.ci_high:.3g}]"


def _notes(est: Mapping[str, Any], metrics: pd.DataFrame, cfg: Mapping[str, Any]) -> dict:
    v = {k: e.value for k, e in est.items()}
    b = barriers(metrics)
    per = width_barriers(b)
    table = "; ".join(f"h={h}: {r['linear']:.3g} -> {r['aligned']:.3g}" for h, r in per.iterrows())
    w = metrics[metrics["panel"] == "width"]
    diff = w["perm_max_abs_diff"].max()
    lr = chosen_lr(metrics)
    sel = metrics[metrics["panel"] == "lr_select"]
    grid = ", ".join(f"{x:g}: {e:.3g}" for x, e in sel.groupby("lr")["val_err"].mean().items())
    new = stability_barriers(b, selected=True)
    chord = stability_barriers(b, selected=True, col="barrier_test_err")
    old_lr = float(cfg["train"]["lr"])
    old = stability_barriers(b, lr=old_lr, col="barrier_test_err")
    steps = ", ".join(f"k={k}: {x:.3g}" for k, x in new.items())
    chord_s = ", ".join(f"k={k}: {x:.3g}" for k, x in chord.items())
    old_s = ", ".join(f"k={k}: {x:.3g}" for k, x in old.items())
    onset = v["stable_onset_step"]
    end = total_steps(cfg)
    onset_s = (
        "none of the spawn steps (onset set to the end of training)"
        if onset == end
        else f"k = {onset:.0f} of {end} steps"
    )
    bw = cfg["bezier"]["width"]
    demo = metrics[metrics["panel"] == "demo"]
    return {
        "demo_linearly_connected": f"max MSE at the demo's alphas {v['demo_linearly_connected']:.3g}"
        f" (fine grid: {v['demo_fine_max']:.3g}); the demo prints 'a loss barrier exists' above "
        "0.1, yet prints that separate runs end in one basin whatever it measured",
        "demo_independent_barrier": f"{demo['seed'].nunique()} pairs: mean train-MSE barrier "
        f"{v['demo_independent_barrier']:.3g} on the straight line, "
        f"{v['demo_aligned_barrier']:.3g} after weight matching",
        "demo_aligned_shrinks": f"mean train-MSE barrier {v['demo_independent_barrier']:.3g} -> "
        f"{v['demo_aligned_barrier']:.3g} after weight matching; permuted networks' max |output "
        f"change| {demo['perm_max_abs_diff'].max():.2g}",
        "aligned_below_unaligned": f"mean train-loss barrier unaligned -> aligned per width: {table};"
        f" permuted networks' max |output change| {diff:.2g}",
        "aligned_shrinks_with_width": f"aligned barriers {table}; unaligned log-log slope "
        f"{v['linear_slope']:.3g}",
        "bezier_low_loss": f"width {bw}: max train loss on the curve "
        f"{v['bezier_max_loss']:.3g} vs endpoints {v['bezier_endpoint_loss']:.3g} vs linear path "
        f"{v['linear_max_loss']:.3g}",
        "bezier_near_endpoints": f"width {bw}: max train loss on the curve "
        f"{v['bezier_max_loss']:.3g} vs the larger endpoint's {v['bezier_endpoint_loss']:.3g}",
        "bezier_test_error": f"width {bw}: max test error above the endpoints' mean: curve "
        f"{v['bezier_test_error']:.3g}, straight line {v['linear_test_error']:.3g}",
        "unstable_at_init": f"chosen lr {lr:g} (mean validation error per lr: {grid}); "
        f"instability per spawn step: {steps}; above the chord: {chord_s}; former protocol "
        f"(lr {old_lr:g}, chord): k = 0 {_ci(est['unstable_at_init_old'])}, per step {old_s}",
        "stable_after_early_point": f"chosen lr {lr:g}; instability per spawn step: {steps}; "
        f"stable (below {cfg['claims_setup']['stable_tolerance']:g}) from {onset_s}; at the "
        f"last spawn step {v['stable_last']:.3g}",
    }


def check(metrics: pd.DataFrame, cfg: Mapping[str, Any], ctx: CheckContext) -> list[Claim]:
    # the demo's own pair: its own estimate (one seed, no interval); the demo's pairs and the
    # MNIST-1D panels' pairs are resampled, each panel on its own; the lr_select rows only
    # say which lr the stability rows used (chosen once, before them: not resampled)
    is_demo = metrics["panel"] == "demo"
    mnist = barriers(metrics[~is_demo & (metrics["panel"] != "lr_select")])
    est = ctx.estimates(lambda b: values(b, cfg), mnist)
    own = metrics[is_demo & (metrics["seed"] == 0)]
    demo = ctx.estimates(demo_values, own)
    from .batched import DEMO_BATCH

    est.update(ctx.estimates(demo_pair_values, barriers(metrics[is_demo]), batch=DEMO_BATCH))
    est["demo_linearly_connected"] = demo["demo_linearly_connected"]
    est["demo_fine_max"] = demo["demo_fine_max"]
    notes = _notes(est, metrics, cfg)
    return ctx.claims(NAME, {c: c for c in CLAIMS}, est, notes)


def rows(cfg: Mapping[str, Any]) -> dict[str, str]:
    """The metrics rows each claim's value is computed from (a pandas query per claim id;
    ``overparam explain`` shows them). Barriers read whole paths, so the queries select
    paths, not points (the demo's claim reads only the demo's own alphas)."""
    bezier = f'panel == "width" and width == {int(cfg["bezier"]["width"])}'
    return {
        "demo_linearly_connected": 'panel == "demo" and seed == 0 and method == "linear" and '
        "demo_alpha",
        "demo_independent_barrier": 'panel == "demo" and method == "linear"',
        "demo_aligned_shrinks": 'panel == "demo"',
        "aligned_below_unaligned": 'panel == "width" and method in ["linear", "aligned"]',
        "aligned_shrinks_with_width": 'panel == "width" and method == "aligned"',
        "bezier_low_loss": f'{bezier} and method in ["linear", "bezier"]',
        "bezier_near_endpoints": f'{bezier} and method == "bezier"',
        "bezier_test_error": f'{bezier} and method == "bezier"',
        "unstable_at_init": 'panel == "stability" and selected_lr and spawn_step == 0',
        "stable_after_early_point": 'panel == "stability" and selected_lr',
    }
