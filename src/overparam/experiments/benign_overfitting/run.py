"""One benign_overfitting job: the spectrum of a family at each n, and exact min-norm fits."""

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
from . import SweepJob


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


def run(job: SweepJob, ctx: RunContext) -> pd.DataFrame:
    spec, ns, noise_sd, b, seeds = job.spec, job.sweep_n, job.noise_sd, job.bartlett_b, job.seeds
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
        for seed in seeds:
            # one independent stream per (job, n, seed)
            fit = min_norm_diag_gaussian(
                n, eigs, beta, noise_sd, seed=[int(seed), int(n), _job_key(job.id)]
            )
            rows.append(
                {
                    "family": job.id,
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
                }
            )
        ctx.log(
            f"[benign_overfitting/{job.id}] n={n} p={eigs.size}: mean excess risk "
            f"{np.mean([r['excess_risk'] for r in rows[-len(seeds) :]]):.4g} "
            f"({time.perf_counter() - t0:.1f}s for {len(seeds)} seeds)"
        )
    return pd.DataFrame(rows).astype({"n": "int64", "p": "int64", "seed": "int64"})


def _job_key(job: str) -> int:
    """A stable integer for a job name (str hash() is salted per process)."""
    return int.from_bytes(job.encode()[:8].ljust(8, b"\0"), "little")
