"""Mode connectivity (issue 11): linear paths and loss barriers between trained networks,
permutation alignment (weight matching), quadratic Bezier curves and SGD stability.

The geometry is ``overparam.connect``; this experiment maps the config to its calls and its
output to one long table of path points: one row per (panel, method, width, spawn step, pair,
alpha), with the loss and error of the network at that point of the path.

- ``demo``: the reference text's second demo as written (``connect.demo_pair``: two
  10-200-200-1 ReLU networks, N(0, 0.1^2) init from seeds 1 and 2, Adam to MSE < 1e-6 on 50
  points), the training MSE along the straight line at a fine grid that contains the demo's
  own alphas (``demo_alpha`` marks them): pair 0. Pairs 1, 2, ... are more independently
  trained pairs of the same setup (the next seeds), for the papers' reading of the demo:
  methods ``linear`` and ``aligned`` (weight matching, as in ``width``).
- ``width``: MNIST-1D, the 40-h-h-10 MLP of double_descent, ``pairs`` independently trained
  pairs per width (all 2 x pairs networks of a width one batched ensemble; SGD with momentum
  and an opt-in linearly decaying learning rate). Methods: ``linear`` (the straight line),
  ``aligned`` (the straight line to network b with its hidden units permuted by weight
  matching, Ainsworth et al. 2023; ``perm_max_abs_diff`` is the largest output change the
  permutation made on the test set) and, for the ``bezier.width`` only, ``bezier`` (a trained
  quadratic Bezier curve, Garipov et al. 2018; ``alpha`` is its t).
- ``lr_select``: the stability panel's learning rate, chosen before it runs: networks trained
  at each lr of ``stability.lr_grid`` on the training set less a validation split carved from
  it, one row each (``val_err``: their validation error; ``selected_lr`` marks the chosen lr,
  the lowest mean validation error over its networks, the smaller lr on a tie).
- ``stability``: Frankle et al. 2020's instability analysis at one width: each pair's parent
  is trained to step k, two copies continue with different data orders (momentum restarts at
  the spawn; the learning rate schedule continues), and the straight line between the two
  copies at the end is evaluated (``spawn_step`` = k), at the chosen lr (``selected_lr``)
  and at the former protocol's ``train.lr`` (one set of rows when they are equal).

Pairs are told apart by ``seed`` (the pair index), so claims resample whole pairs. Barriers
(``claims.barriers``) are computed from the rows: max over alpha of the value minus the chord
between the endpoints (``connect.barrier``'s default), and minus the mean of the endpoints'
values (Frankle et al. 2020's instability; ``reference="mean"``).

Specs: ``demo``, ``w<width>`` per width, ``stability_w<width>``; the demo and the widths up
to 64 (without a Bezier curve) run in one job, ``demo_narrow``.
Modules: ``run`` (the jobs), ``claims`` (barriers and claims), ``figure``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ...data import MNIST1D
from ...tables import Schema
from .. import Experiment, JobSpec, register
from ..sections import from_section

PANELS = ("demo", "width", "lr_select", "stability")
METHODS = ("linear", "aligned", "bezier", "endpoint")
NO_SPAWN = -1  # spawn_step of the rows whose pairs were trained independently
SMALL = "demo_narrow"  # the job of the demo and the widths up to 64 without a Bezier curve

RUN_SCHEMA = Schema(
    name="mode_connectivity.runs",
    columns={
        "panel": "str",
        "method": "str",
        "width": "int",
        "spawn_step": "int",
        "seed": "int",
        "alpha": "float",
        "demo_alpha": "bool",
        "train_loss": "float",
        "test_loss": "float",
        "train_err": "float",
        "test_err": "float",
        "perm_max_abs_diff": "float",
        "lr": "float",
        "selected_lr": "bool",
        "val_err": "float",
    },
    doc={
        "panel": "demo | width | lr_select | stability",
        "method": "linear | aligned | bezier | endpoint (lr_select: one trained network)",
        "width": "hidden units per layer",
        "spawn_step": "stability: the step k the copies were spawned at; else -1",
        "seed": "the pair of networks (its index); lr_select: the network's index at its lr",
        "alpha": "position on the path (bezier: t); 0 = network a, 1 = network b; lr_select: 0",
        "demo_alpha": "one of the reference demo's own alphas (demo rows)",
        "train_loss": "training loss at this point of the path; demo: MSE, MNIST-1D: cross-entropy",
        "test_loss": "loss on the test set (NaN where the panel has none)",
        "train_err": "0-1 error on the training set (NaN for a regression: the demo)",
        "test_err": "0-1 error on the test set (NaN for a regression or without a test set)",
        "perm_max_abs_diff": "aligned: max |f(P w_b) - f(w_b)| on the test set (demo: train set)",
        "lr": "the (peak) learning rate the path's endpoints were trained with",
        "selected_lr": "lr_select and stability: lr is the one the validation rule chose",
        "val_err": "lr_select: 0-1 error on the validation split carved from the training set",
    },
    nullable=frozenset({"test_loss", "train_err", "test_err", "perm_max_abs_diff", "val_err"}),
)


@dataclass(frozen=True)
class DemoJob(JobSpec):
    """The reference demo's pair as written (``connect.demo_pair``) and its straight line."""

    trains: ClassVar[bool] = True
    n: int
    in_dim: int
    hidden: int
    data_seed: int
    seeds: tuple[int, ...]
    std: float
    lr: float
    max_steps: int
    stop_mse: float
    alphas: tuple[float, ...]  # the demo's own
    grid_points: int
    pairs: int  # pair 0: the demo's seeds; pair p >= 1: the next two seeds

    @property
    def id(self) -> str:
        return "demo"

    @property
    def bundle(self) -> str:
        return SMALL


@dataclass(frozen=True)
class SGD:
    """The MNIST-1D training shared by the width and stability jobs."""

    epochs: int
    lr: float
    momentum: float
    batch_size: int
    lr_schedule: str


@dataclass(frozen=True)
class BezierSettings:
    epochs: int
    lr: float
    momentum: float
    weight_decay: float  # Garipov et al.'s L2 penalty on the point phi(t)
    lr_schedule: str  # "garipov" (half constant, linear to 1% at 90%) | "constant"
    batch_size: int
    points: int
    seed: int


@dataclass(frozen=True)
class WidthJob(JobSpec):
    """One width: ``pairs`` pairs, their straight lines before and after weight matching,
    and their Bezier curves when ``bezier`` is set (the config's ``bezier.width``)."""

    trains: ClassVar[bool] = True
    width: int
    pairs: int
    data: MNIST1D
    sgd: SGD
    alphas: int
    matching_seed: int
    bezier: BezierSettings | None

    @property
    def id(self) -> str:
        return f"w{self.width}"

    @property
    def bundle(self) -> str | None:
        # with the demo: ~3-6 s each at quick scale (under 3 s of training); Bezier curves alone
        return SMALL if self.width <= 64 and self.bezier is None else None


@dataclass(frozen=True)
class StabilityJob(JobSpec):
    """One width: parents trained to each spawn epoch, two copies each continued to the end."""

    trains: ClassVar[bool] = True
    width: int
    pairs: int
    spawn_epochs: tuple[int, ...]
    data: MNIST1D
    sgd: SGD  # the former protocol (its lr: train.lr); the chosen lr replaces it
    alphas: int
    lr_grid: tuple[float, ...]
    select_seeds: int
    val_fraction: float
    val_seed: int

    @property
    def id(self) -> str:
        return f"stability_w{self.width}"


Job = DemoJob | WidthJob | StabilityJob


@register
class ModeConnectivity(Experiment[Job]):
    name = "mode_connectivity"
    sort_by = ("panel", "method", "width", "lr", "spawn_step", "seed", "alpha")

    def specs(self, cfg: Mapping[str, Any]) -> Iterator[Job]:
        yield DemoJob.from_section(cfg["demo"])
        sgd = from_section(SGD, cfg["train"])
        b = cfg["bezier"]
        curve = from_section(BezierSettings, b)
        for w in cfg["widths"]:
            bezier = curve if w == b["width"] else None
            yield WidthJob.from_section(cfg, width=w, sgd=sgd, bezier=bezier)
        yield StabilityJob.from_section(
            cfg["stability"], data=cfg["data"], sgd=sgd, alphas=cfg["alphas"]
        )

    def seed_summary(self, cfg: Mapping[str, Any]) -> str:
        return (
            f"{cfg['pairs']} pairs per width, {cfg['stability']['pairs']} per spawn step, "
            f"{cfg['demo']['pairs']} demo pairs (the demo's own and more seeds)"
        )

    def problems(self, cfg: Mapping[str, Any]) -> Iterator[str]:
        if cfg["bezier"]["width"] not in cfg["widths"]:
            yield (
                f"config key 'mode_connectivity.bezier.width': {cfg['bezier']['width']} is not "
                f"one of the widths {cfg['widths']}"
            )
        epochs = cfg["train"]["epochs"]
        late = [k for k in cfg["stability"]["spawn_epochs"] if k >= epochs]
        if late:
            yield (
                f"config key 'mode_connectivity.stability.spawn_epochs': {late} not before the "
                f"end of training ({epochs} epochs)"
            )
        if 0 not in cfg["stability"]["spawn_epochs"]:
            yield (
                "config key 'mode_connectivity.stability.spawn_epochs': must include 0 (the "
                "unstable_at_init claim reads it)"
            )
        grid = cfg["stability"]["lr_grid"]
        if list(grid) != sorted(grid):
            yield (
                f"config key 'mode_connectivity.stability.lr_grid': {grid} is not ascending (a "
                "tie goes to the smaller lr, the first in the grid)"
            )


def choose_lr(lrs, val_errs) -> float:
    """The stability panel's rule, fixed before its runs: the lr whose networks have the
    lowest mean validation error (a NaN, a diverged network, counts as error 1); on a tie the
    smaller lr. ``lrs`` and ``val_errs``: one entry per trained network."""
    by: dict[float, list[float]] = {}
    for lr, e in zip(lrs, val_errs):
        e = float(e)
        by.setdefault(float(lr), []).append(1.0 if e != e else e)  # e != e: NaN
    if not by:
        raise ValueError("choose_lr: no networks")
    return min(sorted(by), key=lambda lr: sum(by[lr]) / len(by[lr]))
