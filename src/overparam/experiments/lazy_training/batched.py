"""The claim values of lazy_training for every bootstrap draw at once
(:class:`overparam.claims.Batch`): the means over seeds per (regime, quantity, width) by one
group-by over draw as well, the slopes per draw on numpy arrays and the widest width's pooled
mean by ``Series.mean``'s own sum: the values of ``values`` bit for bit. A table whose draws
do not all have the same (regime, quantity, width) cells declines (None)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...batching import draw_bounds, draws_of, series_mean
from ...claims import DRAW, Batch, slope

NAN = float("nan")


def batch_values(table: pd.DataFrame) -> dict[str, np.ndarray] | None:
    """``values`` of every draw of ``table``."""
    draws = draws_of(table)
    g = table.groupby([DRAW, "regime", "quantity", "width"])["value"].mean()
    cells = table[["regime", "quantity", "width"]].drop_duplicates()
    if not len(cells) or len(g) != draws * len(cells):
        return None
    m = g.unstack("width")
    w = m.columns.to_numpy(dtype=float)
    rq = [(r, q) for _, r, q in m.index[: len(m) // draws]]
    vals = m.to_numpy().reshape(draws, len(rq), len(w))
    ntk = table[(table["regime"] == "ntk") & (table["quantity"] == "kr_gap")]
    widest = ntk[ntk["width"] == ntk["width"].max()] if len(ntk) else ntk
    b, x = draw_bounds(widest, draws), widest["value"].to_numpy()
    out = []
    for d in range(draws):
        s = {f"{r}.{q}": slope(w, vals[d, i]) for i, (r, q) in enumerate(rq)}
        layers = [v for k, v in s.items() if k.startswith("ntk.weight_change_l")]
        v = {f"slope.{k}": y for k, y in s.items()}
        v["weight_change_vanishes"] = max(layers) if layers and not np.isnan(layers).any() else NAN
        v["ntk_change_vanishes"] = s.get("ntk.ntk_change", NAN)
        v["linearisation_gap_vanishes"] = s.get("ntk.lin_gap", NAN)
        v["kernel_regression_match"] = series_mean(x[b[d] : b[d + 1]]) if len(widest) else NAN
        v["scaled_leaves_lazy"] = s.get("scaled.ntk_change", NAN)
        out.append(v)
    return {k: np.array([v[k] for v in out], dtype=float) for k in out[0]}


BATCH = Batch(("regime", "quantity", "width", "value"), batch_values)
