"""Trends against batch size and the claims of flat_minima.

Only runs that reached the target training loss count (solutions compared at the same
loss); the notes say how many did. Per rule and batch size the quantities are averaged over
seeds, and a trend is the least-squares slope over the sweep: of log top eigenvalue and log
eps-sharpness against log batch size, of test accuracy against log2 batch size (accuracy per
doubling). Whether the batch-size effect follows lr / B is the ratio of the scaled rule's
slope to the fixed rule's (undefined, NaN, when the fixed rule shows no effect in the claimed
direction). Every value is recomputed by ``ctx.estimates`` on tables with resampled seeds.

The edge-of-stability claims (Cohen et al. 2021) read the ``gd`` rows only (bootstrapped over
their own seeds): per (lr, seed) the sharpness trajectory lambda_t from the start to the
member's stop. Progressive sharpening is the fraction of the way from the initial sharpness
to 2 / lr that the sharpness climbs, (max_t lambda_t - lambda_0) / (2 / lr - lambda_0) (1 =
reaches the limit; NaN if it starts at or above it), averaged over seeds, its minimum over the
lrs claimed. A run arrives at the first check with lambda_t lr / 2 >= ``eos_arrive``; its
hovering level is the median of lambda_t lr / 2 over the checks from arrival to the stop,
when there are at least ``eos_min_checks`` of them (else NaN: it cannot show hovering).
Averaged over seeds (NaN seeds dropped), the claim is the largest |level - 1| over the lrs
that have a level (NaN when none has).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...claims import Claim, Estimate, slope
from .. import CheckContext
from . import GD_RULE

NAME = "flat_minima"
CLAIMS = (
    "fixed_sharper_with_batch",
    "fixed_eps_sharper_with_batch",
    "fixed_worse_test_with_batch",
    "sharpness_follows_lr_over_b",
    "accuracy_follows_lr_over_b",
    "gd_progressive_sharpening",
    "gd_edge_of_stability",
)
GD_CLAIMS = ("gd_progressive_sharpening", "gd_edge_of_stability")
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


def trends(mean: pd.DataFrame) -> dict[str, float]:
    """'<rule>.<eig|eps|acc>' slopes of the per-batch-size means."""
    out = {}
    for rule in ("fixed", "scaled"):
        if rule not in mean.index.get_level_values("rule"):
            out.update({f"{rule}.{k}": float("nan") for k in ("eig", "eps", "acc")})
            continue
        r = mean.loc[rule]
        lb = np.log2(r.index.to_numpy(dtype=float))
        out[f"{rule}.eig"] = slope(lb * np.log(2), r["top_eig"], log_x=False)
        out[f"{rule}.eps"] = slope(lb * np.log(2), r["eps_sharpness"], log_x=False)
        out[f"{rule}.acc"] = slope(lb, r["test_acc"], log_x=False, log_y=False)
    return out


def _ratio(scaled: float, fixed: float, sign: int) -> float:
    """|scaled| / |fixed| when the fixed-rule slope has the claimed sign, else NaN."""
    if not np.isfinite(fixed) or np.sign(fixed) != sign:
        return float("nan")
    return abs(scaled) / abs(fixed)


def trend_values(t: Mapping[str, float]) -> dict[str, float]:
    """The claim values that the batch-size trends ``t`` (:func:`trends`) give."""
    v = {f"slope.{k}": x for k, x in t.items()}
    v["fixed_sharper_with_batch"] = t["fixed.eig"]
    v["fixed_eps_sharper_with_batch"] = t["fixed.eps"]
    v["fixed_worse_test_with_batch"] = t["fixed.acc"]
    v["sharpness_follows_lr_over_b"] = _ratio(t["scaled.eig"], t["fixed.eig"], +1)
    v["accuracy_follows_lr_over_b"] = _ratio(t["scaled.acc"], t["fixed.acc"], -1)
    return v


def values(metrics: pd.DataFrame, eps: float) -> dict[str, float]:
    mean = means(metrics, eps)
    v = trend_values(trends(mean))
    ratio = mean["top_eig"] / mean["stability_limit"] if len(mean) else pd.Series(dtype=float)
    # the former below_stability_limit (mini-batch solutions), kept for the notes
    v["sgd.max_ratio"] = float(ratio.max()) if ratio.notna().any() else float("nan")
    scaled = ratio.loc["scaled"] if "scaled" in mean.index.get_level_values("rule") else ratio[:0]
    v["scaled.max_ratio"] = float(scaled.max()) if scaled.notna().any() else float("nan")
    return v


def gd_runs(metrics: pd.DataFrame, arrive: float, min_checks: int) -> pd.DataFrame:
    """Per (lr, seed) of the gd rows: lam0 (first check), peak, limit 2 / lr, rise (fraction
    of the gap to the limit climbed), arrival (step; NaN if never), checks (from arrival to
    the stop) and level (their median lambda lr / 2; NaN below ``min_checks`` checks)."""
    g = metrics[metrics["quantity"] == "gd_sharpness"]
    out = []
    for (lr, seed), r in g.groupby(["lr", "seed"], sort=True):
        r = r.sort_values("x")
        lam, step = r["value"].to_numpy(dtype=float), r["x"].to_numpy(dtype=float)
        limit = 2.0 / float(lr)
        lam0, peak = lam[0], float(np.nanmax(lam)) if np.isfinite(lam).any() else np.nan
        rise = (peak - lam0) / (limit - lam0) if lam0 < limit else np.nan
        ratio = lam / limit
        hit = np.flatnonzero(ratio >= arrive)
        arrival = step[hit[0]] if len(hit) else np.nan
        after = ratio[hit[0] :] if len(hit) else ratio[:0]
        level = float(np.median(after)) if len(after) >= min_checks else np.nan
        out.append((lr, seed, lam0, peak, limit, rise, arrival, len(after), level))
    cols = ["lr", "seed", "lam0", "peak", "limit", "rise", "arrival", "checks", "level"]
    return pd.DataFrame(out, columns=cols)


def gd_values(metrics: pd.DataFrame, arrive: float, min_checks: int) -> dict[str, float]:
    runs = gd_runs(metrics, arrive, min_checks)
    nan = float("nan")
    if not len(runs):
        return dict.fromkeys(GD_CLAIMS, nan)
    per_lr = runs.groupby("lr")[["rise", "level"]].mean()  # NaN seeds dropped
    v = {f"gd.rise.{lr:g}": float(x) for lr, x in per_lr["rise"].items()}
    v |= {f"gd.level.{lr:g}": float(x) for lr, x in per_lr["level"].items()}
    # a NaN rise (started at or above the limit) counts against the claim
    v["gd_progressive_sharpening"] = (
        nan if per_lr["rise"].isna().any() else float(per_lr["rise"].min())
    )
    lv = per_lr["level"].dropna()
    v["gd_edge_of_stability"] = float((lv - 1).abs().max()) if len(lv) else nan
    return v


def _gd_notes(
    est: Mapping[str, Estimate], metrics: pd.DataFrame, arrive: float, min_checks: int
) -> dict[str, str]:
    runs = gd_runs(metrics, arrive, min_checks)
    if not len(runs):
        return dict.fromkeys(GD_CLAIMS, "no gd rows (edge-of-stability job)")
    per = runs.groupby("lr").agg(
        lam0=("lam0", "mean"),
        peak=("peak", "mean"),
        limit=("limit", "first"),
        rise=("rise", "mean"),
        arrival=("arrival", "median"),
        checks=("checks", "median"),
        level=("level", "mean"),
        judged=("level", "count"),
        seeds=("seed", "size"),
    )

    def one(k: str) -> str:
        e = est.get(k)
        return "NaN" if e is None else f"{e.value:.3g} [{e.ci_low:.3g}, {e.ci_high:.3g}]"

    rise = "; ".join(
        f"lr {lr:g}: sharpness {r.lam0:.3g} at the start, peak {r.peak:.3g}, 2 / lr {r.limit:g}, "
        f"fraction of the gap climbed {one(f'gd.rise.{lr:g}')}"
        for lr, r in per.iterrows()
    )
    level = "; ".join(
        f"lr {lr:g}: arrives (median) at step {r.arrival:g}, then {r.checks:g} checks, median "
        f"sharpness x lr / 2 {one(f'gd.level.{lr:g}')} ({int(r.judged)}/{int(r.seeds)} seeds "
        f"judged)"
        for lr, r in per.iterrows()
    )
    return {"gd_progressive_sharpening": rise, "gd_edge_of_stability": level}


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
    reach = "; ".join(
        f"{r}: {int(s)}/{int(n)} runs reached the target" for r, (s, n) in reached.iterrows()
    )
    ratio = (mean["top_eig"] / mean["stability_limit"]).round(3)
    return {
        "fixed_sharper_with_batch": f"mean top eigenvalue {row('fixed', 'top_eig')}; {reach}",
        "fixed_eps_sharper_with_batch": f"mean eps-sharpness (eps {eps:g}, percent) "
        f"{row('fixed', 'eps_sharpness')}",
        "fixed_worse_test_with_batch": f"mean test accuracy {row('fixed', 'test_acc', '.4f')}; "
        f"train loss at the stop {row('fixed', 'train_loss')}",
        "sharpness_follows_lr_over_b": f"log-log slopes of the top eigenvalue: fixed "
        f"{one('slope.fixed.eig')}, scaled {one('slope.scaled.eig')} (lr x B / ref_batch); mean "
        f"top eigenvalue {row('scaled', 'top_eig')}; largest scaled-rule mean top eigenvalue x "
        f"lr / 2 {one('scaled.max_ratio')}",
        "accuracy_follows_lr_over_b": f"test accuracy per doubling of B: fixed "
        f"{one('slope.fixed.acc')}, scaled {one('slope.scaled.acc')}; mean test accuracy "
        f"{row('scaled', 'test_acc', '.4f')}",
        "gd_edge_of_stability": "mini-batch SGD solutions (the former below_stability_limit): "
        f"largest mean top eigenvalue x lr / 2 over rules and batch sizes {one('sgd.max_ratio')}"
        "; per (rule, batch size): " + ", ".join(f"{r} B={b} {v:g}" for (r, b), v in ratio.items()),
    }


def check(metrics: pd.DataFrame, cfg: Mapping[str, Any], ctx: CheckContext) -> list[Claim]:
    setup = cfg["claims_setup"]
    eps, arrive, k = float(setup["eps"]), float(setup["eos_arrive"]), int(setup["eos_min_checks"])
    gd = metrics["rule"] == GD_RULE
    sweep, gd_rows = metrics[~gd], metrics[gd]
    from .batched import values_batch

    est = dict(ctx.estimates(lambda m: values(m, eps), sweep, batch=values_batch(eps)))
    est |= ctx.estimates(lambda m: gd_values(m, arrive, k), gd_rows)
    notes = _notes(est, sweep, eps)
    gd_notes = _gd_notes(est, gd_rows, arrive, k)
    notes["gd_progressive_sharpening"] = gd_notes["gd_progressive_sharpening"]
    notes["gd_edge_of_stability"] = (
        gd_notes["gd_edge_of_stability"] + "; " + notes["gd_edge_of_stability"]
    )
    return ctx.claims(NAME, {c: c for c in CLAIMS}, est, notes)


def rows(cfg: Mapping[str, Any]) -> dict[str, str]:
    """The metrics rows each claim's value is computed from (a pandas query per claim id;
    ``overparam explain`` shows them); the lr / B comparisons read both rules (declared as the
    whole table)."""
    fixed = 'rule == "fixed"'
    gd = f'rule == "{GD_RULE}"'
    return {
        "fixed_sharper_with_batch": fixed,
        "fixed_eps_sharper_with_batch": fixed,
        "fixed_worse_test_with_batch": fixed,
        "gd_progressive_sharpening": gd,
        "gd_edge_of_stability": gd,
    }
