"""Width versus depth at a fixed parameter budget, on MNIST-1D.

For every budget P in the config and every depth L (hidden layers) the job trains ReLU MLPs
40-h-...-h-10 whose width h is the one that brings the parameter count closest to P (weights
and biases; ``matched_width``). A budget that no width matches within ``budget_tolerance``
(1% in the shipped configs) is a config error before any work starts: the count moves in steps
of about 2 (L - 1) h + 50 parameters, too coarse for a small budget at depth 6.

Two protocols, one column ``protocol`` of the table:

- ``fit`` (He et al.'s degradation; the old shape row): all seeds of a (budget, depth) pair
  train as one batched ensemble on 4000 samples for many epochs (Adam on the cross-entropy,
  the same learning rate, batch size and epochs for every shape); train and test loss and
  accuracy are recorded every ``eval_every`` epochs. Specs ``b<budget>_d<depth>``, one job
  per budget (``b<budget>``, a bundle of its depths in turn).
- ``onepass`` (Kaplan et al.'s shape claim): one pass over a large fresh draw, every seed at
  every learning rate of a grid as one ensemble per depth, validation and test loss measured
  at evenly spaced checkpoints; the claims choose the learning rate and the stopping point on
  the validation split. One job per budget, its depths in turn: ``onepass_b<budget>``.

Modules: ``run`` (training), ``claims``, ``figure``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ...data import MNIST1D
from ...tables import Schema
from .. import Experiment, JobSpec, register
from ..sections import from_section

IN_DIM, OUT_DIM = 40, 10  # MNIST-1D: 40 inputs, 10 classes

PROTOCOLS = ("fit", "onepass")

RUN_SCHEMA = Schema(
    name="width_vs_depth.runs",
    columns={
        "protocol": "str",
        "budget": "int",
        "depth": "int",
        "width": "int",
        "num_params": "int",
        "seed": "int",
        "lr": "float",
        "epoch": "int",
        "step": "int",
        "train_loss": "float",
        "val_loss": "float",
        "test_loss": "float",
        "train_acc": "float",
        "val_acc": "float",
        "test_acc": "float",
        "diverged": "bool",
    },
    nullable=frozenset({"train_loss", "val_loss", "test_loss", "train_acc", "val_acc", "test_acc"}),
    doc={
        "protocol": "'fit': many epochs on 4000 samples (He et al.; the old shape row); "
        "'onepass': one pass over fresh samples, lr and stopping point chosen on validation "
        "(Kaplan et al.)",
        "budget": "the parameter budget P the shape was matched to",
        "depth": "hidden layers L (1 = one hidden layer)",
        "width": "hidden units per layer: the width whose parameter count is closest to P",
        "num_params": "trainable parameters of one network (weights and biases); within "
        "budget_tolerance of P",
        "seed": "the member's seed (its init and its batch order)",
        "lr": "Adam learning rate (fit: the same for every shape; onepass: one value of the "
        "grid, the initial lr of the linear decay)",
        "epoch": "epochs of training done when the row was recorded (0 = initialisation; "
        "onepass: 0 until the pass is complete)",
        "step": "optimizer steps done when the row was recorded",
        "train_loss": "mean cross-entropy (nats) on the training set; NaN once diverged "
        "(onepass: measured at initialisation and at the end only, NaN between)",
        "val_loss": "mean cross-entropy (nats) on the validation split (onepass only; NaN for "
        "fit rows and once diverged)",
        "test_loss": "mean cross-entropy (nats) on the test set; NaN once diverged",
        "train_acc": "accuracy (fraction) on the training set; NaN once diverged (onepass: "
        "at initialisation and at the end only)",
        "val_acc": "accuracy (fraction) on the validation split (onepass only)",
        "test_acc": "accuracy (fraction) on the test set; NaN once diverged",
        "diverged": "the member's loss became non-finite or exploded (overparam.train)",
    },
)


def mlp_params(width: int, depth: int, in_dim: int = IN_DIM, out_dim: int = OUT_DIM) -> int:
    """Weights and biases of an in_dim-width-...-width-out_dim MLP with ``depth`` hidden
    layers: (in + 1) w + (L - 1)(w + 1) w + (w + 1) out."""
    if width < 1 or depth < 1:
        raise ValueError(f"width and depth must be >= 1, got width={width}, depth={depth}")
    return (in_dim + 1) * width + (depth - 1) * (width + 1) * width + (width + 1) * out_dim


def nearest_width(budget: int, depth: int, in_dim: int = IN_DIM, out_dim: int = OUT_DIM) -> int:
    """The width whose parameter count is closest to ``budget`` (the smaller one on a tie).
    The count is increasing in the width, so the answer is next to the real root of
    (L - 1) w^2 + (in + L + out) w + out = budget."""
    a, b, c = depth - 1, in_dim + depth + out_dim, out_dim - budget
    root = -c / b if a == 0 else (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    candidates = {max(1, math.floor(root) + k) for k in (-2, -1, 0, 1, 2)}
    return min(candidates, key=lambda w: (abs(mlp_params(w, depth, in_dim, out_dim) - budget), w))


def matched_width(budget: int, depth: int, tolerance: float) -> int:
    """``nearest_width``, or a ValueError saying why no width matches the budget within
    ``tolerance`` (a fraction of the budget)."""
    w = nearest_width(budget, depth)
    p = mlp_params(w, depth)
    if abs(p - budget) > tolerance * budget:
        step = mlp_params(w + 1, depth) - p
        raise ValueError(
            f"budget {budget} cannot be matched at depth {depth} within {tolerance:.1%}: the "
            f"nearest width {w} has {p} parameters ({(p - budget) / budget:+.2%}) and one more "
            f"unit adds {step}; use a larger budget or a larger budget_tolerance"
        )
    return w


@dataclass(frozen=True)
class DepthJob(JobSpec):
    """One budget and depth, all seeds: the data and the training shared by all shapes."""

    trains: ClassVar[bool] = True
    budget: int
    depth: int
    width: int
    seeds: tuple[int, ...]
    data: MNIST1D
    lr: float
    batch_size: int
    epochs: int
    eval_every: int

    @property
    def id(self) -> str:
        return f"b{self.budget}_d{self.depth}"

    @property
    def bundle(self) -> str:
        # every depth of a budget in one job: 3-6 s each at quick scale (1-3 s of it training),
        # the six of the largest paper budget ~6.5 min together (docs/paper-scale.md)
        return f"b{self.budget}"


@dataclass(frozen=True)
class OnePassJob(JobSpec):
    """One budget, every depth of the one-pass protocol in turn; per depth one ensemble of
    every (learning rate, seed) pair (lr-major: member i has lr ``lrs[i // len(seeds)]``)."""

    trains: ClassVar[bool] = True
    budget: int
    depths: tuple[int, ...]
    widths: tuple[int, ...]
    seeds: tuple[int, ...]
    lrs: tuple[float, ...]
    data: MNIST1D
    val_samples: int
    batch_size: int
    epochs: int
    lr_schedule: str
    checkpoints: int

    @property
    def id(self) -> str:
        return f"onepass_b{self.budget}"


@register
class WidthVsDepth(Experiment[DepthJob | OnePassJob]):
    name = "width_vs_depth"
    sort_by = ("protocol", "budget", "depth", "lr", "seed", "step")

    def specs(self, cfg: Mapping[str, Any]) -> Iterator[DepthJob | OnePassJob]:
        tol = cfg["budget_tolerance"]
        for budget in cfg["budgets"]:
            for depth in cfg["depths"]:
                width = matched_width(budget, depth, tol)
                yield DepthJob.from_section(cfg, budget=budget, depth=depth, width=width)
        o = cfg["onepass"]
        for budget in cfg["budgets"]:
            widths = tuple(matched_width(budget, L, tol) for L in o["depths"])
            yield OnePassJob.from_section(o, budget=budget, widths=widths, seeds=cfg["seeds"])

    def problems(self, cfg: Mapping[str, Any]) -> Iterator[str]:
        o = cfg["onepass"]
        all_depths = sorted(set(cfg["depths"]) | set(o["depths"]))
        for budget in cfg["budgets"]:
            for depth in all_depths:
                try:
                    matched_width(budget, depth, cfg["budget_tolerance"])
                except ValueError as e:
                    yield f"config key 'width_vs_depth.budgets': {e}"
        ref = cfg["claims_setup"]["reference_depth"]
        if ref not in cfg["depths"] or ref >= max(cfg["depths"]):
            yield (
                f"config key 'width_vs_depth.claims_setup.reference_depth': {ref} must be one "
                f"of the depths {cfg['depths']} and below the deepest"
            )
        shape = [L for L in cfg["depths"] if L >= cfg["claims_setup"]["shape_min_depth"]]
        if len(shape) < 2:
            yield (
                "config key 'width_vs_depth.claims_setup.shape_min_depth': fewer than two "
                f"depths of {cfg['depths']} are at or above it"
            )
        n_train = from_section(MNIST1D, o["data"]).n_train
        if o["val_samples"] >= n_train:
            yield (
                f"config key 'width_vs_depth.onepass.val_samples': {o['val_samples']} leaves no "
                f"training samples of the {n_train} in the training part"
            )
        elif n_train - o["val_samples"] < o["batch_size"]:
            yield (
                "config key 'width_vs_depth.onepass.batch_size': larger than the "
                f"{n_train - o['val_samples']} training samples"
            )
