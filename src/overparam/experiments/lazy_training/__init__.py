"""Lazy training and the neural tangent kernel (issue 12, first half; Jacot et al. 2018, Lee
et al. 2019, Chizat et al. 2019).

A width sweep of 2-hidden-layer ReLU MLPs (in_dim-w-w-1, ``models``' NTK parametrisation),
trained by full-batch gradient descent on the MSE of a small regression task (``data``: points
on the sphere of radius sqrt(in_dim), a smooth target standardised to unit variance), one
member per seed, all seeds one batched ensemble. The math is ``overparam.ntk``. Per (regime,
width, seed) the job records, as rows of a long table (``quantity``, ``value``):

- ``weight_change_l<i>``: ||W_T - W_0||_F / ||W_0||_F of layer i (1 = input layer);
- ``ntk_change``: ||Theta_T - Theta_0||_F / ||Theta_0||_F on the probe set (train + test);
- ``lin_gap``: RMS over the test points of f_T - f_lin,T, f_lin the linearisation around the
  initialisation trained the same way (same loss, lr and steps);
- ``kr_gap``: RMS over the test points of f_T minus the closed form of gradient flow with
  Theta_0 for the same time (lr x steps); the targets have unit variance, so the gaps are
  relative to the targets' scale;
- ``train_loss``: the final training MSE.

Regimes: ``ntk`` (output multiplier 1) and ``scaled`` (Chizat et al. 2019: the output
multiplied by alpha = sqrt(widths[0] / width) and the learning rate divided by alpha^2, so
the function-space dynamics at initialisation are those of the ``ntk`` regime while the
parameters must move 1/alpha times further: the network leaves the lazy regime).

Specs: ``w<width>`` per width (both regimes); widths up to 256 run in one job, ``w_narrow``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ...tables import Schema
from .. import Experiment, JobSpec, register

REGIMES = ("ntk", "scaled")

RUN_SCHEMA = Schema(
    name="lazy_training.runs",
    columns={
        "regime": "str",
        "width": "int",
        "output_scale": "float",
        "lr": "float",
        "seed": "int",
        "quantity": "str",
        "value": "float",
    },
    doc={
        "regime": "ntk (output multiplier 1) | scaled (output times alpha, Chizat et al. 2019)",
        "width": "hidden units per layer",
        "output_scale": "the output multiplier alpha",
        "lr": "the learning rate used (lr / alpha^2)",
        "seed": "the member's seed (its initialisation)",
        "quantity": "weight_change_l<i> | ntk_change | lin_gap | kr_gap | train_loss "
        "(see the experiment's docstring)",
        "value": "the quantity's value: a relative change, an RMS gap or the final train MSE",
    },
)


@dataclass(frozen=True)
class Task:
    """The regression task: ``train`` + ``test`` points on the sphere, from ``seed``."""

    in_dim: int
    train: int
    test: int
    seed: int


@dataclass(frozen=True)
class WidthJob(JobSpec):
    trains: ClassVar[bool] = True
    width: int
    ref_width: int  # the scaled regime's alpha = sqrt(ref_width / width)
    depth: int  # hidden layers
    seeds: tuple[int, ...]
    task: Task
    lr: float
    steps: int
    regimes: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"w{self.width}"

    @property
    def bundle(self) -> str | None:
        # under 4 s each at quick scale, ~12 s together at paper scale; w512 and wider alone
        return "w_narrow" if self.width <= 256 else None


@register
class LazyTraining(Experiment[WidthJob]):
    name = "lazy_training"
    sort_by = ("regime", "quantity", "width", "seed")

    def specs(self, cfg: Mapping[str, Any]) -> Iterator[WidthJob]:
        for w in cfg["widths"]:
            yield WidthJob.from_section(
                cfg, width=w, ref_width=min(cfg["widths"]), task=cfg["data"], regimes=REGIMES
            )

    def problems(self, cfg: Mapping[str, Any]) -> Iterator[str]:
        if list(cfg["widths"]) != sorted(cfg["widths"]):
            yield "config key 'lazy_training.widths': list the widths in increasing order"
