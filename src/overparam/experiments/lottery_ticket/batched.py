"""Every claim value of lottery_ticket for every bootstrap draw at once
(:class:`overparam.claims.Batch`): one ``summary`` of all draws' runs, grouped by draw as well
(each cell's seeds in the order the per-draw summary takes them), then ``job_values``'s
arithmetic per draw on numpy arrays, in the same order: the same values bit for bit. A table
whose draws do not all have the same cells declines (None)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...claims import DRAW, Batch
from .claims import CELL, CLAIM_VALUES, summary

COLUMNS = (*CELL, "seed", "diverged", "stop_step", "test_acc_at_stop", "remaining_frac")
VARIANTS = ("ticket", "reinit", "random")


def _mean(x: np.ndarray) -> float:
    """pandas Series.mean (no bottleneck): the NaN-skipping numpy sum over the count."""
    ok = ~np.isnan(x)
    return float(np.where(ok, x, 0.0).sum() / ok.sum()) if ok.any() else np.nan


def _min(x: np.ndarray) -> float:
    """pandas Series.min: NaN-skipping, NaN when nothing is left."""
    x = x[~np.isnan(x)]
    return float(x.min()) if len(x) else np.nan


def _at(stat: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``stat`` at the summary rows ``where`` (-1: a cell the pivot fills with NaN)."""
    return np.where(where >= 0, stat[np.maximum(where, 0)], np.nan)


class _Job:
    """One (network, rewind step): where its cells lie among a draw's summary rows."""

    def __init__(self, cells: pd.DataFrame, at: np.ndarray):
        job = cells.iloc[at]
        rnd, var = job["round"].to_numpy(), job["variant"].to_numpy()
        self.at, self.round, self.variant = at, rnd, var
        self.dense = int(at[np.flatnonzero(var == "dense")[0]])
        self.rounds = np.unique(rnd[rnd > 0])
        pos = {(r, v): int(i) for r, v, i in zip(rnd, var, at) if r > 0}
        self.grid = {v: np.array([pos.get((r, v), -1) for r in self.rounds]) for v in VARIANTS}

    def counts(self, stats, d: int, rounds, variants, with_dense: bool) -> tuple[int, int]:
        """``_counts``: (diverged, runs) of the draw's cells in ``rounds`` x ``variants``."""
        sel = np.isin(self.round, rounds) & np.isin(self.variant, variants)
        sel |= with_dense & (self.round == 0)
        return int(stats["diverged"][d, self.at[sel]].sum()), int(
            stats["runs"][d, self.at[sel]].sum()
        )

    def values(self, stats, d: int, c: Mapping[str, Any]) -> dict[str, float]:
        """``job_values``'s three claim metrics of this job in draw ``d``."""
        s = {k: v[d] for k, v in stats.items()}
        frac = _at(s["remaining_frac"], self.grid["ticket"])
        acc = {v: _at(s["acc_mean"], self.grid[v]) for v in VARIANTS}
        dense_acc = s["acc_mean"][self.dense]
        hi = frac >= c["match_min_remaining"]
        lo = ~hi
        diff = _min((acc["ticket"][hi] - dense_acc) * 100) if hi.any() else np.nan
        ok = s["runs"][self.dense] - s["diverged"][self.dense] > 1
        dense_sd = float(s["acc_sd"][self.dense]) * 100 if ok else np.nan
        matches = diff + float(c["match_tolerance_sd"]) * dense_sd
        beats = np.nan
        if lo.any():
            t = acc["ticket"][lo]
            beats = float(min(_mean(t - acc["reinit"][lo]), _mean(t - acc["random"][lo])) * 100)
        a, b = c["early_stop_remaining"]
        mid = (frac >= a) & (frac <= b)
        stop_t = _at(s["stop_init_mean"], self.grid["ticket"])
        stop = float(_mean(stop_t[mid]) / s["stop_mean"][self.dense]) if mid.any() else np.nan
        max_div = float(c["max_diverged_frac"])
        out = {}
        for key, value, rounds, variants, with_dense in (
            ("matches_dense_pp", matches, self.rounds[hi], ("ticket",), True),
            ("beats_controls_pp", beats, self.rounds[lo], VARIANTS, False),
            ("stop_ratio", stop, self.rounds[mid], ("ticket",), True),
        ):
            div, runs = self.counts(stats, d, rounds, variants, with_dense)
            out[key] = np.nan if runs and div > max_div * runs else value
        return out


def batch_values(table: pd.DataFrame, cfg: Mapping[str, Any]) -> dict[str, np.ndarray] | None:
    """``values`` of every draw of ``table`` (see the module docstring)."""
    s = summary(table, by=(DRAW,))
    draws = int(table[DRAW].max()) + 1
    n = len(s) // draws if draws else 0
    if not n or len(s) != draws * n:
        return None
    cells = s[CELL].iloc[:n].reset_index(drop=True)
    for col in CELL:  # every draw has draw 0's cells, in the same order
        v = s[col].to_numpy().reshape(draws, n)
        if not (v == v[:1]).all():
            return None
    names = ("acc_mean", "acc_sd", "stop_mean", "stop_init_mean", "remaining_frac")
    stats = {k: s[k].to_numpy(dtype=float).reshape(draws, n) for k in names}
    stats |= {k: s[k].to_numpy().reshape(draws, n) for k in ("runs", "diverged")}
    c = cfg["claims_setup"]
    out: dict[str, np.ndarray] = {}
    for (net, k), g in cells.groupby(["network", "rewind_step"]):
        job = _Job(cells, g.index.to_numpy())
        per = [job.values(stats, d, c) for d in range(draws)]
        for claim, col in CLAIM_VALUES.items():
            out[f"{net}_rewind{k}.{claim}"] = np.array([p[col] for p in per], dtype=float)
    return out


def values_batch(cfg: Mapping[str, Any]) -> Batch:
    """The Batch of ``values(metrics, cfg)``."""
    return Batch(COLUMNS, lambda t: batch_values(t, cfg))
