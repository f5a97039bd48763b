"""Every claim value of benign_overfitting for every bootstrap draw at once
(:class:`overparam.claims.Batch`): the means over seeds per (family, n) by one group-by over
(draw, family, n), the pooled means by ``Series.mean``'s own sum per draw
(:func:`overparam.batching.series_mean`): the values of ``values`` bit for bit. A family
whose draws do not all have every n declines (None)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...batching import draw_bounds, draws_of, series_mean
from ...claims import DRAW, Batch, slope

COLUMNS = ("family", "n", "excess_risk", "noise_var", "train_mse", "theory_excess_risk_finite_n")


def _means(rows: pd.DataFrame, x: np.ndarray, draws: int) -> np.ndarray:
    """``Series(x).mean()`` of each draw's rows (``x``: one value per row of ``rows``)."""
    b = draw_bounds(rows, draws)
    return np.array([series_mean(x[b[d] : b[d + 1]]) for d in range(draws)])


def batch_values(table: pd.DataFrame, cfg: Mapping[str, Any]) -> dict[str, np.ndarray] | None:
    """``values`` of every draw of ``table`` (see the module docstring)."""
    draws = draws_of(table)
    demo = table[table["family"] == "demo"]
    iso = table[table["family"] == "demo_isotropic"]
    demo_excess = _means(demo, demo["excess_risk"].to_numpy(), draws)
    out = {
        "demo_interpolates": demo.groupby(DRAW)["train_mse"].max().reindex(range(draws)),
        "demo_excess_small": demo_excess / _means(demo, demo["noise_var"].to_numpy(), draws),
        "demo_beats_isotropic": demo_excess / _means(iso, iso["excess_risk"].to_numpy(), draws),
    }
    m = table.assign(excess_over_noise=table["excess_risk"] / table["noise_var"])
    s = m.groupby([DRAW, "family", "n"], sort=True)[["excess_over_noise", "excess_risk"]].mean()
    for family, spec in cfg["families"].items():
        rows = m[m["family"] == family]
        ns = np.unique(rows["n"].to_numpy())
        f = s.xs(family, level="family") if len(rows) else s.iloc[:0]
        if not len(ns) or len(f) != draws * len(ns):
            return None
        over = f["excess_over_noise"].to_numpy().reshape(draws, -1)
        risk = f["excess_risk"].to_numpy().reshape(draws, -1)
        if spec["benign"]:
            out[f"{family}.slope"] = np.array([slope(ns, r) for r in risk])
            out[f"{family}.vanishes"] = over[:, -1]
        else:
            out[f"{family}.does_not_vanish"] = over[:, -1]
        if spec["spectrum"] == "isotropic":
            x = (rows["excess_risk"] / rows["theory_excess_risk_finite_n"]).to_numpy()
            out[f"{family}.matches_hastie"] = np.abs(_means(rows, x, draws) - 1)
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


def values_batch(cfg: Mapping[str, Any]) -> Batch:
    """The Batch of ``values(metrics, cfg)``."""
    return Batch(COLUMNS, lambda t: batch_values(t, cfg))
