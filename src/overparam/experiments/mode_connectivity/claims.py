"""Barriers and claims of mode_connectivity.

A path's barrier (``barriers``) is computed from its rows: max over alpha of the value minus
the chord between its endpoints' values (Frankle et al. 2020; ``connect.barrier``'s default),
on the training loss and on the test error. Every claim value is a function of the path rows,
recomputed by ``ctx.estimates`` on tables whose pairs (``seed``) are resampled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...claims import Claim
from .. import CheckContext

NAME = "mode_connectivity"
PATH = ["panel", "method", "width", "spawn_step", "seed"]


def barriers(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per path: its barrier on the train loss and on the test error, the largest
    train loss on it and the larger of its endpoints' train losses (vectorised: the claims'
    bootstrap calls this a thousand times). A path without both endpoints has NaN barriers."""
    m = metrics.sort_values([*PATH, "alpha"])
    g = m.groupby(PATH, sort=True)
    a = m["alpha"].to_numpy(dtype=float)
    ok = (g["alpha"].transform("first") == 0.0) & (g["alpha"].transform("last") == 1.0)
    cols = {}
    for col in ("train_loss", "test_err"):
        v = m[col].astype(float)
        first, last = g[col].transform("first"), g[col].transform("last")
        cols[f"barrier_{col}"] = (v - ((1 - a) * first + a * last)).where(ok)
    ends = m["train_loss"].where(m["alpha"].isin([0.0, 1.0]))
    out = (
        m[PATH]
        .assign(**cols, max_train_loss=m["train_loss"], max_endpoint_loss=ends)
        .groupby(PATH, sort=True)
        .max()  # skips NaN: a path missing an endpoint is all-NaN, hence NaN
        .reset_index()
    )
    return out


def _slope(x, y) -> float:
    ok = np.isfinite(y) & (np.asarray(y) > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(np.asarray(x)[ok]), np.log(np.asarray(y)[ok]), 1)[0])


def demo_values(metrics: pd.DataFrame) -> dict[str, float]:
    """The demo's own statistic: the largest MSE at its alphas (and on the fine grid)."""
    d = metrics[metrics["panel"] == "demo"]
    at = d[d["demo_alpha"].astype(bool)]
    nan = float("nan")
    return {
        "demo_linearly_connected": float(at["train_loss"].max()) if len(at) else nan,
        "demo_fine_max": float(d["train_loss"].max()) if len(d) else nan,
    }


def width_barriers(b: pd.DataFrame) -> pd.DataFrame:
    """Mean train-loss barrier over pairs per width (rows) and method (columns)."""
    w = b[b["panel"] == "width"]
    per = w.pivot_table(index="width", columns="method", values="barrier_train_loss",
                        aggfunc="mean")  # fmt: skip
    return per.reindex(columns=["linear", "aligned", "bezier"])


def values(metrics: pd.DataFrame, cfg: Mapping[str, Any]) -> dict[str, float]:
    """Every claim value of the MNIST-1D panels and the numbers their notes report."""
    nan = float("nan")
    b = barriers(metrics)
    per = width_barriers(b)
    v: dict[str, float] = {}
    ratio = (per["aligned"] / per["linear"]).dropna()
    v["aligned_below_unaligned"] = float(ratio.max()) if len(ratio) else nan
    v["aligned_shrinks_with_width"] = _slope(per.index.to_numpy(), per["aligned"].to_numpy())
    v["linear_slope"] = _slope(per.index.to_numpy(), per["linear"].to_numpy())
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
    s = stability_barriers(b)
    tol = float(cfg["claims_setup"]["stable_tolerance"])
    v["unstable_at_init"] = float(s.get(0, nan))
    v["stable_late"] = float(s.iloc[-1]) if len(s) else nan
    stable = s[s < tol]
    v["first_stable_step"] = float(stable.index.min()) if len(stable) else nan
    return v


def stability_barriers(b: pd.DataFrame) -> pd.Series:
    """Mean test-error barrier over pairs per spawn step."""
    return b[b["panel"] == "stability"].groupby("spawn_step")["barrier_test_err"].mean()


CLAIMS = (
    "demo_linearly_connected",
    "aligned_below_unaligned",
    "aligned_shrinks_with_width",
    "bezier_low_loss",
    "bezier_near_endpoints",
    "unstable_at_init",
    "stable_late",
)


def _notes(v: Mapping[str, float], metrics: pd.DataFrame, cfg: Mapping[str, Any]) -> dict:
    b = barriers(metrics)
    per = width_barriers(b)
    table = "; ".join(f"h={h}: {r['linear']:.3g} -> {r['aligned']:.3g}" for h, r in per.iterrows())
    diff = metrics["perm_max_abs_diff"].max()
    s = stability_barriers(b)
    steps = ", ".join(f"k={k}: {x:.3g}" for k, x in s.items())
    first = v["first_stable_step"]
    first_s = "none" if np.isnan(first) else f"k = {first:.0f}"
    return {
        "demo_linearly_connected": f"max MSE at the demo's alphas {v['demo_linearly_connected']:.3g}"
        f" (fine grid: {v['demo_fine_max']:.3g}); the demo prints 'a loss barrier exists' above 0.1",
        "aligned_below_unaligned": f"mean train-loss barrier unaligned -> aligned per width: {table};"
        f" permuted networks' max |output change| {diff:.2g}",
        "aligned_shrinks_with_width": f"aligned barriers {table}; unaligned log-log slope "
        f"{v['linear_slope']:.3g}",
        "bezier_low_loss": f"width {cfg['bezier']['width']}: max train loss on the curve "
        f"{v['bezier_max_loss']:.3g} vs endpoints {v['bezier_endpoint_loss']:.3g} vs linear path "
        f"{v['linear_max_loss']:.3g}",
        "bezier_near_endpoints": f"width {cfg['bezier']['width']}: max train loss on the curve "
        f"{v['bezier_max_loss']:.3g} vs the larger endpoint's {v['bezier_endpoint_loss']:.3g}",
        "unstable_at_init": f"mean test-error barrier per spawn step: {steps}",
        "stable_late": f"mean test-error barrier per spawn step: {steps}; first below "
        f"{cfg['claims_setup']['stable_tolerance']:g}: {first_s}",
    }


def check(metrics: pd.DataFrame, cfg: Mapping[str, Any], ctx: CheckContext) -> list[Claim]:
    # the demo is one pair: its own estimate (one seed, no interval); the other claims
    # resample the pairs of the MNIST-1D panels
    is_demo = metrics["panel"] == "demo"
    est = ctx.estimates(lambda m: values(m, cfg), metrics[~is_demo])
    demo = ctx.estimates(demo_values, metrics[is_demo])
    est["demo_linearly_connected"] = demo["demo_linearly_connected"]
    v = {k: e.value for k, e in est.items()}
    v["demo_fine_max"] = demo["demo_fine_max"].value
    notes = _notes(v, metrics, cfg)
    return ctx.claims(NAME, {c: c for c in CLAIMS}, est, notes)


def rows(cfg: Mapping[str, Any]) -> dict[str, str]:
    """The metrics rows each claim's value is computed from (a pandas query per claim id;
    ``overparam explain`` shows them). Barriers read whole paths, so the queries select
    paths, not points (the demo's claim reads only the demo's own alphas)."""
    bezier = f'panel == "width" and width == {int(cfg["bezier"]["width"])}'
    return {
        "demo_linearly_connected": 'panel == "demo" and demo_alpha',
        "aligned_below_unaligned": 'panel == "width" and method in ["linear", "aligned"]',
        "aligned_shrinks_with_width": 'panel == "width" and method == "aligned"',
        "bezier_low_loss": f'{bezier} and method in ["linear", "bezier"]',
        "bezier_near_endpoints": f'{bezier} and method == "bezier"',
        "unstable_at_init": 'panel == "stability" and spawn_step == 0',
        # the other panels' spawn_step is -1: the table's largest is the stability panel's
        "stable_late": 'panel == "stability" and spawn_step == spawn_step.max()',
    }
