"""Helpers of the claims' batches (:class:`overparam.claims.Batch`): pandas' own reductions
and row orders, reproduced on numpy arrays where a batch computes per draw what the per-draw
value function computes with pandas, so that the values stay the same bit for bit.

- :func:`series_mean`: ``Series.mean`` (without bottleneck, as in this environment: the
  NaN-skipping numpy sum over the count; a group-by's mean sums differently, so a batch
  leaves those to a group-by over the draw and the conditions);
- :func:`draw_bounds`: where each draw's rows lie in the stacked table;
- :func:`run_codes`, :func:`last_rows`: the rows, and their order, of
  ``df.sort_values(col).groupby(keys).tail(1)`` (the order matters to any mean taken over
  them afterwards).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .claims import DRAW


def series_mean(x: np.ndarray) -> float:
    """``pd.Series(x).mean()``: NaN skipped; NaN when nothing is left."""
    x = np.asarray(x, dtype=float)
    ok = ~np.isnan(x)
    n = int(ok.sum())
    return float(np.where(ok, x, 0.0).sum() / n) if n else math.nan


def series_min(x: np.ndarray) -> float:
    """``pd.Series(x).min()``: NaN skipped; NaN when nothing is left."""
    x = np.asarray(x, dtype=float)
    x = x[~np.isnan(x)]
    return float(x.min()) if len(x) else math.nan


def draws_of(table: pd.DataFrame) -> int:
    """How many draws a batch's table stacks (draws are numbered 0, 1, ...)."""
    return int(table[DRAW].max()) + 1 if len(table) else 0


def draw_bounds(table: pd.DataFrame, draws: int) -> np.ndarray:
    """Row positions ``b`` with draw d's rows at ``b[d]:b[d + 1]`` (the table stacks the
    draws in order, as the bootstrap builds it, and any row filter keeps that order)."""
    d = table[DRAW].to_numpy()
    if len(d) and np.any(np.diff(d) < 0):
        raise ValueError("the batch's table does not stack its draws in order")
    return np.searchsorted(d, np.arange(draws + 1))


def run_codes(table: pd.DataFrame, keys: Sequence[str]) -> np.ndarray | None:
    """One integer per row naming its group of ``keys`` (for :func:`last_rows`); None where a
    key has NaN (the group-by would drop those rows: not reproduced)."""
    if table[list(keys)].isna().any().any():
        return None
    return table.groupby(list(keys), sort=False).ngroup().to_numpy()


def last_rows(step: np.ndarray, codes: np.ndarray) -> np.ndarray | None:
    """Positions of the rows of ``df.sort_values(col).groupby(keys).tail(1)``, in its order,
    from ``step = df[col].to_numpy()`` and ``codes`` (:func:`run_codes`) of one draw: pandas
    sorts one column by numpy's default (not stable) argsort of a copy of its values, so
    ties come out in that argsort's order, and ``tail`` keeps the sorted order. None where
    ``step`` has NaN (sorted last: not reproduced)."""
    if step.dtype.kind == "f" and np.isnan(step).any():
        return None
    order = np.arange(len(step))[step.copy().argsort(kind="quicksort")]
    sorted_codes = codes[order]
    last = np.zeros(len(order), dtype=bool)
    _, first_from_end = np.unique(sorted_codes[::-1], return_index=True)
    last[len(order) - 1 - first_from_end] = True
    return order[last]


def batch_mismatches(
    values, batch, runs: pd.DataFrame, *, unit: str = "seed", resamples: int = 1000, seed: int = 0
) -> list[tuple[int, str, float, float]] | None:
    """Every (draw, key, per-draw value, batch value) where ``batch`` (a Batch) disagrees
    with ``values`` on a draw that :func:`overparam.claims.bootstrap` makes (both NaN is
    agreement), over every distinct draw; None where the batch declines. The check that a
    batch computes exactly what its value function computes, for tests and for a new batch."""
    from .claims import _batched, _resampled, seed_draws

    rows, drawn = seed_draws(np.asarray(runs[unit].to_numpy()), resamples, seed)
    picks = {p.tobytes(): p for p in drawn}  # each distinct draw once, as bootstrap does
    fast = _batched(batch, runs, unit, rows, list(picks.values()))
    if fast is None:
        return None
    out = []
    for d, (p, f) in enumerate(zip(picks.values(), fast)):
        for key, v in values(_resampled(runs, unit, rows, p)).items():
            a, b = float(v), float(f.get(key, math.nan))
            if not (a == b or (math.isnan(a) and math.isnan(b))):
                out.append((d, key, a, b))
    return out
