"""The sweep claims' values for every bootstrap draw at once (:class:`overparam.claims.Batch`):
one group-by median over (draw, width) of all draws' per-run rows (a median is a function of
the values, not of their order), then ``_violations`` per draw: the values of
``sweep_values`` bit for bit; the same for the NTK runs' ``kernel_values``. A table whose
draws do not all have every width declines."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ...claims import DRAW, Batch, slope
from .claims import KERNEL_CLAIMS, SWEEP_CLAIMS, _violations, demo_claim_key

COLUMNS = (
    "setup",
    "parametrization",
    "width",
    "epochs_to_threshold",
    "max_epoch",
    "final_train_loss",
    "diverged",
)


def sweep_batch(table: pd.DataFrame, setup: str, param: str, floor: float, draws: int):
    """{claim: one value per draw} of the sweep (setup, param) of ``table``; None: a draw
    lacks a width the others have."""
    r = table[(table["setup"] == setup) & (table["parametrization"] == param)]
    if r.empty:
        return dict.fromkeys(SWEEP_CLAIMS, np.full(draws, np.nan))
    w = (
        r.assign(median_epochs=r["epochs_to_threshold"].fillna(r["max_epoch"] + 1))
        .rename(columns={"final_train_loss": "median_final_loss"})
        .groupby([DRAW, "width"], sort=True)[["median_epochs", "median_final_loss"]]
        .median()
    )
    widths = r["width"].nunique()
    present = r[DRAW].nunique()
    if len(w) != present * widths:
        return None
    diverged = r.groupby(DRAW)["diverged"].any().reindex(range(draws), fill_value=False)
    out = {k: np.full(draws, np.nan) for k in SWEEP_CLAIMS}
    epochs = w["median_epochs"].to_numpy().reshape(present, widths)
    loss = w["median_final_loss"].to_numpy().reshape(present, widths)
    for i, d in enumerate(w.index.get_level_values(DRAW)[::widths]):
        if not diverged.iloc[d]:
            out["epochs_decrease"][d] = _violations(epochs[i])
            out["final_loss_decreases"][d] = _violations(loss[i], floor)
    return out


def sweeps_batch(setup: str, params: Iterable[str], floor: float, demo: bool) -> Batch:
    """The batch of ``sweep_values`` (one sweep, ``demo`` False) or ``demo_values`` (every
    demo parametrization, keyed by ``demo_claim_key``)."""
    params = list(params)

    def values(table: pd.DataFrame) -> dict[str, np.ndarray] | None:
        draws = int(table[DRAW].max()) + 1 if len(table) else 0
        out: dict[str, np.ndarray] = {}
        for p in params:
            got = sweep_batch(table, setup, p, floor, draws)
            if got is None:
                return None
            out |= {(demo_claim_key(p, k) if demo else k): v for k, v in got.items()}
        return out

    return Batch(COLUMNS, values)


KERNEL_MEDIANS = ["time_gap", "curve_gap", "t_net", "t_limit"]


def kernel_batch(table: pd.DataFrame) -> dict[str, np.ndarray] | None:
    """``kernel_values`` of every draw of ``table`` (stacked ``kernel_per_run`` rows)."""
    draws = int(table[DRAW].max()) + 1 if len(table) else 0
    out = {k: np.full(draws, np.nan) for k in KERNEL_CLAIMS}
    w = table.groupby([DRAW, "width"], sort=True)[KERNEL_MEDIANS].median()
    widths = np.unique(table["width"].to_numpy())
    if len(w) != draws * len(widths):
        return None
    diverged = table.groupby(DRAW)["diverged"].any().to_numpy()
    med = {c: w[c].to_numpy().reshape(draws, -1) for c in KERNEL_MEDIANS}
    for d in np.flatnonzero(~diverged):
        t_net, t_limit = med["t_net"][d, -1], med["t_limit"][d, -1]
        out["ntk_time_gap_widest"][d] = float(med["time_gap"][d, -1])
        out["ntk_time_gap_rate"][d] = slope(widths, med["time_gap"][d], strict=True)
        out["ntk_curve_gap_rate"][d] = slope(widths, med["curve_gap"][d], strict=True)
        out["ntk_median_time_vs_limit"][d] = float(abs(t_net - t_limit) / t_limit)
    return out


KERNEL_BATCH = Batch(("width", "diverged", *KERNEL_MEDIANS), kernel_batch)
