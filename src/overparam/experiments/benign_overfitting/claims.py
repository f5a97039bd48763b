"""Claims of benign_overfitting: the demo (interpolates, small excess risk, far below the same
fit on an isotropic design), the decay of the benign family, the others' plateau and the
isotropic family's exact finite-n expectation. The reference demo as written
(``demo_as_written*`` rows, one run) is descriptive: no claim, kept out of the bootstrap."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ...claims import Claim, slope
from .. import CheckContext

NAME = "benign_overfitting"
AS_WRITTEN = "demo_as_written"  # family prefix of the reference demo's code path as written


def seeded(metrics: pd.DataFrame) -> pd.DataFrame:
    """The rows of seeded runs (all but the as-written demo's single run)."""
    return metrics[~metrics["family"].str.startswith(AS_WRITTEN)]


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


def values(metrics: pd.DataFrame, cfg: Mapping[str, Any]) -> dict[str, float]:
    """Every claim's value, computed from the runs (so the bootstrap can recompute it)."""
    s = summary(metrics)
    demo = metrics[metrics["family"] == "demo"]
    iso = metrics[metrics["family"] == "demo_isotropic"]
    demo_excess = float(demo["excess_risk"].mean())
    out = {
        "demo_interpolates": float(demo["train_mse"].max()),
        "demo_excess_small": demo_excess / float(demo["noise_var"].mean()),
        "demo_beats_isotropic": demo_excess / float(iso["excess_risk"].mean()),
    }
    for family, spec in cfg["families"].items():
        f = s[s["family"] == family].sort_values("n")
        last = float(f["excess_over_noise"].iloc[-1])
        if spec["benign"]:
            out[f"{family}.slope"] = slope(f["n"], f["excess_risk"])
            out[f"{family}.vanishes"] = last
        else:
            out[f"{family}.does_not_vanish"] = last
        if spec["spectrum"] == "isotropic":
            # each run against the exact expectation at its (n, p); pool all runs
            rows = metrics[metrics["family"] == family]
            ratio = float((rows["excess_risk"] / rows["theory_excess_risk_finite_n"]).mean())
            out[f"{family}.matches_hastie"] = abs(ratio - 1)
    return out


def check(metrics: pd.DataFrame, cfg: Mapping[str, Any], ctx: CheckContext) -> list[Claim]:
    from .batched import values_batch

    runs = seeded(metrics)
    est = ctx.estimates(lambda m: values(m, cfg), runs, batch=values_batch(cfg))
    s = summary(runs)
    specs: dict[str, str] = {
        k: k for k in ("demo_interpolates", "demo_excess_small", "demo_beats_isotropic")
    }
    notes = _demo_notes(metrics)
    for family, spec in cfg["families"].items():
        f = s[s["family"] == family].sort_values("n")
        at_n = f"n = {int(f['n'].iloc[-1])}"
        if spec["benign"]:
            specs[f"{family}.slope"] = "benign_slope"
            specs[f"{family}.vanishes"] = "vanishes"
            notes[f"{family}.vanishes"] = at_n
        else:
            key = f"{family}.does_not_vanish"
            specs[key] = "does_not_vanish"
            notes[key] = at_n
        if spec["spectrum"] == "isotropic":
            rows = metrics[metrics["family"] == family]
            dev = (f["excess_risk"] - f["theory_finite"]) / f["theory_finite"]
            worst = int(dev.abs().idxmax())
            limit = float(f["theory"].iloc[-1])
            specs[f"{family}.matches_hastie"] = "isotropic_matches_hastie"
            notes[f"{family}.matches_hastie"] = (
                f"{len(rows)} runs pooled; worst single n = {int(f['n'][worst])} off by "
                f"{100 * float(dev[worst]):+.1f}%; asymptotic limit {limit:.3g} vs finite-n "
                f"expectation {float(f['theory_finite'].iloc[0]):.3g} (n = {int(f['n'].iloc[0])})"
                f" .. {float(f['theory_finite'].iloc[-1]):.3g} (n = {int(f['n'].iloc[-1])})"
            )
    return ctx.claims(NAME, specs, est, notes)


def _demo_notes(metrics: pd.DataFrame) -> dict[str, str]:
    """Context for the demo claims, from the point values: the null predictor and the
    reference demo as written."""
    demo = metrics[metrics["family"] == "demo"]
    iso = metrics[metrics["family"] == "demo_isotropic"]
    notes = {}
    if len(demo) and len(iso):
        null = float(demo["test_mse"].mean() / demo["null_mse"].mean())
        notes["demo_excess_small"] = f"test MSE / null-predictor test MSE = {null:.3g}"
        notes["demo_beats_isotropic"] = (
            f"excess risk {float(demo['excess_risk'].mean()):.3g} (spiked) vs "
            f"{float(iso['excess_risk'].mean()):.3g} (isotropic)"
        )
    w = metrics[metrics["family"] == AS_WRITTEN]
    if len(w):
        r = w.iloc[0]
        notes["demo_interpolates"] = (
            f"reference demo as written (descriptive, seed {int(r['seed'])}): train MSE "
            f"{r['train_mse']:.3g}, rank X X^T {r['gram_rank']:.0f}, test MSE {r['test_mse']:.3g}"
        )
    return notes


def rows(cfg: Mapping[str, Any]) -> dict[str, str]:
    """The metrics rows each claim's value is computed from (a pandas query per claim id;
    ``overparam explain`` shows them)."""
    out = {
        "demo_interpolates": 'family == "demo"',
        "demo_excess_small": 'family == "demo"',
        "demo_beats_isotropic": 'family in ["demo", "demo_isotropic"]',
    }
    last_n = max(int(n) for n in cfg["sweep_n"])
    for family, spec in cfg["families"].items():
        f = f'family == "{family}"'
        if spec["benign"]:
            out[f"{family}.slope"] = f
            out[f"{family}.vanishes"] = f"{f} and n == {last_n}"
        else:
            out[f"{family}.does_not_vanish"] = f"{f} and n == {last_n}"
        if spec["spectrum"] == "isotropic":
            out[f"{family}.matches_hastie"] = f
    return out
