"""Claims of lottery_ticket: per-round summaries and the three claims of every job (tickets
match the dense network, beat both controls when sparse, and stop earlier).

Early-stopping steps are counted from the initialisation: a ticket (or random-pruning
control) rewound to step k restarts from the dense run's weights at step k, so its recorded
``stop_step`` (counted from its own start) plus k is the number of optimizer steps behind its
stopping point; the dense run and the reinit control start at the init (k adds nothing).

Diverged runs have no accuracy and no stopping step: they drop out of the seed means. Every
claim's note counts the diverged runs among those it is computed from, and a claim with more
than ``claims_setup.max_diverged_frac`` of them diverged has value NaN (it does not hold).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...claims import Claim
from .. import CheckContext
from . import REWOUND

NAME = "lottery_ticket"
CELL = ["network", "rewind_step", "round", "variant"]  # the summary's cells


def summary(metrics: pd.DataFrame, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Mean and sd over seeds per (network, rewind step, round, variant), within each group
    of the columns ``by`` if given; diverged runs are left out of the means (``diverged``
    counts them). ``stop_mean``: early-stopping step from the variant's own start;
    ``stop_init_mean``: from the initialisation (rewound variants: + rewind step)."""
    ok = ~metrics["diverged"].astype(bool) & (metrics["stop_step"] >= 0)
    stop = metrics["stop_step"].astype(float).where(ok)
    offset = np.where(metrics["variant"].isin(REWOUND), metrics["rewind_step"], 0)
    m = metrics.assign(
        stop_step=stop,
        stop_from_init=stop + offset,
        test_acc_at_stop=metrics["test_acc_at_stop"].astype(float).where(ok),
    )
    g = m.groupby([*by, *CELL], sort=True)
    return g.agg(
        remaining_frac=("remaining_frac", "mean"),
        acc_mean=("test_acc_at_stop", "mean"),
        acc_sd=("test_acc_at_stop", "std"),
        stop_mean=("stop_step", "mean"),
        stop_sd=("stop_step", "std"),
        stop_init_mean=("stop_from_init", "mean"),
        stop_init_sd=("stop_from_init", "std"),
        runs=("seed", "size"),
        diverged=("diverged", "sum"),
    ).reset_index()


def _counts(g: pd.DataFrame, rounds: pd.Index, variants: tuple[str, ...], dense: bool):
    """(diverged, runs) over the given rounds and variants (and the dense round if asked)."""
    sel = g[(g["round"].isin(rounds) & g["variant"].isin(variants)) | (dense & (g["round"] == 0))]
    return int(sel["diverged"].sum()), int(sel["runs"].sum())


def job_values(
    metrics: pd.DataFrame, cfg: Mapping[str, Any]
) -> dict[tuple[str, int], dict[str, float]]:
    """The three claim metrics of every (network, rewind step):
    matches_dense_pp: min over rounds with >= match_min_remaining weights left of
        (ticket - dense) mean test accuracy plus match_tolerance_sd x the dense network's
        seed sd of test accuracy, in percentage points (>= 0: every such round is within
        that many dense sds of the dense mean; Frankle et al. 2020's "matching");
        ``matches_dense_diff_pp`` is the min difference alone (the old rule's value);
    beats_controls_pp: over rounds with < match_min_remaining left, the smaller of the mean
        ticket-reinit and ticket-random accuracy differences, in percentage points;
    stop_ratio: mean over rounds with remaining in [early_stop_remaining] of the ticket's mean
        early-stopping step counted from the initialisation (k + its own step), divided by
        the dense network's mean early-stopping step.
    Each also gets '<metric>_diverged' and '<metric>_runs' (its runs, the diverged among
    them); a metric with more than ``max_diverged_frac`` of its runs diverged is NaN."""
    c = cfg["claims_setup"]
    max_div = float(c["max_diverged_frac"])
    s = summary(metrics)
    out = {}
    for (net, k), g in s.groupby(["network", "rewind_step"]):
        dense = g[g["variant"] == "dense"].iloc[0]
        piv = g[g["round"] > 0].pivot(
            index="round",
            columns="variant",
            values=["acc_mean", "stop_init_mean", "remaining_frac"],
        )
        frac = piv[("remaining_frac", "ticket")]
        acc = piv["acc_mean"]
        hi = frac >= c["match_min_remaining"]
        lo = ~hi
        diff = float(((acc["ticket"][hi] - dense["acc_mean"]) * 100).min()) if hi.any() else np.nan
        dense_sd = float(dense["acc_sd"]) * 100 if dense["runs"] - dense["diverged"] > 1 else np.nan
        matches = diff + float(c["match_tolerance_sd"]) * dense_sd
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
            float(piv[("stop_init_mean", "ticket")][mid].mean() / dense["stop_mean"])
            if mid.any()
            else np.nan
        )
        v: dict[str, float] = {}
        for key, value, rounds, variants, with_dense in (
            ("matches_dense_pp", matches, frac.index[hi], ("ticket",), True),
            ("beats_controls_pp", beats, frac.index[lo], ("ticket", "reinit", "random"), False),
            ("stop_ratio", stop, frac.index[mid], ("ticket",), True),
        ):
            div, runs = _counts(g, rounds, variants, with_dense)
            v[key] = np.nan if runs and div > max_div * runs else value
            v[f"{key}_diverged"], v[f"{key}_runs"] = div, runs
        out[(str(net), int(k))] = {
            **v,
            "dense_acc": float(dense["acc_mean"]),
            "dense_sd_pp": dense_sd,
            "matches_dense_diff_pp": diff,
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


def definition_key(claim: str, rewind_step: int) -> str:
    """The claims.yaml entry of ``claim`` for tickets rewound to ``rewind_step``: Frankle &
    Carbin 2019 claim earlier early stopping for tickets reset to initialisation; for late
    rewinding (k > 0) it is our extension (``earlier_stop_rewound``)."""
    return "earlier_stop_rewound" if claim == "earlier_stop" and rewind_step > 0 else claim


def values(metrics: pd.DataFrame, cfg: Mapping[str, Any]) -> dict[str, float]:
    """Every claim's value, keyed '<network>_rewind<k>.<claim>'."""
    return {
        f"{net}_rewind{k}.{claim}": v[col]
        for (net, k), v in job_values(metrics, cfg).items()
        for claim, col in CLAIM_VALUES.items()
    }


def _divergence_note(v: Mapping[str, float], col: str, max_div: float) -> str:
    div, runs = int(v[f"{col}_diverged"]), int(v[f"{col}_runs"])
    note = f"{div} of {runs} runs diverged"
    if runs and div > max_div * runs:
        note += f" (more than {max_div:g} of them: value NaN, the claim does not hold)"
    return note


def check(metrics: pd.DataFrame, cfg: Mapping[str, Any], ctx: CheckContext) -> list[Claim]:
    setup = cfg["claims_setup"]
    max_div = float(setup["max_diverged_frac"])
    from .batched import values_batch

    est = ctx.estimates(lambda m: values(m, cfg), metrics, batch=values_batch(cfg))
    claims = []
    for (net, k), v in job_values(metrics, cfg).items():
        tag = f"{net}_rewind{k}"
        base = f"{tag}: dense acc {v['dense_acc']:.3f}, dense stop step {v['dense_stop']:.0f}"
        notes = {
            "matches_dense": f"{base}; {v['rounds_hi']} rounds with >= "
            f"{setup['match_min_remaining']:g} remaining; worst ticket - dense "
            f"{v['matches_dense_diff_pp']:.3g} pp, tolerance {setup['match_tolerance_sd']:g} x "
            f"dense sd {v['dense_sd_pp']:.3g} pp (old fixed rule: diff >= -1 pp "
            f"{'holds' if v['matches_dense_diff_pp'] >= -1 - 1e-9 else 'does not hold'})",
            "beats_controls": f"{base}; {v['rounds_lo']} rounds below, down to "
            f"{v['min_remaining']:.3f} remaining",
            "earlier_stop": f"{base}; {v['rounds_mid']} rounds with remaining in "
            f"{setup['early_stop_remaining']}; ticket steps counted from init (+{k})",
        }
        claims += ctx.claims(
            NAME,
            {f"{tag}.{claim}": definition_key(claim, int(k)) for claim in CLAIM_VALUES},
            est,
            {
                f"{tag}.{claim}": f"{notes[claim]}; {_divergence_note(v, col, max_div)}"
                for claim, col in CLAIM_VALUES.items()
            },
        )
    return claims


def rows(cfg: Mapping[str, Any]) -> dict[str, str]:
    """The metrics rows each claim's value is computed from (a pandas query per claim id;
    ``overparam explain`` shows them): the variants it compares, every round of its job
    (which rounds count depends on their remaining fraction, see ``job_values``)."""
    variants = {
        "matches_dense": '["dense", "ticket"]',
        "beats_controls": '["ticket", "reinit", "random"]',
        "earlier_stop": '["dense", "ticket"]',
    }
    return {
        f"{net}_rewind{k}.{claim}": f'network == "{net}" and rewind_step == {int(k)} '
        f"and variant in {v}"
        for net in cfg["networks"]
        for k in cfg["rewind_steps"]
        for claim, v in variants.items()
    }
