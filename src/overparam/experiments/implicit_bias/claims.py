"""Claims of implicit_bias. Every value is a function of the metrics rows, recomputed by
``ctx.estimates`` on tables whose seeds are resampled (per panel: each panel has its own
seeds)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from ...claims import Claim, Estimate, slope
from .. import CheckContext

NAME = "implicit_bias"
NAN = float("nan")

CLAIMS = (
    "ls_reaches_limit",
    "ls_min_norm",
    "svm_kkt",
    "logistic_angle",
    "angle_inv_log_fit",
    "norm_log_fit",
    "norm_rate_is_svm_norm",
    "neural_interpolate",
    "neural_lazy_displacement",
)


def final(df: pd.DataFrame, keys=("kind", "dim", "init_scale", "seed")) -> pd.DataFrame:
    """The last recorded step of every run."""
    return df.sort_values("step").groupby(list(keys), sort=True).tail(1)


def fit_r2(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(R^2, slope) of the least-squares line y ~ a + b x."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or not np.all(np.isfinite(y)):
        return NAN, NAN
    b, a = np.polyfit(x, y, 1)
    ss = float(np.sum((y - y.mean()) ** 2))
    return (1.0 - float(np.sum((y - a - b * x) ** 2)) / ss if ss > 0 else NAN), float(b)


def fit_rate(t: np.ndarray, norm: np.ndarray) -> tuple[float, float, float]:
    """(a, b, c) of the least-squares fit ||w_t|| ~ a log t + b + c / log t: the finite-t form
    of Soudry et al.'s w_t = w_svm log t + rho_t with rho_t tending to a constant vector
    (||w_svm L + r|| = ||w_svm|| L + const + O(1 / L) in L = log t), so a estimates
    ||w_svm||; NaN with fewer than four points or a non-finite norm."""
    t, y = np.asarray(t, dtype=float), np.asarray(norm, dtype=float)
    if len(t) < 4 or not np.all(np.isfinite(y)) or np.any(t <= 1):
        return NAN, NAN, NAN
    L = np.log(t)
    a, b, c = np.linalg.lstsq(np.column_stack([L, np.ones_like(L), 1.0 / L]), y, rcond=None)[0]
    return float(a), float(b), float(c)


def ls_values(m: pd.DataFrame) -> dict[str, float]:
    ls = m[m["panel"] == "least_squares"]
    gd = final(ls[ls["kind"] != "null_shift"])
    zero = gd[gd["kind"] == "gd_w0_zero"].set_index("seed")["norm"]
    other = ls[ls["kind"] == "null_shift"]
    ratio = other["norm"].to_numpy() / zero.reindex(other["seed"]).to_numpy()
    rand = gd[gd["kind"] == "gd_w0_random"]
    return {
        "ls_reaches_limit": float(gd["rel_dist"].max()) if len(gd) else NAN,
        "ls_min_norm": float(np.min(ratio)) if len(ratio) else NAN,
        "other_loss_max": float(other["loss"].max()) if len(other) else NAN,
        "gd_loss_max": float(gd["loss"].max()) if len(gd) else NAN,
        "random_w0_norm_ratio": float((rand["norm"] / rand["ref_norm"]).mean())
        if len(rand)
        else NAN,
    }


def logistic_curves(m: pd.DataFrame, min_dim: int, from_step: int) -> dict[int, pd.DataFrame]:
    """Per dimension >= min_dim: the mean over seeds of angle and norm per step >= from_step."""
    lg = m[(m["panel"] == "logistic") & (m["dim"] >= min_dim) & (m["step"] >= from_step)]
    return {int(d): g.groupby("step")[["angle", "norm"]].mean() for d, g in lg.groupby("dim")}


def logistic_values(m: pd.DataFrame, cfg: Mapping[str, Any]) -> dict[str, float]:
    lg_cfg = cfg["logistic"]
    lg = m[(m["panel"] == "logistic") & (m["dim"] >= lg_cfg["claim_min_dim"])]
    v: dict[str, float] = {"svm_kkt": float(lg["kkt"].max()) if len(lg) else NAN}
    end = final(lg)
    per_dim = end.groupby("dim")["angle"].mean()
    v["logistic_angle"] = float(per_dim.max()) if len(per_dim) else NAN
    r2a, r2n, rate = [], [], []
    svm_norm = lg.groupby("dim")["ref_norm"].mean()
    for d, c in logistic_curves(m, lg_cfg["claim_min_dim"], lg_cfg["fit_from_step"]).items():
        t = c.index.to_numpy(dtype=float)
        ra, sa = fit_r2(1.0 / np.log(t), c["angle"].to_numpy())
        rn, sn = fit_r2(np.log(t), c["norm"].to_numpy())
        r2a.append(ra)
        r2n.append(rn)
        ref = float(svm_norm.get(d, NAN))
        a, _, cc = fit_rate(t, c["norm"].to_numpy())
        v[f"norm_rate_d{d}"] = a / ref
        v[f"norm_rate_plain_d{d}"] = sn / ref  # the old rule: the plain slope on log t
        v[f"norm_rate_corr_d{d}"] = cc
        rate.append(abs(v[f"norm_rate_d{d}"] - 1.0))
        v[f"angle_slope_d{d}"], v[f"norm_slope_d{d}"] = sa, sn
        v[f"angle_r2_d{d}"], v[f"norm_r2_d{d}"] = ra, rn
    v["angle_inv_log_fit"] = float(np.min(r2a)) if r2a else NAN
    v["norm_log_fit"] = float(np.min(r2n)) if r2n else NAN
    v["norm_rate_is_svm_norm"] = float(np.max(rate)) if rate else NAN
    return v


def neural_values(m: pd.DataFrame, cfg: Mapping[str, Any]) -> dict[str, float]:
    nn = final(m[m["panel"] == "neural"])
    ok = nn["loss"] < float(cfg["claims_setup"]["interpolation_mse"])
    v = {"neural_interpolate": float(ok.mean()) if len(nn) else NAN}
    moved = nn[ok].groupby("init_scale")["rel_dist"].mean()
    mean = nn[ok].groupby("init_scale")["norm"].mean()
    scales = moved.index.to_numpy(dtype=float)
    v["neural_lazy_displacement"] = slope(scales, moved.to_numpy(), strict=True)
    # the old claim's value (the norm's slope), where the displacement's is defined
    ok = not np.isnan(v["neural_lazy_displacement"])
    v["norm_slope"] = slope(scales, mean.to_numpy(), strict=True) if ok else NAN
    return v


def values(m: pd.DataFrame, cfg: Mapping[str, Any], panel: str) -> dict[str, float]:
    if panel == "least_squares":
        return ls_values(m)
    if panel == "logistic":
        return logistic_values(m, cfg)
    return neural_values(m, cfg)


def _notes(v: Mapping[str, float], m: pd.DataFrame, cfg: Mapping[str, Any]) -> dict[str, str]:
    lg = cfg["logistic"]
    dims = [d for d in lg["dims"] if d >= lg["claim_min_dim"]]
    low = final(m[(m["panel"] == "logistic") & (m["dim"] < lg["claim_min_dim"])])
    low_s = "; ".join(
        f"d={d} (illustration, not claimed): mean final angle {a:.3g} rad"
        for d, a in low.groupby("dim")["angle"].mean().items()
    )
    fits = "; ".join(
        f"d={d}: R^2 {v.get(f'angle_r2_d{d}', NAN):.4f}, slope on 1/log t "
        f"{v.get(f'angle_slope_d{d}', NAN):.3g}"
        for d in dims
    )
    nfits = "; ".join(
        f"d={d}: R^2 {v.get(f'norm_r2_d{d}', NAN):.5f}, slope on log t "
        f"{v.get(f'norm_slope_d{d}', NAN):.3g}"
        for d in dims
    )
    ang = final(m[(m["panel"] == "logistic") & (m["dim"] >= lg["claim_min_dim"])])
    per = "; ".join(f"d={d}: {a:.3g}" for d, a in ang.groupby("dim")["angle"].mean().items())
    nn = final(m[m["panel"] == "neural"])
    norms = ", ".join(f"{s:g}: {x:.3g}" for s, x in nn.groupby("init_scale")["norm"].mean().items())
    moved = ", ".join(
        f"{s:g}: {x:.3g}" for s, x in nn.groupby("init_scale")["rel_dist"].mean().items()
    )
    return {
        "ls_reaches_limit": f"GD from w0 = 0 and from a random w0, {cfg['least_squares']['steps']}"
        f" steps in float64; final training loss at most {v['gd_loss_max']:.2g}",
        "ls_min_norm": f"null-space-shifted interpolants fit as well (largest loss "
        f"{v['other_loss_max']:.2g}); GD from a random w0 ends at {v['random_w0_norm_ratio']:.3g} x "
        "the minimum norm",
        "svm_kkt": f"dual coordinate ascent, d in {dims}",
        "logistic_angle": f"mean final angle (rad) after {lg['steps']} steps per d: {per}; {low_s}",
        "angle_inv_log_fit": f"mean angle vs 1/log t for t >= {lg['fit_from_step']}: {fits}",
        "norm_log_fit": f"mean ||w_t|| vs log t for t >= {lg['fit_from_step']}: {nfits}",
        "norm_rate_is_svm_norm": "fitted rate a of mean ||w_t|| ~ a log t + b + c / log t "
        f"(t >= {lg['fit_from_step']}) / mean ||w_svm|| per d: "
        + "; ".join(
            f"d={d}: {v.get(f'norm_rate_d{d}', NAN):.4g} (c = {v.get(f'norm_rate_corr_d{d}', NAN):.3g}"
            f"; old rule, plain slope on log t: {v.get(f'norm_rate_plain_d{d}', NAN):.4g})"
            for d in dims
        ),
        "neural_interpolate": "fraction of networks with final train MSE < "
        f"{cfg['claims_setup']['interpolation_mse']:g}",
        "neural_lazy_displacement": "mean ||theta_T - theta_0|| / ||theta_0|| per init scale: "
        f"{moved}; mean final ||theta_T||: {norms} (the old claim, log-log slope of ||theta_T|| "
        f"on the scale: {v.get('norm_slope', NAN):.3g})",
    }


def check(metrics: pd.DataFrame, cfg: Mapping[str, Any], ctx: CheckContext) -> list[Claim]:
    from .batched import panel_batch

    est: dict[str, Estimate] = {}
    v: dict[str, float] = {}
    for panel in ("least_squares", "logistic", "neural"):
        rows = metrics[metrics["panel"] == panel]
        batch = panel_batch(panel, cfg)
        e = ctx.estimates(partial(values, cfg=cfg, panel=panel), rows, batch=batch)
        est.update(e)
        v.update({k: x.value for k, x in e.items()})
    notes = _notes(v, metrics, cfg)
    return ctx.claims(NAME, {c: c for c in CLAIMS}, est, notes)


def rows(cfg: Mapping[str, Any]) -> dict[str, str]:
    """The metrics rows each claim's value is computed from (a pandas query per claim id;
    ``overparam explain`` shows them)."""
    lg = f'panel == "logistic" and dim >= {int(cfg["logistic"]["claim_min_dim"])}'
    fit = f"{lg} and step >= {int(cfg['logistic']['fit_from_step'])}"
    return {
        "ls_reaches_limit": 'panel == "least_squares" and kind != "null_shift"',
        "ls_min_norm": 'panel == "least_squares" and kind in ["null_shift", "gd_w0_zero"]',
        "svm_kkt": lg,
        "logistic_angle": lg,
        "angle_inv_log_fit": fit,
        "norm_log_fit": fit,
        "norm_rate_is_svm_norm": lg,  # the curves from fit_from_step, ||w_svm|| from every step
        "neural_interpolate": 'panel == "neural"',
        "neural_lazy_displacement": 'panel == "neural"',
    }
