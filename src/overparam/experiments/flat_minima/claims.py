"""Trends against batch size and the claims of flat_minima.

Only runs that reached the target training loss count (solutions compared at the same
loss); the notes say how many did. Per rule and batch size the quantities are averaged over
seeds, and a trend is the least-squares slope over the sweep: of log top eigenvalue and log
eps-sharpness against log batch size, of test accuracy against log2 batch size (accuracy per
doubling). Whether the batch-size effect follows lr / B is the ratio of the scaled rule's
slope to the fixed rule's (undefined, NaN, when the fixed rule shows no effect in the claimed
direction). Every value is recomputed by ``ctx.estimates`` on tables with resampled seeds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...claims import Claim, Estimate
from .. import CheckContext

NAME = "flat_minima"
CLAIMS = (
    "fixed_sharper_with_batch",
    "fixed_eps_sharper_with_batch",
    "fixed_worse_test_with_batch",
    "sharpness_follows_lr_over_b",
    "accuracy_follows_lr_over_b",
    "below_stability_limit",
)
RUN_QUANTITIES = ("reached", "steps", "train_loss", "test_acc", "top_eig", "stability_limit")


def per_run(metrics: pd.DataFrame, eps: float) -> pd.DataFrame:
    """One row per (rule, batch_size, seed) with the run's quantities as columns and
    ``eps_sharpness`` at ``eps``."""
    q = metrics["quantity"]
    keep = q.isin(RUN_QUANTITIES) | ((q == "eps_sharpness") & np.isclose(metrics["x"], eps))
    m = metrics.loc[keep, ["rule", "batch_size", "seed", "quantity", "value"]]
    # one row per (run, quantity): resampled tables relabel their seeds 0..k-1
    wide = m.groupby(["rule", "batch_size", "seed", "quantity"], sort=True)["value"].first()
    wide = wide.unstack("quantity")
    return wide.reindex(columns=[*RUN_QUANTITIES, "eps_sharpness"])


def means(metrics: pd.DataFrame, eps: float) -> pd.DataFrame:
    """Means over the seeds that reached the target, per (rule, batch_size)."""
    w = per_run(metrics, eps)
    w = w[w["reached"] == 1]
    return w.groupby(["rule", "batch_size"]).mean()


def slope(x, y, log_y: bool = False) -> float:
    """Least-squares slope of y (log y) on x over the finite (positive) points; NaN if < 2."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(y) & ((y > 0) if log_y else True)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(x[ok], np.log(y[ok]) if log_y else y[ok], 1)[0])


def trends(mean: pd.DataFrame) -> dict[str, float]:
    """'<rule>.<eig|eps|acc>' slopes of the per-batch-size means."""
    out = {}
    for rule in ("fixed", "scaled"):
        if rule not in mean.index.get_level_values("rule"):
            out.update({f"{rule}.{k}": float("nan") for k in ("eig", "eps", "acc")})
            continue
        r = mean.loc[rule]
        lb = np.log2(r.index.to_numpy(dtype=float))
        out[f"{rule}.eig"] = slope(lb * np.log(2), r["top_eig"], log_y=True)
        out[f"{rule}.eps"] = slope(lb * np.log(2), r["eps_sharpness"], log_y=True)
        out[f"{rule}.acc"] = slope(lb, r["test_acc"])
    return out


def _ratio(scaled: float, fixed: float, sign: int) -> float:
    """|scaled| / |fixed| when the fixed-rule slope has the claimed sign, else NaN."""
    if not np.isfinite(fixed) or np.sign(fixed) != sign:
        return float("nan")
    return abs(scaled) / abs(fixed)


def values(metrics: pd.DataFrame, eps: float) -> dict[str, float]:
    mean = means(metrics, eps)
    t = trends(mean)
    v = {f"slope.{k}": x for k, x in t.items()}
    v["fixed_sharper_with_batch"] = t["fixed.eig"]
    v["fixed_eps_sharper_with_batch"] = t["fixed.eps"]
    v["fixed_worse_test_with_batch"] = t["fixed.acc"]
    v["sharpness_follows_lr_over_b"] = _ratio(t["scaled.eig"], t["fixed.eig"], +1)
    v["accuracy_follows_lr_over_b"] = _ratio(t["scaled.acc"], t["fixed.acc"], -1)
    ratio = mean["top_eig"] / mean["stability_limit"] if len(mean) else pd.Series(dtype=float)
    v["below_stability_limit"] = float(ratio.max()) if ratio.notna().any() else float("nan")
    return v


def _notes(est: Mapping[str, Estimate], metrics: pd.DataFrame, eps: float) -> dict[str, str]:
    runs = per_run(metrics, eps)
    mean = means(metrics, eps)

    def one(k: str) -> str:
        e = est[k]
        return f"{e.value:.3g} [{e.ci_low:.3g}, {e.ci_high:.3g}]"

    def row(rule: str, col: str, fmt: str = ".3g") -> str:
        if rule not in mean.index.get_level_values("rule"):
            return f"{rule}: no run reached the target"
        r = mean.loc[rule][col]
        return f"{rule}: " + ", ".join(f"B={b} {val:{fmt}}" for b, val in r.items())

    reached = runs.groupby("rule")["reached"].agg(["sum", "size"])
    reach = "; ".join(f"{r}: {int(s)}/{int(n)} runs reached the target" for r, (s, n)
                      in reached.iterrows())  # fmt: skip
    ratio = (mean["top_eig"] / mean["stability_limit"]).round(3)
    return {
        "fixed_sharper_with_batch": f"mean top eigenvalue {row('fixed', 'top_eig')}; {reach}",
        "fixed_eps_sharper_with_batch": f"mean eps-sharpness (eps {eps:g}, percent) "
        f"{row('fixed', 'eps_sharpness')}",
        "fixed_worse_test_with_batch": f"mean test accuracy {row('fixed', 'test_acc', '.4f')}; "
        f"train loss at the stop {row('fixed', 'train_loss')}",
        "sharpness_follows_lr_over_b": f"log-log slopes of the top eigenvalue: fixed "
        f"{one('slope.fixed.eig')}, scaled {one('slope.scaled.eig')} (lr x B / ref_batch); mean "
        f"top eigenvalue {row('scaled', 'top_eig')}",
        "accuracy_follows_lr_over_b": f"test accuracy per doubling of B: fixed "
        f"{one('slope.fixed.acc')}, scaled {one('slope.scaled.acc')}; mean test accuracy "
        f"{row('scaled', 'test_acc', '.4f')}",
        "below_stability_limit": "mean top eigenvalue x lr / 2 per (rule, batch size): "
        + ", ".join(f"{r} B={b} {v:g}" for (r, b), v in ratio.items()),
    }


def check(metrics: pd.DataFrame, cfg: Mapping[str, Any], ctx: CheckContext) -> list[Claim]:
    eps = float(cfg["claims_setup"]["eps"])
    est = ctx.estimates(lambda m: values(m, eps), metrics)
    return ctx.claims(NAME, {c: c for c in CLAIMS}, est, _notes(est, metrics, eps))


def rows(cfg: Mapping[str, Any]) -> dict[str, str]:
    """The metrics rows each claim's value is computed from (a pandas query per claim id;
    ``overparam explain`` shows them); the lr / B comparisons and the stability limit read
    both rules."""
    fixed = 'rule == "fixed"'
    return {
        "fixed_sharper_with_batch": fixed,
        "fixed_eps_sharper_with_batch": fixed,
        "fixed_worse_test_with_batch": fixed,
    }
