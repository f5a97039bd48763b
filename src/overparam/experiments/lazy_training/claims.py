"""Slopes and claims of lazy_training.

Every claim value is a function of the run rows, recomputed by ``ctx.estimates`` on tables
whose seeds are resampled: the mean of a quantity over seeds per width, and the least-squares
slope of its logarithm against log width (``overparam.claims.slope``). Every slope is reported with its
interval in the notes, per layer and quantity; the claims read the slowest-decaying weight
layer, the NTK change and the linearisation gap (ntk regime), the kernel-regression gap at the
widest width, and the NTK change of the scaled-output regime (Chizat et al. 2019).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...claims import Claim, Estimate, slope
from .. import CheckContext

NAME = "lazy_training"
CLAIMS = (
    "weight_change_vanishes",
    "ntk_change_vanishes",
    "linearisation_gap_vanishes",
    "kernel_regression_match",
    "scaled_leaves_lazy",
)


def means(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per (regime, quantity) (rows) and width (columns)."""
    return metrics.groupby(["regime", "quantity", "width"])["value"].mean().unstack("width")


def slopes(metrics: pd.DataFrame) -> dict[str, float]:
    """Log-log slope against width of every (regime, quantity) mean: key '<regime>.<quantity>'
    (the training loss included, for the record)."""
    m = means(metrics)
    w = m.columns.to_numpy(dtype=float)
    return {f"{r}.{q}": slope(w, row.to_numpy()) for (r, q), row in m.iterrows()}


def values(metrics: pd.DataFrame) -> dict[str, float]:
    nan = float("nan")
    s = slopes(metrics)
    layers = [v for k, v in s.items() if k.startswith("ntk.weight_change_l")]
    v = {f"slope.{k}": x for k, x in s.items()}
    v["weight_change_vanishes"] = max(layers) if layers and not np.isnan(layers).any() else nan
    v["ntk_change_vanishes"] = s.get("ntk.ntk_change", nan)
    v["linearisation_gap_vanishes"] = s.get("ntk.lin_gap", nan)
    ntk = metrics[(metrics["regime"] == "ntk") & (metrics["quantity"] == "kr_gap")]
    widest = ntk[ntk["width"] == ntk["width"].max()] if len(ntk) else ntk
    v["kernel_regression_match"] = float(widest["value"].mean()) if len(widest) else nan
    v["scaled_leaves_lazy"] = s.get("scaled.ntk_change", nan)
    return v


def _notes(est: Mapping[str, Estimate], metrics: pd.DataFrame) -> dict[str, str]:
    """Every slope with its interval over seeds, and the means at the ends of the sweep."""
    v = {k: e.value for k, e in est.items()}

    def one(k: str) -> str:
        e = est[k]
        return f"{e.value:.3g} [{e.ci_low:.3g}, {e.ci_high:.3g}]"

    def sl(regime: str, prefix: str) -> str:
        keys = sorted(k for k in v if k.startswith(f"slope.{regime}.{prefix}"))
        return ", ".join(f"{k.split('.', 2)[2]} {one(k)}" for k in keys)

    m = means(metrics)
    w = m.columns
    lo, hi = int(w.min()), int(w.max())

    def span(regime: str, q: str) -> str:
        if (regime, q) not in m.index:
            return "n/a"
        r = m.loc[(regime, q)]
        return f"{r[lo]:.3g} (w={lo}) -> {r[hi]:.3g} (w={hi})"

    return {
        "weight_change_vanishes": f"log-log slopes of ||W_T - W_0|| / ||W_0|| per layer: "
        f"{sl('ntk', 'weight_change')} (slowest layer claimed; -1/2 is the rate of the source)",
        "ntk_change_vanishes": f"relative NTK change {span('ntk', 'ntk_change')}, slope "
        f"{v['ntk_change_vanishes']:.3g}",
        "linearisation_gap_vanishes": f"RMS network - linearisation {span('ntk', 'lin_gap')}, "
        f"slope {v['linearisation_gap_vanishes']:.3g}; kernel-regression gap slope "
        f"{one('slope.ntk.kr_gap') if 'slope.ntk.kr_gap' in est else 'n/a'}",
        "kernel_regression_match": f"RMS network - gradient flow with Theta_0 on the test points "
        f"{span('ntk', 'kr_gap')} (targets have unit variance); final train MSE "
        f"{span('ntk', 'train_loss')}",
        "scaled_leaves_lazy": f"scaled-output regime slopes: {sl('scaled', '')}; NTK change "
        f"{span('scaled', 'ntk_change')}",
    }


def check(metrics: pd.DataFrame, cfg: Mapping[str, Any], ctx: CheckContext) -> list[Claim]:
    from .batched import BATCH

    est = ctx.estimates(values, metrics, batch=BATCH)
    notes = _notes(est, metrics)
    return ctx.claims(NAME, {c: c for c in CLAIMS}, est, notes)


def rows(cfg: Mapping[str, Any]) -> dict[str, str]:
    """The metrics rows each claim's value is computed from (a pandas query per claim id;
    ``overparam explain`` shows them)."""
    return {
        "weight_change_vanishes": 'regime == "ntk" and quantity.str.startswith("weight_change_l")',
        "ntk_change_vanishes": 'regime == "ntk" and quantity == "ntk_change"',
        "linearisation_gap_vanishes": 'regime == "ntk" and quantity == "lin_gap"',
        "kernel_regression_match": 'regime == "ntk" and quantity == "kr_gap" '
        "and width == width.max()",
        "scaled_leaves_lazy": 'regime == "scaled" and quantity == "ntk_change"',
    }
