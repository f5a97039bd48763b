"""One benign_overfitting job: the spectrum of a family at each n, and exact min-norm fits;
for the demo job also the reference demo's code path as written."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...linear import min_norm_diag_gaussian
from ...theory import bartlett_quantities, hastie_isotropic_risk, isotropic_min_norm_risk_finite
from .. import RunContext
from . import DemoJob, SweepJob
from .as_written import run_as_written


def spectrum(spec: Mapping[str, Any], n: int) -> tuple[np.ndarray, np.ndarray]:
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
        eigs = np.concatenate(
            [np.full(s, float(spec["signal_eig"])), np.full(spec["p"] - s, float(spec["bulk_eig"]))]
        )
    elif kind == "isotropic":
        eigs = np.ones(int(round(spec["gamma"] * n)))
    elif kind == "fixed_isotropic":  # the demo's comparison: fixed p, all eigenvalues 1
        eigs = np.ones(int(spec["p"]))
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


def run(job: SweepJob | DemoJob, ctx: RunContext) -> pd.DataFrame:
    if isinstance(job, DemoJob):
        return run_demo(job, ctx)
    return _fits(job.id, job.spec, job.sweep_n, job.seeds, job.noise_sd, job.bartlett_b, ctx)


def run_demo(job: DemoJob, ctx: RunContext) -> pd.DataFrame:
    """The corrected demo and its isotropic comparison (seeded fits), then the demo as written."""
    frames = [
        _fits(name, spec, (job.n,), job.seeds, job.noise_sd, job.bartlett_b, ctx)
        for name, spec in job.spectra().items()
    ]
    q = bartlett_quantities(np.ones(job.p), job.n, job.bartlett_b)
    res = run_as_written(
        job.n, job.n_test, job.p, job.signal_dims, job.noise_sd, job.train_seed, job.test_seed
    )
    rows = []
    for key, r in res.items():
        rows.append(
            {
                "family": f"demo_{key}",
                "spectrum": "isotropic_standardised",
                "n": job.n,
                "p": job.p,
                "seed": job.train_seed,
                "noise_var": job.noise_sd**2,
                "train_mse": r["train_mse"],
                # a test-sample estimate here (the others are exact expectations)
                "excess_risk": r["test_mse"] - job.noise_sd**2,
                "test_mse": r["test_mse"],
                "null_mse": r["null_mse"],
                "norm": r["norm"],
                **q,
                "theory_excess_risk": math.nan,
                "theory_excess_risk_finite_n": math.nan,
                "gram_rank": r["gram_rank"],
            }
        )
        ctx.log(
            f"[benign_overfitting/demo] {key}: train MSE {r['train_mse']:.4g}, test MSE "
            f"{r['test_mse']:.4g} (null {r['null_mse']:.4g}), rank X X^T = {r['gram_rank']:.0f}"
        )
    frames.append(pd.DataFrame(rows))
    return pd.concat(frames, ignore_index=True).astype(
        {"n": "int64", "p": "int64", "seed": "int64"}
    )


def _fits(
    family: str,
    spec: Mapping[str, Any],
    ns: tuple[int, ...],
    seeds: tuple[int, ...],
    noise_sd: float,
    b: float,
    ctx: RunContext,
) -> pd.DataFrame:
    rows = []
    for n in ns:
        eigs, beta = spectrum(spec, n)
        q = bartlett_quantities(eigs, n, b)
        theory = finite = math.nan
        if spec["spectrum"] in ("isotropic", "fixed_isotropic"):
            r2 = float(beta @ beta)
            theory = hastie_isotropic_risk(eigs.size / n, r2, noise_sd**2)
            finite = isotropic_min_norm_risk_finite(n, eigs.size, r2, noise_sd**2)
        t0 = time.perf_counter()
        for seed in seeds:
            # one independent stream per (family, n, seed)
            fit = min_norm_diag_gaussian(
                n, eigs, beta, noise_sd, seed=[int(seed), int(n), _job_key(family)]
            )
            rows.append(
                {
                    "family": family,
                    "spectrum": spec["spectrum"],
                    "n": n,
                    "p": int(eigs.size),
                    "seed": int(seed),
                    "noise_var": noise_sd**2,
                    "train_mse": fit.train_mse,
                    "excess_risk": fit.excess_risk,
                    "test_mse": fit.excess_risk + noise_sd**2,
                    "null_mse": fit.null_risk + noise_sd**2,
                    "norm": fit.norm,
                    **q,
                    "theory_excess_risk": theory,
                    "theory_excess_risk_finite_n": finite,
                    "gram_rank": math.nan,
                }
            )
        ctx.log(
            f"[benign_overfitting/{family}] n={n} p={eigs.size}: mean excess risk "
            f"{np.mean([r['excess_risk'] for r in rows[-len(seeds) :]]):.4g} "
            f"({time.perf_counter() - t0:.1f}s for {len(seeds)} seeds)"
        )
    return pd.DataFrame(rows).astype({"n": "int64", "p": "int64", "seed": "int64"})


def _job_key(family: str) -> int:
    """A stable integer for a family name (str hash() is salted per process); only the first 8
    bytes count, so ``demo_isotropic`` gets its own stream apart from ``demo``."""
    return int.from_bytes(family.encode()[:8].ljust(8, b"\0"), "little")
