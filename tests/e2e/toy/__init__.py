"""A test-only experiment, copied by tests/e2e/test_new_experiment.py into
``src/overparam/experiments/toy/`` of a copy of the repository: adding an experiment is this
folder plus a config section, nothing else."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ...claims import Claim
from ...tables import Schema
from .. import CheckContext, Experiment, JobSpec, RunContext, register

MARKER = "original"  # the test edits this in one copy to see which library a job ran


@dataclass(frozen=True)
class ValueJob(JobSpec):
    value: int
    factor: float
    seeds: tuple[int, ...]

    @property
    def id(self) -> str:
        return f"v{self.value}"


def values(metrics: pd.DataFrame, cfg: Mapping[str, Any]) -> dict[str, float]:
    """Each claim's value, from the runs (the bootstrap recomputes it on resampled seeds)."""
    exact = cfg["factor"] * metrics["value"] + metrics["seed"]
    return {
        "positive": float(metrics["y"].min()),
        "affine": float((metrics["y"] - exact).abs().max()),
    }


@register
class Toy(Experiment[ValueJob]):
    name = "toy"
    sort_by = ("value", "seed")

    @property
    def run_schema(self) -> Schema:
        return Schema(
            name="toy.runs", columns={"value": "int", "seed": "int", "y": "float", "marker": "str"}
        )

    def specs(self, cfg: Mapping[str, Any]) -> Iterator[ValueJob]:
        for v in cfg["values"]:
            yield ValueJob(int(v), float(cfg["factor"]), tuple(cfg["seeds"]))

    def problems(self, cfg: Mapping[str, Any]) -> Iterator[str]:
        if 0 in cfg["values"]:
            yield "config key 'toy.values': 0 is not allowed"

    def run(self, job: ValueJob, ctx: RunContext) -> pd.DataFrame:
        ctx.log(f"toy job {job.id}")
        return pd.DataFrame(
            {
                "value": job.value,
                "seed": list(job.seeds),
                "y": [job.factor * job.value + s for s in job.seeds],
                "marker": MARKER,
            }
        )

    def check(
        self, metrics: pd.DataFrame, cfg: Mapping[str, Any], ctx: CheckContext
    ) -> list[Claim]:
        est = ctx.estimates(lambda m: values(m, cfg), metrics)
        return ctx.claims(self.name, {"positive": "positive", "affine": "affine"}, est)

    def plot(self, metrics: pd.DataFrame, cfg: Mapping[str, Any], png: Path, pdf: Path) -> None:
        from ... import plots

        fig, (ax,) = plots.subplots(1)
        ax.plot(metrics["value"], metrics["y"], "o")
        ax.set(xlabel="value", ylabel="y")
        plots.save(fig, png, pdf)
