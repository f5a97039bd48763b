"""Flat minima and the batch size (issue 13, part 2; Keskar et al. 2017, ICLR).

MNIST-1D, the 40-w-w-10 ReLU MLP of double_descent, plain SGD (no momentum, so the stability
limit of a step is exactly 2 / lr) on the cross-entropy, swept over batch sizes. All seeds of
one batch size are one batched ensemble (same initialisations at every batch size, so runs
are paired by seed). Every run trains until its full-batch training loss first falls below
``stop_train_loss`` (``TrainConfig.stop_train_loss`` freezes the member there, checked about
every ``eval_steps`` steps), so solutions are compared at the same training loss, not after
the same number of epochs. Two rules set the learning rate:

- ``fixed``: lr at every batch size (Keskar et al.'s setting: only the batch size changes);
- ``scaled``: lr x B / ref_batch (lr / B constant, Goyal et al. 2017's linear scaling rule;
  Jastrzebski et al. 2017 and Smith & Le 2018 find the outcome follows lr / B).

A run's step budget is ``max_steps`` x max(1, lr / its lr) (the same "time" lr x steps), and
its stop is checked every ``eval_steps`` x max(1, lr / its lr) steps (the same interval of
time). The scaled rule is anchored at ``ref_batch``; the configs set it to the largest batch,
so that no scaled lr exceeds the fixed one (the small-lr regime of the lr / B argument).
Per (rule, batch size, seed) the job records, as rows of a long table (``quantity``, ``x``,
``value``): ``reached`` (1 if the target was reached), ``steps`` (optimizer steps at the
evaluation where it was), ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc`` (full
sets, at the end), ``top_eig`` (top eigenvalue of the training-loss Hessian on a fixed subset
of ``hessian.samples`` training points, ``overparam.sharpness``), ``stability_limit`` (2 / lr)
and ``eps_sharpness`` (Keskar et al.'s, on the same subset; ``x`` = eps; the box maximum by
``sharpness.optimizer``: projected sign ascent or L-BFGS-B). ``slice_train_loss``
and ``slice_test_loss`` rows (``x`` = alpha) are the losses on the line from the smallest
batch's solution (alpha 0) to the largest batch's (alpha 1) of the same seed; they carry the
largest batch size and its lr. A diverged or unreached run's quantities other than
``reached`` and ``steps`` are NaN for diverged runs and recorded (but not claimed) otherwise.

Jobs: ``fixed_lr`` and ``scaled_lr`` (each trains every batch size, so that the slice joins
the two ends of its own sweep), and ``edge_of_stability`` (Cohen et al. 2021): full-batch
gradient descent on a training subset of ``edge_of_stability.samples`` points (the first of
the Hessian subset's permutation), at each of ``edge_of_stability.lrs``, until the subset's
training accuracy reaches ``stop_train_acc`` or the time budget lr x steps reaches
``max_time``; every ``eig_time`` / lr steps (and at the start and the stop) the top Hessian
eigenvalue of the subset's loss (power iteration warm-started from the previous eigenvector).
Its rows have rule ``gd``, ``batch_size`` = the subset size, ``x`` = the step, and quantity
``gd_sharpness``, ``gd_train_loss`` or ``gd_train_acc``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ...data import MNIST1D
from ...tables import Schema
from .. import Experiment, JobSpec, register

RULES = ("fixed", "scaled")
GD_RULE = "gd"  # the edge-of-stability job's rows

RUN_SCHEMA = Schema(
    name="flat_minima.runs",
    columns={
        "rule": "str",
        "batch_size": "int",
        "lr": "float",
        "seed": "int",
        "quantity": "str",
        "x": "float",
        "value": "float",
    },
    nullable=frozenset({"x", "value"}),
    doc={
        "rule": "learning-rate rule: fixed (lr at every batch size) | scaled (lr x B / ref_batch)"
        " | gd (full-batch gradient descent on a training subset, edge of stability)",
        "batch_size": "mini-batch size B (slice rows: the largest batch of the sweep; gd rows: the"
        " subset size, one batch)",
        "lr": "the learning rate of this run (plain SGD)",
        "seed": "initialisation and batch-order seed; runs of one seed share the init",
        "quantity": "reached | steps | train_loss | train_acc | test_loss | test_acc | top_eig"
        " | stability_limit | eps_sharpness | slice_train_loss | slice_test_loss | gd_sharpness"
        " | gd_train_loss | gd_train_acc",
        "x": "eps of eps_sharpness; alpha of slice rows (0 smallest batch, 1 largest); the step"
        " of gd rows; else NaN",
        "value": "the quantity (losses: mean cross-entropy in nats; top_eig and 2/lr: 1/lr"
        " units; eps_sharpness: percent); NaN for a diverged run",
    },
)


@dataclass(frozen=True)
class Hessian:
    samples: int  # training points of the fixed subset (the first of a seeded permutation)
    iters: int  # power iterations (at most)
    tol: float  # relative change that stops them
    seed: int  # subset and start vector


@dataclass(frozen=True)
class Sharpness:
    eps: tuple[float, ...]
    steps: int  # projected ascent steps, or L-BFGS-B iterations
    optimizer: str = "sign_ascent"  # sign_ascent | lbfgsb


@dataclass(frozen=True)
class SweepJob(JobSpec):
    trains: ClassVar[bool] = True
    rule: str
    batch_sizes: tuple[int, ...]
    lr: float
    ref_batch: int
    seeds: tuple[int, ...]
    data: MNIST1D
    width: int
    depth: int
    stop_train_loss: float
    max_steps: int
    eval_steps: int
    hessian: Hessian
    sharpness: Sharpness
    slice_alphas: tuple[float, ...]

    @property
    def id(self) -> str:
        return f"{self.rule}_lr"

    def lr_at(self, batch_size: int) -> float:
        return self.lr if self.rule == "fixed" else self.lr * batch_size / self.ref_batch


@dataclass(frozen=True)
class EdgeOfStabilityJob(JobSpec):
    trains: ClassVar[bool] = True
    lrs: tuple[float, ...]
    seeds: tuple[int, ...]
    data: MNIST1D
    width: int
    depth: int
    samples: int  # the training subset (first of the Hessian subset's permutation)
    subset_seed: int
    stop_train_acc: float
    max_time: float  # budget in lr x steps
    eig_time: float  # sharpness every eig_time / lr steps
    iters: int  # power iterations per check (at most)
    tol: float

    @property
    def id(self) -> str:
        return "edge_of_stability"

    def eig_every(self, lr: float) -> int:
        return max(1, round(self.eig_time / lr))

    def max_steps(self, lr: float) -> int:
        return max(1, round(self.max_time / lr))


@register
class FlatMinima(Experiment[SweepJob | EdgeOfStabilityJob]):
    name = "flat_minima"
    sort_by = ("rule", "quantity", "batch_size", "x", "seed")

    def specs(self, cfg: Mapping[str, Any]) -> Iterator[SweepJob | EdgeOfStabilityJob]:
        sl = cfg["slice"]
        n, lo, hi = sl["points"], sl["lo"], sl["hi"]
        alphas = tuple(round(lo + (hi - lo) * i / (n - 1), 12) for i in range(n))
        for rule in RULES:
            yield SweepJob.from_section(cfg, rule=rule, slice_alphas=alphas)
        yield EdgeOfStabilityJob.from_section(
            cfg["edge_of_stability"],
            data=cfg["data"],
            width=cfg["width"],
            depth=cfg["depth"],
            subset_seed=cfg["hessian"]["seed"],
        )

    def problems(self, cfg: Mapping[str, Any]) -> Iterator[str]:
        b = list(cfg["batch_sizes"])
        if b != sorted(b):
            yield "config key 'flat_minima.batch_sizes': list the batch sizes in increasing order"
        n_train = round(cfg["data"]["num_samples"] * cfg["data"]["train_split"])
        if max(b) > n_train:
            yield (
                f"config key 'flat_minima.batch_sizes': {max(b)} is more than the {n_train} "
                "training samples"
            )
        if cfg["hessian"]["samples"] > n_train:
            yield (
                f"config key 'flat_minima.hessian.samples': {cfg['hessian']['samples']} is more "
                f"than the {n_train} training samples"
            )
        if cfg["ref_batch"] < max(b):
            yield (
                f"config key 'flat_minima.ref_batch': {cfg['ref_batch']} is below the largest "
                f"batch {max(b)}, so the scaled rule's lr would exceed the fixed lr there (anchor "
                "it at the largest batch: the small-lr regime of the lr / B argument)"
            )
        if cfg["edge_of_stability"]["samples"] > cfg["hessian"]["samples"]:
            yield (
                "config key 'flat_minima.edge_of_stability.samples': more than hessian.samples "
                "(the subset is the first of the Hessian subset's points)"
            )
        eps = cfg["claims_setup"]["eps"]
        if eps not in cfg["sharpness"]["eps"]:
            yield (
                f"config key 'flat_minima.claims_setup.eps': {eps} is not one of "
                f"sharpness.eps {cfg['sharpness']['eps']}"
            )
        if cfg["slice"]["lo"] >= cfg["slice"]["hi"]:
            yield "config key 'flat_minima.slice': lo must be below hi"
