"""Benign overfitting in linear regression (Bartlett, Long, Lugosi, Tsigler 2020).

The min-norm interpolator's excess risk vanishes as n grows exactly when the covariance has
high effective rank: r_0 = o(n), k*/n -> 0 and n/R_{k*} -> 0. We sweep n for three covariance
families -- one benign, two not -- plus the fixed-size reference demo, and compute every
excess risk exactly from the spectrum (no test sample).

Jobs: ``demo`` and one per family. Each job's table has one row per (n, seed).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from .. import plots
from ..claims import Claim, make_claim
from ..linear import min_norm_diag_gaussian
from ..tables import Schema
from ..theory import bartlett_quantities, hastie_isotropic_risk, isotropic_min_norm_risk_finite

NAME = "benign_overfitting"

RUN_SCHEMA = Schema(
    name="benign_overfitting.runs",
    columns={
        "family": "str", "spectrum": "str", "n": "int", "p": "int", "seed": "int",
        "noise_var": "float", "train_mse": "float", "excess_risk": "float", "test_mse": "float",
        "null_mse": "float", "norm": "float", "r0": "float", "r0_over_n": "float",
        "k_star": "float", "k_star_over_n": "float", "R_k_star": "float",
        "n_over_R_k_star": "float", "theory_excess_risk": "float",
        "theory_excess_risk_finite_n": "float",
    },
    nullable=frozenset({"k_star", "k_star_over_n", "R_k_star", "n_over_R_k_star",
                        "theory_excess_risk", "theory_excess_risk_finite_n"}),
)
METRICS_SCHEMA = Schema(name="benign_overfitting.metrics", columns=RUN_SCHEMA.columns,
                        nullable=RUN_SCHEMA.nullable)


def jobs(cfg: dict) -> list[str]:
    return ["demo", *cfg["families"]]


def spectrum(spec: dict, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(eigs, beta) of one family at sample size n. beta puts equal weight on the first
    ``signal_dims`` coordinates (the largest eigenvalues) with ||beta||^2 = ``signal_norm2``."""
    kind = spec["spectrum"]
    s = spec["signal_dims"]
    if kind == "spiked":
        # s signal directions of variance signal_eig, plus an isotropic bulk of dimension
        # ceil(n^bulk_dim_exponent) whose total variance is n^bulk_trace_exponent.
        pb = int(math.ceil(n ** spec["bulk_dim_exponent"]))
        bulk_eig = n ** spec["bulk_trace_exponent"] / pb
        eigs = np.concatenate([np.full(s, float(spec["signal_eig"])), np.full(pb, bulk_eig)])
    elif kind == "fixed_spiked":  # the demo: fixed p, bulk eigenvalue given
        eigs = np.concatenate([np.full(s, float(spec["signal_eig"])),
                               np.full(spec["p"] - s, float(spec["bulk_eig"]))])
    elif kind == "isotropic":
        eigs = np.ones(int(round(spec["gamma"] * n)))
    elif kind == "power":
        p = int(math.ceil(n ** spec["dim_exponent"]))
        eigs = np.arange(1, p + 1, dtype=float) ** (-float(spec["alpha"]))
    else:
        raise ValueError(f"unknown spectrum kind {kind!r}")
    if eigs.size <= n:
        raise ValueError(f"spectrum {kind!r} at n={n} has p={eigs.size} <= n: no interpolation")
    beta = np.zeros(eigs.size)
    beta[:s] = math.sqrt(spec.get("signal_norm2", 1.0) / s)
    return eigs, beta


def _job_spec(cfg: dict, job: str) -> tuple[dict, list[int], float]:
    if job == "demo":
        d = cfg["demo"]
        spec = {"spectrum": "fixed_spiked", "signal_dims": d["signal_dims"], "p": d["p"],
                "signal_eig": d["signal_eig"], "bulk_eig": d["bulk_eig"],
                "signal_norm2": float(d["signal_dims"])}  # beta = 1 on each signal coordinate
        return spec, [int(d["n"])], float(d["noise_sd"])
    if job not in cfg["families"]:
        raise ValueError(f"unknown benign_overfitting job {job!r}; expected one of {jobs(cfg)}")
    return cfg["families"][job], [int(n) for n in cfg["sweep_n"]], float(cfg["noise_sd"])


def run(cfg: dict, job: str, log=print, **_) -> pd.DataFrame:
    spec, ns, noise_sd = _job_spec(cfg, job)
    b = float(cfg["bartlett_b"])
    rows = []
    for n in ns:
        eigs, beta = spectrum(spec, n)
        q = bartlett_quantities(eigs, n, b)
        theory = finite = math.nan
        if spec["spectrum"] == "isotropic":
            r2 = float(beta @ beta)
            theory = hastie_isotropic_risk(eigs.size / n, r2, noise_sd**2)
            finite = isotropic_min_norm_risk_finite(n, eigs.size, r2, noise_sd**2)
        t0 = time.perf_counter()
        for seed in cfg["seeds"]:
            # one independent stream per (job, n, seed)
            fit = min_norm_diag_gaussian(n, eigs, beta, noise_sd,
                                         seed=[int(seed), int(n), _job_key(job)])
            rows.append({
                "family": job, "spectrum": spec["spectrum"], "n": n, "p": int(eigs.size),
                "seed": int(seed), "noise_var": noise_sd**2, "train_mse": fit.train_mse,
                "excess_risk": fit.excess_risk, "test_mse": fit.excess_risk + noise_sd**2,
                "null_mse": fit.null_risk + noise_sd**2, "norm": fit.norm, **q,
                "theory_excess_risk": theory, "theory_excess_risk_finite_n": finite,
            })
        log(f"[{NAME}/{job}] n={n} p={eigs.size}: mean excess risk "
            f"{np.mean([r['excess_risk'] for r in rows[-len(cfg['seeds']):]]):.4g} "
            f"({time.perf_counter() - t0:.1f}s for {len(cfg['seeds'])} seeds)")
    return pd.DataFrame(rows).astype({"n": "int64", "p": "int64", "seed": "int64"})


def _job_key(job: str) -> int:
    """A stable integer for a job name (str hash() is salted per process)."""
    return int.from_bytes(job.encode()[:8].ljust(8, b"\0"), "little")


def aggregate(frames: list[pd.DataFrame], cfg: dict) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True).sort_values(["family", "n", "seed"],
                                                            ignore_index=True)


def summary(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over seeds per (family, n), with excess risk in units of the noise variance."""
    m = metrics.assign(excess_over_noise=metrics["excess_risk"] / metrics["noise_var"])
    g = m.groupby(["family", "n"], sort=True)
    out = g.agg(excess_over_noise=("excess_over_noise", "mean"),
                excess_over_noise_sd=("excess_over_noise", "std"),
                excess_risk=("excess_risk", "mean"), noise_var=("noise_var", "first"),
                theory=("theory_excess_risk", "first"),
                theory_finite=("theory_excess_risk_finite_n", "first"),
                k_star_over_n=("k_star_over_n", "first"),
                n_over_R_k_star=("n_over_R_k_star", "first"),
                r0_over_n=("r0_over_n", "first"))
    return out.reset_index()


def loglog_slope(n, y) -> float:
    n, y = np.asarray(n, float), np.asarray(y, float)
    ok = np.isfinite(y) & (y > 0)
    if ok.sum() < 2:
        return math.nan
    return float(np.polyfit(np.log(n[ok]), np.log(y[ok]), 1)[0])


def check(metrics: pd.DataFrame, cfg: dict, scale: str) -> list[Claim]:
    fig = f"figures/{NAME}.png"
    c = cfg["claims"]
    s = summary(metrics)
    demo = metrics[metrics["family"] == "demo"]
    fam = s[s["family"] != "demo"]
    out = [
        make_claim(c["demo_interpolates"], claim="demo_interpolates", experiment=NAME,
                   value=float(demo["train_mse"].max()), figure=fig, scale=scale),
        make_claim(c["demo_beats_null"], claim="demo_beats_null", experiment=NAME,
                   value=float(demo["test_mse"].mean() / demo["null_mse"].mean()), figure=fig,
                   scale=scale),
    ]
    frac = cfg["claims"]["vanishing_fraction"]
    for family, spec in cfg["families"].items():
        f = fam[fam["family"] == family].sort_values("n")
        last = float(f["excess_over_noise"].iloc[-1])
        if spec["benign"]:
            out.append(make_claim(c["benign_slope"], claim=f"{family}.slope", experiment=NAME,
                                  value=loglog_slope(f["n"], f["excess_risk"]), figure=fig,
                                  scale=scale))
            out.append(make_claim(frac, claim=f"{family}.vanishes", experiment=NAME, value=last,
                                  figure=fig, scale=scale,
                                  note=f"n = {int(f['n'].iloc[-1])}"))
        else:
            out.append(make_claim({**frac, "comparison": ">=",
                                   "statement": frac["statement_not_benign"]},
                                  claim=f"{family}.does_not_vanish", experiment=NAME, value=last,
                                  figure=fig, scale=scale, note=f"n = {int(f['n'].iloc[-1])}"))
        if spec["spectrum"] == "isotropic":
            # theory is the same constant at every n (gamma fixed): pool all runs for the
            # level, and report the worst single n in the note
            rows = metrics[metrics["family"] == family]
            pooled = abs(float((rows["excess_risk"] / rows["theory_excess_risk"]).mean()) - 1)
            worst = float(((f["excess_risk"] - f["theory"]).abs() / f["theory"]).max())
            out.append(make_claim(c["isotropic_matches_hastie"], claim=f"{family}.matches_hastie",
                                  experiment=NAME, value=pooled, figure=fig, scale=scale,
                                  note=f"{len(rows)} runs pooled; worst single n off by "
                                       f"{100 * worst:.1f}%"))
    return out


def plot(metrics: pd.DataFrame, cfg: dict, png, pdf) -> None:
    s = summary(metrics)
    fig, (ax_demo, ax_risk, ax_q) = plots.subplots(3, width=5.2, height=4.0)
    colors = dict(zip(cfg["families"], plots.sns.color_palette(plots.PALETTE)))

    demo = metrics[metrics["family"] == "demo"]
    d = cfg["demo"]
    parts = {"train MSE": demo["train_mse"], "test MSE": demo["test_mse"],
             "null predictor\ntest MSE": demo["null_mse"]}
    floor = 1e-4  # the train MSE is ~1e-30: drawn at the floor, its value written above
    for i, (label, vals) in enumerate(parts.items()):
        v = vals.to_numpy()
        ax_demo.bar(i, max(v.mean(), floor), color="0.8", edgecolor="0.3")
        ax_demo.scatter(np.full(v.size, i), np.maximum(v, floor), s=12, color="k", zorder=3)
        ax_demo.annotate(f"{v.mean():.2g}", (i, max(v.mean(), floor)), ha="center",
                         va="bottom", xytext=(0, 3), textcoords="offset points")
    ax_demo.axhline(d["noise_sd"] ** 2, color="C3", ls="--", lw=1, label=r"noise $\sigma^2$")
    ax_demo.set_yscale("log")
    ax_demo.set_ylim(floor, 100)
    ax_demo.set_xticks(range(len(parts)), list(parts))
    ax_demo.set_title(f"(a) min-norm interpolation, n={d['n']}, p={d['p']}")
    ax_demo.set_ylabel("mean squared error")
    ax_demo.legend(loc="upper left")

    for family, spec in cfg["families"].items():
        f = s[s["family"] == family].sort_values("n")
        label = f"{family} ({'benign' if spec['benign'] else 'not benign'})"
        ax_risk.errorbar(f["n"], f["excess_over_noise"], yerr=f["excess_over_noise_sd"],
                         marker="o", ms=4, capsize=2, color=colors[family], label=label)
        if spec["spectrum"] == "isotropic":
            ax_risk.plot(f["n"], f["theory"] / f["noise_var"], ls="--", color="k", lw=1,
                         label=f"Hastie et al. limit, $\\gamma$={spec['gamma']:g}")
        ax_q.plot(f["n"], f["k_star_over_n"] + f["n_over_R_k_star"], marker="o", ms=4,
                  color=colors[family], label=f"{family}: $k^*/n + n/R_{{k^*}}$")
        ax_q.plot(f["n"], f["r0_over_n"], ls=":", marker="s", ms=3, color=colors[family],
                  label=f"{family}: $r_0/n$")
    ax_risk.axhline(cfg["claims"]["vanishing_fraction"]["threshold"], color="0.4", ls=":", lw=1,
                    label="claim threshold")
    ax_risk.set(xscale="log", yscale="log", xlabel="training samples n",
                ylabel=r"excess risk / $\sigma^2$",
                title="(b) excess risk of the min-norm interpolator")
    ax_risk.legend(fontsize=7.5)
    plots.plain_log_ticks(ax_risk)
    ax_q.set(xscale="log", yscale="log", xlabel="training samples n",
             ylabel="Bartlett et al. quantities",
             title="(c) effective ranks (benign: all -> 0)")
    ax_q.legend(fontsize=7, ncol=1, loc="best")
    plots.plain_log_ticks(ax_q, "x")
    plots.save(fig, png, pdf)
