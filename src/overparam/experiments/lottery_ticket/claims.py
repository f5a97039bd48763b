"""Claims of lottery_ticket: per-round summaries and the three claims of every job (tickets
match the dense network, beat both controls when sparse, and stop earlier)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...claims import Claim, make_claim
from .. import CheckContext

NAME = "lottery_ticket"


def summary(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over seeds per (network, rewind step, round, variant)."""
    g = metrics.groupby(["network", "rewind_step", "round", "variant"], sort=True)
    return g.agg(
        remaining_frac=("remaining_frac", "mean"),
        acc_mean=("test_acc_at_stop", "mean"),
        acc_sd=("test_acc_at_stop", "std"),
        stop_mean=("stop_step", "mean"),
        stop_sd=("stop_step", "std"),
        runs=("seed", "size"),
        diverged=("diverged", "sum"),
    ).reset_index()


def job_values(
    metrics: pd.DataFrame, cfg: Mapping[str, Any]
) -> dict[tuple[str, int], dict[str, float]]:
    """The three claim metrics of every (network, rewind step):
    matches_dense_pp: min over rounds with >= match_min_remaining weights left of
        (ticket - dense) mean test accuracy, in percentage points;
    beats_controls_pp: over rounds with < match_min_remaining left, the smaller of the mean
        ticket-reinit and ticket-random accuracy differences, in percentage points;
    stop_ratio: mean over rounds with remaining in [early_stop_remaining] of ticket / dense
        mean early-stopping step."""
    c = cfg["claims_setup"]
    s = summary(metrics)
    out = {}
    for (net, k), g in s.groupby(["network", "rewind_step"]):
        dense = g[g["variant"] == "dense"].iloc[0]
        piv = g[g["round"] > 0].pivot(
            index="round", columns="variant", values=["acc_mean", "stop_mean", "remaining_frac"]
        )
        frac = piv[("remaining_frac", "ticket")]
        acc = piv["acc_mean"]
        hi = frac >= c["match_min_remaining"]
        lo = ~hi
        matches = (
            float(((acc["ticket"][hi] - dense["acc_mean"]) * 100).min()) if hi.any() else np.nan
        )
        if lo.any():
            beats = float(
                min(
                    (acc["ticket"][lo] - acc["reinit"][lo]).mean(),
                    (acc["ticket"][lo] - acc["random"][lo]).mean(),
                )
                * 100
            )
        else:
            beats = np.nan
        a, b = c["early_stop_remaining"]
        mid = (frac >= a) & (frac <= b)
        stop = (
            float(piv[("stop_mean", "ticket")][mid].mean() / dense["stop_mean"])
            if mid.any()
            else np.nan
        )
        out[(str(net), int(k))] = {
            "matches_dense_pp": matches,
            "beats_controls_pp": beats,
            "stop_ratio": stop,
            "dense_acc": float(dense["acc_mean"]),
            "dense_stop": float(dense["stop_mean"]),
            "rounds_hi": int(hi.sum()),
            "rounds_lo": int(lo.sum()),
            "rounds_mid": int(mid.sum()),
            "min_remaining": float(frac.min()),
        }
    return out


CLAIM_VALUES = {
    "matches_dense": "matches_dense_pp",
    "beats_controls": "beats_controls_pp",
    "earlier_stop": "stop_ratio",
}


def values(metrics: pd.DataFrame, cfg: Mapping[str, Any]) -> dict[str, float]:
    """Every claim's value, keyed '<network>_rewind<k>.<claim>'."""
    return {
        f"{net}_rewind{k}.{claim}": v[col]
        for (net, k), v in job_values(metrics, cfg).items()
        for claim, col in CLAIM_VALUES.items()
    }


def check(metrics: pd.DataFrame, cfg: Mapping[str, Any], ctx: CheckContext) -> list[Claim]:
    setup = cfg["claims_setup"]
    est = ctx.estimates(lambda m: values(m, cfg), metrics)
    claims = []
    for (net, k), v in job_values(metrics, cfg).items():
        tag = f"{net}_rewind{k}"
        base = f"{tag}: dense acc {v['dense_acc']:.3f}, dense stop step {v['dense_stop']:.0f}"
        notes = {
            "matches_dense": f"{base}; {v['rounds_hi']} rounds with >= "
            f"{setup['match_min_remaining']:g} remaining",
            "beats_controls": f"{base}; {v['rounds_lo']} rounds below, down to "
            f"{v['min_remaining']:.3f} remaining",
            "earlier_stop": f"{base}; {v['rounds_mid']} rounds with remaining in "
            f"{setup['early_stop_remaining']}",
        }
        claims += [
            make_claim(
                cfg["claims"][claim],
                claim=f"{tag}.{claim}",
                experiment=NAME,
                estimate=est[f"{tag}.{claim}"],
                figure=ctx.figure,
                scale=ctx.scale,
                note=notes[claim],
            )
            for claim in CLAIM_VALUES
        ]
    return claims
