"""The claim values of every double_descent panel for every bootstrap draw at once
(:class:`overparam.claims.Batch`): one group-by over (draw, condition) of all draws' runs,
then the claims' arithmetic per draw on numpy arrays. The same operations as
``linear_claims``, ``rf_claims`` and ``mlp_claims`` in the same order, so the same values
bit for bit; the notes are left out (the bootstrap reads only values). A table whose draws
do not all have every condition declines (None): the bootstrap then calls the panel's
claims per draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...claims import DRAW, Batch
from .common import NAN, factor_from
from .mlp import MLP_CLAIMS
from .random_features import FAMILY_CLAIMS, KERNEL_COLS, PREFIX, kernel_summary

RF_COLS = ["gamma", "test_mse", "test_error", "train_mse", "norm"]  # as in rf_summary


def _series_mean(x: np.ndarray) -> float:
    """pandas Series.mean without bottleneck: the NaN-skipping numpy sum over the count."""
    ok = ~np.isnan(x)
    n = int(ok.sum())
    return float(np.where(ok, x, 0.0).sum() / n) if n else NAN


def _grid(s: pd.DataFrame, draws: int, cells: int) -> bool:
    """Every draw has each of the ``cells`` conditions (the summary is a full grid)."""
    return len(s) == draws * cells and draws > 0 and cells > 0


def _linear_gap(mean: np.ndarray, theory: np.ndarray, sel: np.ndarray) -> float:
    if not sel.any():
        return NAN
    rel = mean[sel] / theory[sel] - 1
    return float(np.abs(rel).mean())


def linear_values(table: pd.DataFrame, c: Mapping[str, Any]) -> dict[str, np.ndarray] | None:
    """``linear_claims``'s values for every draw of ``table`` (see the module docstring): the
    linear panel's runs only (the check passes those; a long table, so no panel column)."""
    lin = table
    draws = int(table[DRAW].max()) + 1 if len(table) else 0
    est = sorted(lin["estimator"].unique().tolist())
    gammas = np.unique(lin["gamma"].to_numpy())
    g = lin.groupby([DRAW, "estimator", "gamma"], sort=True)
    s = g["excess_risk"].agg(mean="mean", sd="std", median="median", runs="size")
    if est != ["min_norm", "optimal_ridge"] or not _grid(s, draws, 2 * len(gammas)):
        return None
    th = g["theory_excess_risk"].first().to_numpy().reshape(draws, 2, -1)
    mean = s["mean"].to_numpy().reshape(draws, 2, -1)
    se = (s["sd"] / np.sqrt(s["runs"])).to_numpy().reshape(draws, 2, -1)
    band = float(c["exclude_band"])
    under, over = gammas <= 1 / band, gammas >= band
    out: dict[str, list] = {
        k: []
        for k in (
            "linear_matches_hastie_under",
            "linear_matches_hastie_over",
            "linear_peak_at_one",
            "optimal_ridge_monotone",
            "optimal_ridge_matches_theory",
        )
    }
    for d in range(draws):
        mn, rr, se_r = mean[d, 0], mean[d, 1], se[d, 1]
        out["linear_matches_hastie_under"].append(_linear_gap(mn, th[d, 0], under))
        out["linear_matches_hastie_over"].append(_linear_gap(mn, th[d, 0], over))
        out["linear_peak_at_one"].append(factor_from(float(gammas[int(mn.argmax())]), 1.0))
        drops = rr[:-1] - rr[1:] - 2 * np.hypot(se_r[:-1], se_r[1:])
        out["optimal_ridge_monotone"].append(int(np.sum(drops > 0)))
        out["optimal_ridge_matches_theory"].append(_series_mean(np.abs(rr / th[d, 1] - 1)))
    return {k: np.array(v, dtype=float) for k, v in out.items()}


def _best_under(width: np.ndarray, v: np.ndarray, n: int) -> float | None:
    under = v[width < n]
    return float(under[int(under.argmin())]) if len(under) else None


def _ratio_to_best(last: float, best: float | None, widest: int, n: int) -> float:
    if best is None or widest < n:
        return NAN
    return float(last / best) if best > 0 else NAN


def _same_kernel_rows(table: pd.DataFrame, panel: str) -> bool:
    """The kernel-limit rows are identical across seeds (one copy per feature-draw seed), so
    every draw's kernel summary is the runs' own."""
    k = table[(table["panel"] == panel) & (table["estimator"] == "kernel_limit")]
    v = k[KERNEL_COLS].to_numpy()
    return bool(((v == v[:1]) | (np.isnan(v) & np.isnan(v[:1]))).all())


def rf_values(
    table: pd.DataFrame, c: Mapping[str, Any], kern: pd.Series | None, panel: str
) -> dict[str, np.ndarray] | None:
    """``rf_claims``'s values for every draw of ``table`` (see the module docstring);
    ``kern``: the kernel limit's summary of the runs (``kernel_summary``)."""
    p = PREFIX[panel]
    keys = [f"{p}_{k}" for k in FAMILY_CLAIMS]
    n = int(c["n_train"])
    rf = table[(table["panel"] == panel) & (table["estimator"] == "min_norm")]
    draws = int(table[DRAW].max()) + 1 if len(table) else 0
    widths = np.unique(rf["width"].to_numpy())
    f = rf.groupby([DRAW, "width"], sort=True)[RF_COLS].mean()
    if not _same_kernel_rows(table, panel) or not _grid(f, draws, len(widths)):
        return None
    cols = {col: f[col].to_numpy().reshape(draws, -1) for col in ("test_mse", "test_error", "norm")}
    widest = int(widths[-1])
    out: dict[str, list] = {k: [] for k in keys}
    for d in range(draws):
        mse, err, norm = cols["test_mse"][d], cols["test_error"][d], cols["norm"][d]
        out[keys[0]].append(factor_from(float(widths[int(mse.argmax())]), n))
        out[keys[1]].append(factor_from(float(widths[int(norm.argmax())]), n))
        best, best_e = _best_under(widths, mse, n), _best_under(widths, err, n)
        out[keys[2]].append(_ratio_to_best(mse[-1], best, widest, n))
        out[keys[3]].append(_ratio_to_best(err[-1], best_e, widest, n))
        if kern is None or best is None or best_e is None:
            out[keys[4]].append(NAN)
        else:
            out[keys[4]].append(float(kern["test_mse"] / best) if best > 0 else NAN)
    return {k: np.array(v, dtype=float) for k, v in out.items()}


def _landmarks(width: np.ndarray, train: np.ndarray, test: np.ndarray, interp: float):
    """``mlp_landmarks``'s (h_interp, err_min, h_peak, err_peak, err_last) of one draw."""
    keep = ~np.isnan(test)
    width, train, test = width[keep], train[keep], test[keep]
    if not len(width):
        return NAN, NAN, NAN, NAN, NAN
    hit = np.flatnonzero(train <= interp)
    if not len(hit):
        return NAN, NAN, NAN, NAN, float(test[-1])
    i_min = int(test[: max(int(hit[0]), 1)].argmin())
    i_peak = i_min + int(test[i_min:].argmax())
    return (
        float(width[hit[0]]),
        float(test[i_min]),
        float(width[i_peak]),
        float(test[i_peak]),
        float(test[-1]),
    )


def mlp_values(table: pd.DataFrame, c: Mapping[str, Any]) -> dict[str, np.ndarray] | None:
    """``mlp_claims``'s values for every draw of ``table`` (see the module docstring)."""
    mlp = table[table["panel"] == "mlp"]
    draws = int(table[DRAW].max()) + 1 if len(table) else 0
    last = mlp[mlp["epoch"] == mlp.groupby([DRAW, "width"])["epoch"].transform("max")]
    f = last.groupby([DRAW, "width"], sort=True)[["train_error", "test_error"]].mean()
    widths = np.unique(mlp["width"].to_numpy())
    if not len(widths) or len(f) != draws * len(widths):
        return None
    bad = last["diverged"].astype(bool) | last["test_error"].isna()
    runs = bad.groupby([last[DRAW], last["width"], last["seed"]]).any().groupby(level=0)
    frac = (runs.sum() / runs.size()).reindex(range(draws)).to_numpy()
    train = f["train_error"].to_numpy().reshape(draws, -1)
    test = f["test_error"].to_numpy().reshape(draws, -1)
    out = {k: np.full(draws, NAN) for k in MLP_CLAIMS}
    for d in np.flatnonzero(frac <= float(c["max_diverged_fraction"])):
        h_int, e_min, h_peak, e_peak, e_last = _landmarks(
            widths.astype(float), train[d], test[d], float(c["interp_train_error"])
        )
        out["mlp_peak_near_interpolation"][d] = factor_from(h_peak, h_int)
        out["mlp_peak_height"][d] = e_peak - e_min
        out["mlp_second_descent"][d] = e_last - e_min
    return out


MLP_COLS = ("panel", "width", "epoch", "train_error", "test_error", "diverged")
LINEAR_COLS = ("estimator", "gamma", "excess_risk", "theory_excess_risk")
FAMILY_COLS = ("panel", "estimator", "width", *RF_COLS, *KERNEL_COLS)


def panel_batch(panel: str, runs: pd.DataFrame, c: Mapping[str, Any]) -> Batch | None:
    """The batch of ``panel``'s claim values (None: the panel has none); ``runs``: the
    panel's runs, ``c``: its config section."""
    if panel == "linear":
        return Batch(LINEAR_COLS, lambda t: linear_values(t, c))
    if panel == "mlp":
        return Batch(MLP_COLS, lambda t: mlp_values(t, c))
    if panel in PREFIX:
        kern = kernel_summary(runs, panel)
        return Batch(FAMILY_COLS, lambda t: rf_values(t, c, kern, panel))
    return None
