"""Panel (a): isotropic Gaussian linear regression, n fixed, gamma = p/n swept.

Min-norm least squares against Hastie et al.'s (2019) asymptotic risk, and optimally tuned
ridge (lam* = sigma^2 gamma / r^2, Dobriban & Wager 2018; Nakkiran et al. 2021) against its
closed form (overparam.theory.optimal_ridge_risk). Excess risks are exact (||b_hat - b||^2 for
isotropic x), no test sample.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...linear import ridge
from ...theory import hastie_isotropic_risk, optimal_ridge_lambda, optimal_ridge_risk
from .. import RunContext
from . import LinearJob
from .common import NAME, NAN, PanelClaim, factor_from, run_frame, run_row, sizes


def run_linear(job: LinearJob, ctx: RunContext) -> pd.DataFrame:
    n, r2, sd = job.n, job.snr_r2, job.noise_sd
    s2 = sd * sd
    rows = []
    for p in sizes(n, job.gamma_min, job.gamma_max, job.num_gammas):
        t0 = time.perf_counter()
        g = p / n
        lam = float(optimal_ridge_lambda(g, r2, s2))
        theory = {
            "min_norm": hastie_isotropic_risk(g, r2, s2),
            "optimal_ridge": optimal_ridge_risk(g, r2, s2),
        }
        for seed in range(job.num_seeds):
            rng = np.random.default_rng([int(seed), int(p), 7001])
            beta = rng.standard_normal(p)
            beta *= math.sqrt(r2) / np.linalg.norm(beta)  # uniform direction, ||beta||^2 = r^2
            x = rng.standard_normal((n, p))
            y = x @ beta + sd * rng.standard_normal(n)
            for est, pen in (("min_norm", 0.0), ("optimal_ridge", lam)):
                b = ridge(x, y, pen)
                exc = float(np.sum((b - beta) ** 2))  # isotropic: E[(x^T(b - beta))^2]
                rows.append(
                    run_row(
                        panel="linear",
                        estimator=est,
                        seed=seed,
                        n_train=n,
                        width=int(p),
                        num_params=int(p),
                        gamma=g,
                        params_per_sample=g,
                        ridge_lambda=pen,
                        train_mse=float(np.mean((x @ b - y) ** 2)),
                        test_mse=exc + s2,
                        excess_risk=exc,
                        theory_excess_risk=float(theory[est]),
                        norm=float(np.linalg.norm(b)),
                    )
                )
        ctx.log(
            f"[{NAME}/linear] gamma={g:.3g} p={p}: {job.num_seeds} seeds in "
            f"{time.perf_counter() - t0:.2f}s"
        )
    return run_frame(rows)


def linear_summary(m: pd.DataFrame) -> pd.DataFrame:
    """Per (estimator, gamma): mean, standard error and median of the excess risk, theory."""
    lin = m[m["panel"] == "linear"]
    g = lin.groupby(["estimator", "gamma"], sort=True)["excess_risk"]
    out = g.agg(mean="mean", sd="std", median="median", runs="size").reset_index()
    out["se"] = out["sd"] / np.sqrt(out["runs"])
    th = lin.groupby(["estimator", "gamma"])["theory_excess_risk"].first().reset_index()
    return out.merge(th, on=["estimator", "gamma"])


def _theory_gap(side: pd.DataFrame) -> tuple[float, str]:
    """Mean over the side's gammas of |mean risk / theory - 1|, and the worst gamma in words."""
    if side.empty:
        return NAN, "no gamma on this side outside the band"
    rel = (side["mean"] / side["theory_excess_risk"] - 1).to_numpy()
    i = int(np.abs(rel).argmax())
    return float(np.abs(rel).mean()), (
        f"{len(side)} gammas from {side['gamma'].min():.3g} to {side['gamma'].max():.3g}; "
        f"worst {rel[i]:+.3f} at gamma={side['gamma'].iloc[i]:.3g}"
    )


def linear_claims(metrics: pd.DataFrame, c: Mapping[str, Any]) -> list[PanelClaim]:
    """The five claims of the panel; ``c`` is the config section ``linear``."""
    s = linear_summary(metrics)
    mn = s[s["estimator"] == "min_norm"].sort_values("gamma")
    rr = s[s["estimator"] == "optimal_ridge"].sort_values("gamma")
    band = float(c["exclude_band"])
    under, note_u = _theory_gap(mn[mn["gamma"] <= 1 / band])
    over, note_o = _theory_gap(mn[mn["gamma"] >= band])
    out: list[PanelClaim] = [
        ("linear_matches_hastie_under", under, f"gamma <= {1 / band:.3g}: {note_u}"),
        ("linear_matches_hastie_over", over, f"gamma >= {band:.3g}: {note_o}"),
    ]
    if mn.empty:
        out.append(("linear_peak_at_one", NAN, "no min-norm rows"))
    else:
        i_mean = int(mn["mean"].to_numpy().argmax())
        i_med = int(mn["median"].to_numpy().argmax())
        g_peak = float(mn["gamma"].iloc[i_mean])
        out.append(
            (
                "linear_peak_at_one",
                factor_from(g_peak, 1.0),
                "sanity check (the expected risk is infinite at p = n): peak of the mean "
                f"min-norm risk at gamma={g_peak:.3g} (risk {mn['mean'].iloc[i_mean]:.3g}); "
                f"median peaks at gamma={float(mn['gamma'].iloc[i_med]):.3g}",
            )
        )
    drops = (
        rr["mean"].to_numpy()[:-1]
        - rr["mean"].to_numpy()[1:]
        - 2 * np.hypot(rr["se"].to_numpy()[:-1], rr["se"].to_numpy()[1:])
    )
    out.append(
        (
            "optimal_ridge_monotone",
            int(np.sum(drops > 0)),
            f"ridge risk {rr['mean'].iloc[0]:.3g} at gamma={rr['gamma'].iloc[0]:.3g} -> "
            f"{rr['mean'].iloc[-1]:.3g} at gamma={rr['gamma'].iloc[-1]:.3g}; at gamma nearest 1: "
            f"ridge {rr['mean'].iloc[int(np.abs(np.log(rr['gamma'])).argmin())]:.3g} vs min-norm "
            f"{mn['mean'].iloc[int(np.abs(np.log(mn['gamma'])).argmin())]:.3g}",
        )
    )
    rel_r = (rr["mean"] / rr["theory_excess_risk"] - 1).abs()
    out.append(
        (
            "optimal_ridge_matches_theory",
            float(rel_r.mean()),
            f"{len(rr)} gammas; worst {rel_r.max():.3f} at "
            f"gamma={rr['gamma'].iloc[int(rel_r.to_numpy().argmax())]:.3g}",
        )
    )
    return out


def draw_linear(ax, metrics: pd.DataFrame, c: Mapping[str, Any]) -> None:
    """Panel (a) on ``ax``: mean excess risk per gamma of both estimators and their limits."""
    from ... import plots

    c_mn, c_rr, c_th = "C0", "C2", "k"
    s = linear_summary(metrics)
    r2, s2 = float(c["snr_r2"]), float(c["noise_sd"]) ** 2
    for est, col, lab in (
        ("min_norm", c_mn, "min-norm"),
        ("optimal_ridge", c_rr, r"optimal ridge $\lambda^*=\sigma^2\gamma/r^2$"),
    ):
        e = s[s["estimator"] == est]
        ax.errorbar(
            e["gamma"],
            e["mean"],
            yerr=e["se"],
            fmt="o",
            ms=3.5,
            capsize=1.5,
            color=col,
            label=f"{lab} (mean of {int(e['runs'].max())} seeds)",
        )
    g = np.geomspace(s["gamma"].min(), s["gamma"].max(), 600)
    g = g[np.abs(g - 1) > 2e-3]
    th = hastie_isotropic_risk(g, r2, s2)
    ax.plot(g[g < 1], th[g < 1], color=c_th, lw=1.2, label="Hastie et al. limit (min-norm)")
    ax.plot(g[g > 1], th[g > 1], color=c_th, lw=1.2)
    ax.plot(
        g,
        optimal_ridge_risk(g, r2, s2),
        color=c_th,
        ls="--",
        lw=1.2,
        label="optimal ridge limit (MP)",
    )
    ax.axvline(1, color="0.6", ls=":", lw=1)
    ax.axhline(r2, color="0.6", ls="-.", lw=0.8, label=r"null risk $r^2$")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel=r"$\gamma = p/n$",
        ylabel=r"excess risk $\|\hat\beta-\beta\|^2$",
        ylim=(max(1e-3, 0.3 * s["mean"].min()), 30 * max(r2, s2)),
        title=f"(a) linear regression, n={c['n']}, SNR $r^2/\\sigma^2$={r2 / s2:g}",
    )
    ax.legend(fontsize=7, loc="lower right")
    plots.plain_log_ticks(ax, "x")
