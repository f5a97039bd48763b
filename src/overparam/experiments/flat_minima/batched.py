"""The batch-size sweep's values for every bootstrap draw at once
(:class:`overparam.claims.Batch`): ``means`` of all draws' runs in one group-by over draw as
well (each (rule, batch size)'s seeds in the order the per-draw means take them), then the
trends per draw on numpy arrays: the values of ``values`` bit for bit."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...batching import draw_bounds, draws_of
from ...claims import DRAW, Batch, slope
from .claims import RUN_QUANTITIES, trend_values

COLUMNS = ("rule", "batch_size", "quantity", "x", "value")
NAN = float("nan")


def _means(table: pd.DataFrame, eps: float) -> pd.DataFrame:
    """``means(table, eps)`` of every draw, stacked (index: draw, rule, batch_size)."""
    q = table["quantity"]
    keep = q.isin(RUN_QUANTITIES) | ((q == "eps_sharpness") & np.isclose(table["x"], eps))
    m = table.loc[keep, [DRAW, "rule", "batch_size", "seed", "quantity", "value"]]
    keys = [DRAW, "rule", "batch_size", "seed", "quantity"]
    wide = m.groupby(keys, sort=True)["value"].first().unstack("quantity")
    wide = wide.reindex(columns=[*RUN_QUANTITIES, "eps_sharpness"])
    wide = wide[wide["reached"] == 1]
    return wide.groupby([DRAW, "rule", "batch_size"]).mean().reset_index()


def _max(x: np.ndarray) -> float:
    """``Series.max`` where some value is not NaN, else NaN (as ``values`` guards it)."""
    x = x[~np.isnan(x)]
    return float(x.max()) if len(x) else NAN


def _draw_values(mean: pd.DataFrame, lo: int, hi: int) -> dict[str, float]:
    """``values`` of one draw from its rows lo:hi of the stacked means."""
    rule = mean["rule"].to_numpy()[lo:hi]
    bs = mean["batch_size"].to_numpy()[lo:hi]
    col = {c: mean[c].to_numpy()[lo:hi] for c in ("top_eig", "eps_sharpness", "test_acc")}
    t = {}
    for name in ("fixed", "scaled"):
        at = rule == name
        if not at.any():
            t.update({f"{name}.{k}": NAN for k in ("eig", "eps", "acc")})
            continue
        lb = np.log2(bs[at].astype(float))
        t[f"{name}.eig"] = slope(lb * np.log(2), col["top_eig"][at], log_x=False)
        t[f"{name}.eps"] = slope(lb * np.log(2), col["eps_sharpness"][at], log_x=False)
        t[f"{name}.acc"] = slope(lb, col["test_acc"][at], log_x=False, log_y=False)
    v = trend_values(t)
    ratio = mean["top_eig"].to_numpy()[lo:hi] / mean["stability_limit"].to_numpy()[lo:hi]
    v["sgd.max_ratio"] = _max(ratio)
    v["scaled.max_ratio"] = _max(ratio[rule == "scaled"])
    return v


def batch_values(table: pd.DataFrame, eps: float) -> dict[str, np.ndarray] | None:
    """``values(table, eps)`` of every draw of ``table``."""
    draws = draws_of(table)
    mean = _means(table, eps)
    b = draw_bounds(mean, draws)
    per = [_draw_values(mean, b[d], b[d + 1]) for d in range(draws)]
    return {k: np.array([p[k] for p in per], dtype=float) for k in per[0]} if per else None


def values_batch(eps: float) -> Batch:
    """The Batch of ``values(metrics, eps)``."""
    return Batch(COLUMNS, lambda t: batch_values(t, eps))
