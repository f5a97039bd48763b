"""Bundles: several specs of one experiment run as one job (see ``experiments.base``).

A spec whose ``bundle`` property names a key runs in the job of that key with the other specs
of the same key, in order, in one process (``steps.run_job``); the job's table is their tables
concatenated, each part exactly as it would run alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..data import Dataset
from .base import JobSpec

J = TypeVar("J", bound=JobSpec)


@dataclass(frozen=True)
class Bundle(JobSpec):
    """Several specs of one experiment run as one job (id ``key``), in order, in one process;
    its table is the parts' tables concatenated (``steps.run_job``). Its params are the parts'
    (by part id), so a change to any part re-runs the bundle."""

    key: str
    parts: tuple[JobSpec, ...]

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError(f"bundle {self.key!r} has no parts")
        if len({p.trains for p in self.parts}) > 1:
            raise ValueError(f"bundle {self.key!r} mixes jobs that train and jobs that do not")
        ids = [p.id for p in self.parts]
        if len(set(ids)) < len(ids):
            raise ValueError(f"bundle {self.key!r}: two parts share an id ({ids})")
        self.inputs()  # a conflict between the parts' datasets is an error at planning

    @property
    def trains(self) -> bool:  # type: ignore[override]
        return self.parts[0].trains

    @property
    def id(self) -> str:
        return self.key

    def params(self) -> dict[str, Any]:
        return {"parts": {p.id: p.params() for p in self.parts}}

    def rule_params(self) -> dict[str, Any]:
        """The parts' ids (``parts``) and each field of the parts: its value where every part
        that has it agrees, else {part id: value}; so a changed learning rate reads
        ``lr=0.01`` -> ``lr=0.02`` in Snakemake's reason, as for a job of its own."""
        by_part = {p.id: p.params() for p in self.parts}
        out: dict[str, Any] = {"parts": list(by_part)}
        for key in dict.fromkeys(k for params in by_part.values() for k in params):
            values = {i: params[key] for i, params in by_part.items() if key in params}
            first = next(iter(values.values()))
            same = len(values) == len(by_part) and all(v == first for v in values.values())
            out[key] = first if same else values
        return out

    def inputs(self) -> dict[str, Dataset]:
        """The parts' datasets by field name; two parts may share a field only with the same
        dataset (each part gets the files of its own fields)."""
        out: dict[str, Dataset] = {}
        for p in self.parts:
            for k, ds in p.inputs().items():
                if out.setdefault(k, ds) != ds:
                    raise ValueError(
                        f"bundle {self.key!r}: parts read different datasets as {k!r} "
                        f"({out[k]} and {ds}); bundle them apart"
                    )
        return out


def group(specs: Iterable[J], name: str) -> dict[str, J | Bundle]:
    """{job id: spec or Bundle} of ``specs`` (experiment ``name``'s, ids unique): one job per
    spec without a ``bundle`` key and one per key, at the place of its first spec."""
    order: list[str] = []
    single: dict[str, J] = {}
    groups: dict[str, list[J]] = {}
    for spec in specs:
        key = spec.bundle
        if key is None:
            single[spec.id] = spec
            order.append(spec.id)
        elif key not in groups:
            groups[key] = [spec]
            order.append(key)
        else:
            groups[key].append(spec)
    clash = sorted(set(single) & set(groups))
    if clash:
        raise ValueError(f"{name}: bundle id(s) {clash} are also ids of jobs")
    return {k: single[k] if k in single else Bundle(k, tuple(groups[k])) for k in order}
