"""Claims of benign_overfitting: the demo, the decay of the benign family, the others'
plateau and Hastie et al.'s limit."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...claims import Claim, make_claim
from .. import CheckContext

NAME = "benign_overfitting"


def summary(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over seeds per (family, n), with excess risk in units of the noise variance."""
    m = metrics.assign(excess_over_noise=metrics["excess_risk"] / metrics["noise_var"])
    g = m.groupby(["family", "n"], sort=True)
    out = g.agg(
        excess_over_noise=("excess_over_noise", "mean"),
        excess_over_noise_sd=("excess_over_noise", "std"),
        excess_risk=("excess_risk", "mean"),
        noise_var=("noise_var", "first"),
        theory=("theory_excess_risk", "first"),
        theory_finite=("theory_excess_risk_finite_n", "first"),
        k_star_over_n=("k_star_over_n", "first"),
        n_over_R_k_star=("n_over_R_k_star", "first"),
        r0_over_n=("r0_over_n", "first"),
    )
    return out.reset_index()


def loglog_slope(n, y) -> float:
    n, y = np.asarray(n, float), np.asarray(y, float)
    ok = np.isfinite(y) & (y > 0)
    if ok.sum() < 2:
        return math.nan
    return float(np.polyfit(np.log(n[ok]), np.log(y[ok]), 1)[0])


def values(metrics: pd.DataFrame, cfg: Mapping[str, Any]) -> dict[str, float]:
    """Every claim's value, computed from the runs (so the bootstrap can recompute it)."""
    s = summary(metrics)
    demo = metrics[metrics["family"] == "demo"]
    out = {
        "demo_interpolates": float(demo["train_mse"].max()),
        "demo_beats_null": float(demo["test_mse"].mean() / demo["null_mse"].mean()),
    }
    for family, spec in cfg["families"].items():
        f = s[s["family"] == family].sort_values("n")
        last = float(f["excess_over_noise"].iloc[-1])
        if spec["benign"]:
            out[f"{family}.slope"] = loglog_slope(f["n"], f["excess_risk"])
            out[f"{family}.vanishes"] = last
        else:
            out[f"{family}.does_not_vanish"] = last
        if spec["spectrum"] == "isotropic":
            # theory is the same constant at every n (gamma fixed): pool all runs
            rows = metrics[metrics["family"] == family]
            ratio = float((rows["excess_risk"] / rows["theory_excess_risk"]).mean())
            out[f"{family}.matches_hastie"] = abs(ratio - 1)
    return out


def check(metrics: pd.DataFrame, cfg: Mapping[str, Any], ctx: CheckContext) -> list[Claim]:
    c = cfg["claims"]
    est = ctx.estimates(lambda m: values(m, cfg), metrics)
    s = summary(metrics)
    frac = c["vanishing_fraction"]
    specs = {"demo_interpolates": c["demo_interpolates"], "demo_beats_null": c["demo_beats_null"]}
    notes = {}
    for family, spec in cfg["families"].items():
        f = s[s["family"] == family].sort_values("n")
        at_n = f"n = {int(f['n'].iloc[-1])}"
        if spec["benign"]:
            specs[f"{family}.slope"] = c["benign_slope"]
            specs[f"{family}.vanishes"] = frac
            notes[f"{family}.vanishes"] = at_n
        else:
            key = f"{family}.does_not_vanish"
            specs[key] = {**frac, "comparison": ">=", "statement": frac["statement_not_benign"]}
            notes[key] = at_n
        if spec["spectrum"] == "isotropic":
            rows = metrics[metrics["family"] == family]
            worst = float(((f["excess_risk"] - f["theory"]).abs() / f["theory"]).max())
            specs[f"{family}.matches_hastie"] = c["isotropic_matches_hastie"]
            notes[f"{family}.matches_hastie"] = (
                f"{len(rows)} runs pooled; worst single n off by {100 * worst:.1f}%"
            )
    return [
        make_claim(
            spec,
            claim=key,
            experiment=NAME,
            estimate=est[key],
            figure=ctx.figure,
            scale=ctx.scale,
            note=notes.get(key, ""),
        )
        for key, spec in specs.items()
    ]
