"""Benign overfitting in linear regression (Bartlett, Long, Lugosi & Tsigler 2020).

The min-norm interpolator's excess risk vanishes as n grows exactly when the covariance has
high effective rank: r_0 = o(n), k*/n -> 0 and n/R_{k*} -> 0. We sweep n for three covariance
families -- one benign, two not -- plus the fixed-size reference demo, and compute every
excess risk exactly from the spectrum (no test sample).

Jobs: ``demo`` (the reference demo: as written, the project's corrected spiked version and an
isotropic design of the same n, p) and one per family (its name). Each job's table has one
row per (family, n, seed). Modules: ``run`` (spectra and fits), ``as_written`` (the
reference demo's code path), ``claims``, ``figure``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ...tables import Schema
from .. import Experiment, JobSpec, register

RUN_SCHEMA = Schema(
    name="benign_overfitting.runs",
    columns={
        "family": "str",
        "spectrum": "str",
        "n": "int",
        "p": "int",
        "seed": "int",
        "noise_var": "float",
        "train_mse": "float",
        "excess_risk": "float",
        "test_mse": "float",
        "null_mse": "float",
        "norm": "float",
        "r0": "float",
        "r0_over_n": "float",
        "k_star": "float",
        "k_star_over_n": "float",
        "R_k_star": "float",
        "n_over_R_k_star": "float",
        "theory_excess_risk": "float",
        "theory_excess_risk_finite_n": "float",
        "gram_rank": "float",
    },
    doc={
        "family": "demo, demo_isotropic, demo_as_written, demo_as_written_same_w or a covariance family (its config key)",
        "spectrum": "spiked | isotropic | power | fixed_spiked | fixed_isotropic: how the eigenvalues are built",
        "n": "training samples",
        "p": "dimension (number of eigenvalues of the covariance)",
        "seed": "the fit seed (design and noise draw)",
        "noise_var": "sigma^2, the variance of the label noise",
        "train_mse": "training MSE of the min-norm interpolant (0 up to round-off when it interpolates)",
        "excess_risk": "exact E[(x^T(b_hat - b))^2] from the spectrum (as-written rows: test MSE - sigma^2 on the demo's test points)",
        "test_mse": "excess_risk + sigma^2",
        "null_mse": "test MSE of the zero predictor",
        "norm": "||b_hat||, the norm of the min-norm interpolant",
        "r0": "effective rank r_0 of the covariance (Bartlett et al. 2020)",
        "r0_over_n": "r_0 / n",
        "k_star": "critical index k* (Bartlett et al. 2020); NaN if none below p",
        "k_star_over_n": "k* / n",
        "R_k_star": "effective rank R_{k*}",
        "n_over_R_k_star": "n / R_{k*}",
        "theory_excess_risk": "isotropic: asymptotic excess risk (Hastie et al. 2019, Theorem 1); else NaN",
        "theory_excess_risk_finite_n": "isotropic: exact expected excess risk at this (n, p); else NaN",
        "gram_rank": "numerical rank of the standardised X X^T (as-written rows only; else NaN)",
    },
    nullable=frozenset(
        {
            "k_star",
            "k_star_over_n",
            "R_k_star",
            "n_over_R_k_star",
            "theory_excess_risk",
            "theory_excess_risk_finite_n",
            "gram_rank",
        }
    ),
)


@dataclass(frozen=True)
class SweepJob(JobSpec):
    """One covariance family (``spec``: its config entry, or the demo's fixed spectrum) fitted
    at every n of ``sweep_n`` for every seed. ``name`` is the job id and the ``family``
    column."""

    name: str
    spec: Mapping[str, Any]
    sweep_n: tuple[int, ...]
    seeds: tuple[int, ...]
    noise_sd: float
    bartlett_b: float

    @property
    def id(self) -> str:
        return self.name


@dataclass(frozen=True)
class DemoJob(JobSpec):
    """The reference demo at fixed (n, p): the project's corrected version (family ``demo``:
    spiked covariance), the same interpolator on an isotropic design of the same n, p
    (``demo_isotropic``), and the demo's code as written (``demo_as_written*``, one run from its
    own seeds ``train_seed``/``test_seed`` with ``n_test`` test points)."""

    n: int
    p: int
    signal_dims: int
    signal_eig: float
    bulk_eig: float
    noise_sd: float
    seeds: tuple[int, ...]
    bartlett_b: float
    n_test: int
    train_seed: int
    test_seed: int

    @property
    def id(self) -> str:
        return "demo"

    def spectra(self) -> dict[str, dict[str, Any]]:
        """The two seeded families' spectrum specs; beta = 1 on each signal coordinate."""
        base = {
            "signal_dims": self.signal_dims,
            "p": self.p,
            "signal_norm2": float(self.signal_dims),
        }
        return {
            "demo": {
                **base,
                "spectrum": "fixed_spiked",
                "signal_eig": self.signal_eig,
                "bulk_eig": self.bulk_eig,
            },
            "demo_isotropic": {**base, "spectrum": "fixed_isotropic"},
        }


@register
class BenignOverfitting(Experiment[SweepJob | DemoJob]):
    name = "benign_overfitting"
    sort_by = ("family", "n", "seed")

    def specs(self, cfg: Mapping[str, Any]) -> Iterator[SweepJob | DemoJob]:
        d = cfg["demo"]
        yield DemoJob.from_section(
            d, **d["as_written"], seeds=cfg["seeds"], bartlett_b=cfg["bartlett_b"]
        )
        for name, fam in cfg["families"].items():
            yield SweepJob.from_section(cfg, name=name, spec=fam)

    def problems(self, cfg: Mapping[str, Any]) -> Iterator[str]:
        d = cfg["demo"]
        if d["p"] <= d["n"]:
            yield (
                f"config key 'benign_overfitting.demo.p': p={d['p']} must exceed n={d['n']} "
                "for min-norm interpolation"
            )
        if d["signal_dims"] >= d["p"]:
            yield (
                f"config key 'benign_overfitting.demo.signal_dims': {d['signal_dims']} must be "
                f"smaller than p={d['p']}"
            )
        for name, fam in cfg["families"].items():
            if fam["spectrum"] == "spiked" and fam["benign"] and fam["bulk_trace_exponent"] >= 1:
                yield (
                    f"config key 'benign_overfitting.families.{name}.bulk_trace_exponent': "
                    f"{fam['bulk_trace_exponent']} >= 1 makes r_0 grow like n, so the family "
                    "cannot be benign; use a value < 1 or set benign: false"
                )
