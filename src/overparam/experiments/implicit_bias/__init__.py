"""Implicit bias of gradient descent (issue 12, second half): among the many solutions that
fit the data, which one plain gradient descent picks.

The math is ``overparam.implicit``; this experiment maps the config to its calls and their
output to one long table: one row per (panel, kind, dim, init scale, seed, recorded step).

- ``least_squares``: underdetermined least squares (p > n, Gaussian X and y), full-batch GD in
  float64 from w0 = 0 (kind ``gd_w0_zero``) and from a random w0 (``gd_w0_random``, N(0, s^2 /
  p) with s = ``w0_scale``); ``rel_dist`` is ||w_t - w_lim|| / ||w_lim|| with w_lim = X^+ y +
  (I - X^+ X) w0. Rows of kind ``null_shift`` (step 0) are other interpolants X^+ y + v, v a
  random null-space vector of norm ``shift`` x ||X^+ y|` (``init_scale`` holds the shift):
  their ``loss`` is the same (zero) and their ``norm`` larger.
- ``logistic``: separable logistic regression (Soudry et al. 2018), one job per dimension d,
  all seeds one vectorised float64 run from 0; ``angle`` (radians) to the hard-margin SVM
  direction, solved exactly per seed (``kkt`` is its KKT residual), ``norm`` = ||w_t||,
  ``ref_norm`` = ||w_svm|| (1 / margin).
- ``neural``: one-hidden-layer ReLU networks (NTK parametrisation, no biases) on a small
  regression task, initial weights multiplied by ``init_scale``, full-batch GD to
  interpolation; ``norm`` = ||theta_t||, ``rel_dist`` = ||theta_t - theta_0|| / ||theta_0||.

Jobs: ``least_squares`` and ``logistic_d<d>`` (numpy: rule solve), ``neural`` (torch: rule
train). Modules: ``run`` (the jobs), ``claims``, ``figure``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ...tables import Schema
from .. import Experiment, JobSpec, register

PANELS = ("least_squares", "logistic", "neural")

RUN_SCHEMA = Schema(
    name="implicit_bias.runs",
    columns={
        "panel": "str",
        "kind": "str",
        "dim": "int",
        "init_scale": "float",
        "seed": "int",
        "step": "int",
        "loss": "float",
        "norm": "float",
        "rel_dist": "float",
        "angle": "float",
        "kkt": "float",
        "ref_norm": "float",
    },
    doc={
        "panel": "least_squares | logistic | neural",
        "kind": "gd_w0_zero | gd_w0_random | null_shift | gd: how the solution was reached",
        "dim": "least squares: p; logistic: d; neural: hidden width",
        "init_scale": "w0 scale | null shift | 0 | the network's init scale",
        "seed": "the run's seed (data and initialisation)",
        "step": "gradient descent step, log-spaced (0: null shifts and the networks' init)",
        "loss": "least squares: ||Xw - y||^2 / 2n; logistic: mean loss; neural: MSE",
        "norm": "||w_t|| (neural: ||theta_t||)",
        "rel_dist": "least squares: ||w_t - w_lim|| / ||w_lim||, w_lim = X^+ y + (I - X^+ X) w0;"
        " null shifts: ||v|| / ||X^+ y||; neural: ||theta_t - theta_0|| / ||theta_0||",
        "angle": "logistic: angle to the hard-margin SVM direction (radians)",
        "kkt": "logistic: the SVM's KKT residual",
        "ref_norm": "least squares: ||X^+ y||; logistic: ||w_svm||",
    },
    nullable=frozenset({"rel_dist", "angle", "kkt", "ref_norm"}),
)


@dataclass(frozen=True)
class LeastSquaresJob(JobSpec):
    n: int
    p: int
    seeds: tuple[int, ...]
    steps: int
    w0_scale: float
    null_shifts: tuple[float, ...]
    points: int

    @property
    def id(self) -> str:
        return "least_squares"


@dataclass(frozen=True)
class LogisticJob(JobSpec):
    n: int
    d: int
    seeds: tuple[int, ...]
    steps: int
    lr_factor: float  # lr = lr_factor / L, L the loss's smoothness bound sigma_max(X)^2 / 4n
    points: int

    @property
    def id(self) -> str:
        return f"logistic_d{self.d}"


@dataclass(frozen=True)
class NeuralJob(JobSpec):
    trains: ClassVar[bool] = True
    n: int
    in_dim: int
    width: int
    data_seed: int
    init_scales: tuple[float, ...]
    seeds: tuple[int, ...]
    steps: int
    lr: float  # lr = min(lr / scale^2, max_lr): the NTK grows like scale^2
    max_lr: float
    points: int

    @property
    def id(self) -> str:
        return "neural"


Job = LeastSquaresJob | LogisticJob | NeuralJob


@register
class ImplicitBias(Experiment[Job]):
    name = "implicit_bias"
    sort_by = ("panel", "kind", "dim", "init_scale", "seed", "step")

    def specs(self, cfg: Mapping[str, Any]) -> Iterator[Job]:
        yield LeastSquaresJob.from_section(cfg["least_squares"])
        lg = cfg["logistic"]
        for d in lg["dims"]:
            yield LogisticJob.from_section(lg, d=d)
        yield NeuralJob.from_section(cfg["neural"])

    def seed_summary(self, cfg: Mapping[str, Any]) -> str:
        return (
            f"{len(cfg['least_squares']['seeds'])} seeds (least squares), "
            f"{len(cfg['logistic']['seeds'])} per dimension (logistic), "
            f"{len(cfg['neural']['seeds'])} per init scale (networks)"
        )

    def problems(self, cfg: Mapping[str, Any]) -> Iterator[str]:
        ls = cfg["least_squares"]
        if ls["p"] <= ls["n"]:
            yield (
                f"config key 'implicit_bias.least_squares.p': {ls['p']} must exceed n = "
                f"{ls['n']} (underdetermined)"
            )
        lg = cfg["logistic"]
        if not any(d >= lg["claim_min_dim"] for d in lg["dims"]):
            yield (
                f"config key 'implicit_bias.logistic.dims': none is >= claim_min_dim = "
                f"{lg['claim_min_dim']} (the claims read those)"
            )
        if lg["fit_from_step"] >= lg["steps"]:
            yield "config key 'implicit_bias.logistic.fit_from_step': must be below steps"
        if len(cfg["neural"]["init_scales"]) < 2:
            yield "config key 'implicit_bias.neural.init_scales': need two scales for a slope"
