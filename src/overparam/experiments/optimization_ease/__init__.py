"""Wider networks are easier to optimize (the reference text's demo).

An MLP regresses n = 100 points in d = 20 dimensions with plain SGD; the same data, learning
rate and number of epochs for every width. Every (width, seed) records its training-loss
curve; the claims: the epoch at which the training MSE first falls below a threshold, and the
final training loss, both decrease with width.

Jobs: one per width (``w<width>``); the seeds of a width train as one batched ensemble.
Modules: ``run`` (data, training), ``claims``, ``figure``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ...tables import Schema
from .. import Experiment, JobSpec, register

RUN_SCHEMA = Schema(
    name="optimization_ease.runs",
    columns={
        "width": "int",
        "depth": "int",
        "num_params": "int",
        "seed": "int",
        "epoch": "int",
        "step": "int",
        "train_loss": "float",
        "test_loss": "float",
        "diverged": "bool",
    },
    nullable=frozenset({"train_loss", "test_loss"}),
)


@dataclass(frozen=True)
class WidthJob(JobSpec):
    """One width, all seeds: the data (n, d, target) and the SGD run shared by all widths."""

    trains: ClassVar[bool] = True
    width: int
    seeds: tuple[int, ...]
    n: int
    d: int
    target: str
    depth: int
    lr: float
    batch_size: int
    epochs: int
    eval_every: int
    optimizer: str
    momentum: float

    @property
    def id(self) -> str:
        return f"w{self.width}"


@register
class OptimizationEase(Experiment[WidthJob]):
    name = "optimization_ease"
    sort_by = ("width", "seed", "epoch")

    @property
    def run_schema(self) -> Schema:
        return RUN_SCHEMA

    def specs(self, cfg: Mapping[str, Any]) -> Iterator[WidthJob]:
        for w in cfg["widths"]:
            yield WidthJob(
                width=int(w),
                seeds=tuple(int(s) for s in cfg["seeds"]),
                n=int(cfg["n"]),
                d=int(cfg["d"]),
                target=cfg.get("target", "random"),
                depth=int(cfg.get("depth", 1)),
                lr=float(cfg["lr"]),
                batch_size=int(cfg.get("batch_size", 10)),
                epochs=int(cfg["epochs"]),
                eval_every=int(cfg.get("eval_every", 10)),
                optimizer=cfg.get("optimizer", "sgd"),
                momentum=float(cfg.get("momentum", 0.0)),
            )

    def problems(self, cfg: Mapping[str, Any]) -> Iterator[str]:
        if cfg["batch_size"] > cfg["n"]:
            yield (
                f"config key 'optimization_ease.batch_size': {cfg['batch_size']} exceeds the "
                f"number of samples n={cfg['n']}"
            )
