"""The demo's pair values for every bootstrap draw at once (:class:`overparam.claims.Batch`):
one group-by over (draw, method) of all draws' barriers, each draw's rows in the order
``demo_pair_values`` sees them (``barriers``' own), so the same means bit for bit."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...claims import DRAW, Batch
from .claims import PATH, demo_pair_ratio


def demo_pair_batch(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """``demo_pair_values`` of every draw of ``table`` (the draws' stacked barriers)."""
    b = table[table["panel"] == "demo"].sort_values([DRAW, *PATH])
    draws = int(table[DRAW].max()) + 1 if len(table) else 0
    by = b.groupby([DRAW, "method"])["barrier_mean_train_loss"].mean()
    full = pd.MultiIndex.from_product([range(draws), ["linear", "aligned"]])
    mean = by.reindex(full).to_numpy().reshape(draws, 2)
    rows = [demo_pair_ratio(float(lin), float(al)) for lin, al in mean]
    return {k: np.array([r[k] for r in rows]) for k in rows[0]} if rows else {}


DEMO_BATCH = Batch(("panel", "method", *PATH, "barrier_mean_train_loss"), demo_pair_batch)
