"""The claim values of width_vs_depth for every bootstrap draw at once
(:class:`overparam.claims.Batch`): every value is a function of medians over seeds (which do
not depend on the order of the seeds), maxima, minima and ratios, so one group-by median over
(draw, condition) of all draws' runs, then ``values``'s arithmetic per draw on numpy arrays,
gives the values of ``values`` bit for bit. A table whose draws do not all have the same
conditions declines (None)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...batching import draws_of
from ...claims import DRAW, Batch

COLUMNS = (
    "protocol",
    "budget",
    "depth",
    "lr",
    "epochs_to_fit",
    "max_epoch",
    "diverged",
    "best_test_loss",
    "best_val_loss",
    "stop_test_loss",
)
NAN = float("nan")


def _grid(s: pd.Series | pd.DataFrame, draws: int, keys: list[str]) -> list[np.ndarray] | None:
    """The condition levels of a (DRAW, *keys) group-by result that has every condition in
    every draw; None where it does not."""
    levels = [np.unique(s.index.get_level_values(k)) for k in keys]
    return levels if len(s) == draws * int(np.prod([len(v) for v in levels])) else None


def slower(fit: pd.DataFrame, draws: int, reference: int) -> np.ndarray | None:
    """``slower_ratio`` of every draw."""
    from .claims import censored_epochs

    med = fit.assign(e=censored_epochs(fit)).groupby([DRAW, "budget", "depth"])["e"].median()
    levels = _grid(med, draws, ["budget", "depth"])
    if levels is None:
        return None
    budgets, depths = levels
    m = med.to_numpy().reshape(draws, len(budgets), len(depths))
    deep, ref = len(depths) - 1, np.flatnonzero(depths == reference)
    if not len(ref):
        return None
    out = [min(m[d, b, deep] / m[d, b, ref[0]] for b in range(len(budgets))) for d in range(draws)]
    return np.array([float(x) for x in out]) if len(budgets) else np.full(draws, NAN)


def small_data_spread(fit: pd.DataFrame, draws: int, min_depth: int) -> np.ndarray | None:
    """``shape_spread`` of every draw."""
    r = fit[fit["depth"] >= min_depth]
    out = np.full(draws, NAN)
    if r.empty:
        return out
    bad = (r["diverged"] | r["best_test_loss"].isna()).groupby(r[DRAW]).any()
    med = r.groupby([DRAW, "budget", "depth"])["best_test_loss"].median()
    levels = _grid(med, draws, ["budget", "depth"])
    if levels is None or len(bad) != draws:
        return None
    m = med.to_numpy().reshape(draws, len(levels[0]), len(levels[1]))
    for d in np.flatnonzero(~bad.to_numpy()):
        out[d] = float(max(float(s.max() / s.min() - 1.0) for s in m[d]))
    return out


def onepass(one: pd.DataFrame, draws: int) -> np.ndarray | None:
    """``onepass_spread`` of every draw."""
    out = np.full(draws, NAN)
    if one.empty:
        return out
    g = one.groupby([DRAW, "budget", "depth", "lr"], sort=True)
    div, val, test = g["diverged"].any(), g["best_val_loss"].median(), g["stop_test_loss"].median()
    levels = _grid(val, draws, ["budget", "depth", "lr"])
    if levels is None:
        return None
    shape = (draws, *(len(v) for v in levels))
    ok = (~np.isnan(val.to_numpy()) & ~div.to_numpy().astype(bool)).reshape(shape)
    v, t = val.to_numpy().reshape(shape), test.to_numpy().reshape(shape)
    for d in range(draws):
        if not ok[d].any(axis=-1).all():
            continue  # a (budget, depth) without an eligible rate
        # the eligible rate of least median validation loss, the smallest rate on a tie
        pick = np.nanargmin(np.where(ok[d], v[d], np.nan), axis=-1)
        chosen = np.take_along_axis(t[d], pick[..., None], axis=-1)[..., 0]
        if np.isnan(chosen).any():
            continue
        spread = chosen.max(axis=-1) / chosen.min(axis=-1) - 1.0
        spread = spread[~np.isnan(spread)]
        out[d] = float(spread.max()) if len(spread) else NAN
    return out


def batch_values(table: pd.DataFrame, setup: Mapping[str, Any]) -> dict[str, np.ndarray] | None:
    """``values`` of every draw of ``table`` (stacked ``claim_runs`` rows)."""
    draws = draws_of(table)
    fit = table[table["protocol"] == "fit"]
    got = {
        "deeper_slower_to_fit": slower(fit, draws, int(setup["reference_depth"])),
        "shape_insensitive": onepass(table[table["protocol"] == "onepass"], draws),
        "shape_insensitive_small_data": small_data_spread(
            fit, draws, int(setup["shape_min_depth"])
        ),
    }
    out: dict[str, np.ndarray] = {}
    for k, v in got.items():
        if v is None:
            return None  # a part declined
        out[k] = v
    return out


def values_batch(setup: Mapping[str, Any]) -> Batch:
    """The Batch of ``values(runs, setup)``."""
    return Batch(COLUMNS, lambda t: batch_values(t, setup))
