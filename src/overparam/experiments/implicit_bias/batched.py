"""The least-squares and logistic panels' values for every bootstrap draw at once
(:class:`overparam.claims.Batch`): each draw's final rows in ``final``'s own order
(:func:`overparam.batching.last_rows`), then one group-by over (draw, condition) for every
mean over seeds, and the fits per draw on numpy arrays: the values of ``ls_values`` and
``logistic_values`` bit for bit. Maxima and minima do not depend on the order. A table whose
draws do not all have the same conditions declines (None)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...batching import draw_bounds, draws_of, last_rows, run_codes, series_mean
from ...claims import DRAW, Batch
from .claims import NAN, fit_r2, fit_rate

KEYS = ("kind", "dim", "init_scale", "seed")  # final's run keys
COLUMNS = ("panel", *KEYS, "step", "loss", "norm", "rel_dist", "angle", "kkt", "ref_norm")


def finals(table: pd.DataFrame, draws: int) -> pd.DataFrame | None:
    """Every draw's ``final(rows of that draw)``, stacked in draw order."""
    codes = run_codes(table, KEYS)
    if codes is None:
        return None
    step, bounds, take = table["step"].to_numpy(), draw_bounds(table, draws), []
    for d in range(draws):
        lo, hi = bounds[d], bounds[d + 1]
        rows = last_rows(step[lo:hi], codes[lo:hi])
        if rows is None:
            return None
        take.append(lo + rows)
    return table.iloc[np.concatenate(take) if take else []]


def _per_draw(s: pd.Series, draws: int) -> np.ndarray:
    """A per-draw reduction as one value per draw (NaN: the draw has no such rows)."""
    return s.reindex(range(draws)).to_numpy(dtype=float)


def ls_batch(table: pd.DataFrame) -> dict[str, np.ndarray] | None:
    """``ls_values`` of every draw of ``table``."""
    draws = draws_of(table)
    ls = table[table["panel"] == "least_squares"]
    gd = finals(ls[ls["kind"] != "null_shift"], draws)
    if gd is None:
        return None
    other = ls[ls["kind"] == "null_shift"]
    zero = gd[gd["kind"] == "gd_w0_zero"]
    if zero.duplicated([DRAW, "seed"]).any():
        return None  # ls_values's reindex would fail
    z = zero.set_index([DRAW, "seed"])["norm"]
    at = pd.MultiIndex.from_arrays([other[DRAW], other["seed"]])
    ratio = pd.Series(other["norm"].to_numpy() / z.reindex(at).to_numpy(), index=other[DRAW])
    g = ratio.groupby(level=0)
    ls_min = _per_draw(g.min().where(~g.apply(lambda r: r.isna().any())), draws)
    rand = gd[gd["kind"] == "gd_w0_random"]
    r = (rand["norm"] / rand["ref_norm"]).to_numpy()
    b = draw_bounds(rand, draws)
    return {
        "ls_reaches_limit": _per_draw(gd.groupby(DRAW)["rel_dist"].max(), draws),
        "ls_min_norm": ls_min,
        "other_loss_max": _per_draw(other.groupby(DRAW)["loss"].max(), draws),
        "gd_loss_max": _per_draw(gd.groupby(DRAW)["loss"].max(), draws),
        "random_w0_norm_ratio": np.array([series_mean(r[b[d] : b[d + 1]]) for d in range(draws)]),
    }


def _fits(v: dict, d: int, t: np.ndarray, angle: np.ndarray, norm: np.ndarray, ref: float):
    """``logistic_values``'s fits of dimension ``d`` into ``v``; (R^2 angle, R^2 norm, rate)."""
    ra, sa = fit_r2(1.0 / np.log(t), angle)
    rn, sn = fit_r2(np.log(t), norm)
    a, _, cc = fit_rate(t, norm)
    v[f"norm_rate_d{d}"] = a / ref
    v[f"norm_rate_plain_d{d}"] = sn / ref
    v[f"norm_rate_corr_d{d}"] = cc
    v[f"angle_slope_d{d}"], v[f"norm_slope_d{d}"] = sa, sn
    v[f"angle_r2_d{d}"], v[f"norm_r2_d{d}"] = ra, rn
    return ra, rn, abs(v[f"norm_rate_d{d}"] - 1.0)


def logistic_batch(table: pd.DataFrame, cfg: Mapping[str, Any]) -> dict[str, np.ndarray] | None:
    """``logistic_values`` of every draw of ``table``."""
    lg_cfg = cfg["logistic"]
    draws = draws_of(table)
    lg = table[(table["panel"] == "logistic") & (table["dim"] >= lg_cfg["claim_min_dim"])]
    end = finals(lg, draws)
    cur = lg[lg["step"] >= lg_cfg["fit_from_step"]]
    curves = cur.groupby([DRAW, "dim", "step"])[["angle", "norm"]].mean()
    cells = cur[["dim", "step"]].drop_duplicates()
    if end is None or len(curves) != draws * len(cells) or lg.empty:
        return None
    kkt = _per_draw(lg.groupby(DRAW)["kkt"].max(), draws)
    per_dim = end.groupby([DRAW, "dim"])["angle"].mean().groupby(level=0).max()
    svm_norm = lg.groupby([DRAW, "dim"])["ref_norm"].mean()
    dims = np.unique(cells["dim"].to_numpy())
    steps = {d: np.unique(cells.loc[cells["dim"] == d, "step"].to_numpy()) for d in dims}
    angle = curves["angle"].to_numpy().reshape(draws, -1)
    norm = curves["norm"].to_numpy().reshape(draws, -1)
    out: list[dict[str, float]] = []
    for i in range(draws):
        v = {"svm_kkt": float(kkt[i]), "logistic_angle": float(per_dim.get(i, NAN))}
        r2a, r2n, rate, at = [], [], [], 0
        for d in dims:
            t = steps[d].astype(float)
            n = len(t)
            ref = float(svm_norm.get((i, d), NAN))
            fit = _fits(v, int(d), t, angle[i, at : at + n], norm[i, at : at + n], ref)
            at += n
            r2a.append(fit[0])
            r2n.append(fit[1])
            rate.append(fit[2])
        v["angle_inv_log_fit"] = float(np.min(r2a)) if r2a else NAN
        v["norm_log_fit"] = float(np.min(r2n)) if r2n else NAN
        v["norm_rate_is_svm_norm"] = float(np.max(rate)) if rate else NAN
        out.append(v)
    return {k: np.array([v[k] for v in out], dtype=float) for k in out[0]}


def panel_batch(panel: str, cfg: Mapping[str, Any]) -> Batch | None:
    """The Batch of ``values(rows, cfg, panel)`` (None for the neural panel: few seeds)."""
    if panel == "least_squares":
        return Batch(COLUMNS, ls_batch)
    if panel == "logistic":
        return Batch(COLUMNS, lambda t: logistic_batch(t, cfg))
    return None
