"""The contract every experiment follows.

An experiment is a subclass of :class:`Experiment` in its own folder
``overparam/experiments/<name>/`` (``__init__.py`` defines the class; ``schema.yaml`` beside it
is the schema of its config section). It turns its config section into typed job specs, runs
one job, aggregates the jobs' tables, checks its claims and draws its figure:

    jobs(cfg)                -> {job_id: JobSpec}      one Snakemake job per spec or bundle
    run(job, ctx)            -> DataFrame               one run table (``run_schema``)
    aggregate(frames, cfg)   -> DataFrame               the metrics table (``metrics_schema``)
    check(metrics, cfg, ctx) -> list[Claim]
    plot(metrics, cfg, png, pdf)
    problems(cfg)            -> messages for settings the schema cannot reject

A :class:`JobSpec` is a frozen dataclass holding everything its job computes from: the swept
value (a width, a rewind step, ...), the seeds and the settings it shares with the
experiment's other jobs. The workflow tracks a job by its spec's fields, so adding a width adds
one job and changing a shared setting re-runs exactly the jobs that read it. The job id is
derived from the spec (``JobSpec.id``), never parsed back.

A spec with a ``bundle`` key shares one job with the other specs of that key (``bundle.py``).
``JobSpec.from_section`` builds a spec from a config section whose keys are its fields (each
value converted to the field's type), so ``specs`` names only what it computes.

The ``__init__`` of an experiment must stay light (no torch, no matplotlib at import time): the
Snakemake head process imports it to plan the DAG. Import heavy modules inside ``run``,
``check`` and ``plot``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import yaml

from ..data import Dataset
from .check_context import CheckContext
from .sections import from_section

if TYPE_CHECKING:
    import pandas as pd

    from ..claims import Claim, Definition
    from ..tables import Schema

Log = Callable[[str], None]
T = TypeVar("T")
S = TypeVar("S", bound="JobSpec")


@dataclass(frozen=True)
class JobSpec:
    """One job's parameters. Subclasses add typed fields and name the job (``id``)."""

    trains: ClassVar[bool] = False  # trains with torch: threads, a GPU where there is one

    @classmethod
    def from_section(cls: type[S], section: Mapping[str, Any], /, **overrides: Any) -> S:
        """The spec from a config section and ``overrides`` (:func:`from_section`)."""
        return from_section(cls, section, **overrides)

    @property
    def id(self) -> str:
        raise NotImplementedError(f"{type(self).__name__} must define the property `id`")

    @property
    def bundle(self) -> str | None:
        return None  # the key of the job it shares with other specs (``bundle.py``); None: alone

    def params(self) -> dict[str, Any]:
        """The spec as plain data (tuples -> lists, nested dataclasses -> dicts)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def rule_params(self) -> dict[str, Any]:
        """What the workflow tracks of the job, one param per field (Snakemake names a changed
        one in its reason): its ``params`` (a bundle's: see ``Bundle.rule_params``)."""
        return self.params()

    def inputs(self) -> dict[str, Dataset]:
        """The datasets this job reads: its fields that are :class:`Dataset` s."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), Dataset)
        }


def _plain(v: Any) -> Any:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        v = dataclasses.asdict(v)
    return json.loads(json.dumps(v, sort_keys=True))


@dataclass(frozen=True)
class RunContext:
    """What the workflow gives a running job besides its spec."""

    device: str = "cpu"  # resolved: "cpu" or "cuda" (never "auto")
    threads: int = 1
    inputs: Mapping[str, Path] = field(default_factory=dict)  # spec field name -> file
    log: Log = print


J = TypeVar("J", bound=JobSpec)


class Experiment(ABC, Generic[J]):
    """Base class of an experiment; see the module docstring. Subclasses set ``name`` (the
    config section, the results folder and the figure's name) and ``sort_by`` (the metrics
    table's row order), and implement the abstract methods; the module defines ``RUN_SCHEMA``
    (and ``METRICS_SCHEMA`` where the metrics table differs). ``J`` is the experiment's job
    spec type (a union where it has several kinds of job)."""

    name: ClassVar[str]
    sort_by: ClassVar[tuple[str, ...]] = ()

    # ------------------------------------------------------------------ planning (light)

    @abstractmethod
    def specs(self, cfg: Mapping[str, Any]) -> Iterable[J]:
        """The experiment's jobs, in order."""

    def parts(self, cfg: Mapping[str, Any]) -> dict[str, J]:
        """Every spec by its id, in order (bundled or not)."""
        out: dict[str, J] = {}
        for spec in self.specs(cfg):
            if spec.id in out:
                raise ValueError(f"{self.name}: two jobs share the id {spec.id!r}")
            out[spec.id] = spec
        return out

    def jobs(self, cfg: Mapping[str, Any], bundles: bool = True) -> dict[str, JobSpec]:
        """{job id: spec, or a Bundle of the specs of one ``bundle`` key at its first spec's
        place}; ``bundles=False`` (the config's ``bundles``): every spec a job of its own."""
        from .bundle import group

        return group(self.parts(cfg).values(), self.name) if bundles else dict(self.parts(cfg))

    def seed_summary(self, cfg: Mapping[str, Any]) -> str:
        """How many seeds the jobs run, in words, for the figure's caption: from the specs'
        ``seeds`` (a tuple) or ``num_seeds`` (a count) fields."""
        counts = set()
        for spec in self.specs(cfg):
            if isinstance(getattr(spec, "seeds", None), tuple):
                counts.add(len(spec.seeds))  # type: ignore[attr-defined]
            elif isinstance(getattr(spec, "num_seeds", None), int):
                counts.add(int(spec.num_seeds))  # type: ignore[attr-defined]
        if not counts:
            return "one run per point (no seeds)"
        lo, hi = min(counts), max(counts)
        return f"{lo} seeds" if lo == hi else f"{lo} to {hi} seeds, depending on the panel"

    def problems(self, cfg: Mapping[str, Any]) -> Iterator[str]:
        """Messages (each naming its config key) for settings the JSON schema cannot reject."""
        return iter(())

    @classmethod
    def schema_fragment(cls) -> dict[str, Any]:
        """The JSON schema of this experiment's config section (``schema.yaml`` beside it)."""
        import inspect

        path = Path(inspect.getfile(cls)).with_name("schema.yaml")
        with open(path) as f:
            return dict(yaml.safe_load(f))

    @classmethod
    def definitions_path(cls) -> Path:
        """The experiment's claim definitions: ``claims.yaml`` beside its ``__init__.py``."""
        import inspect

        return Path(inspect.getfile(cls)).with_name("claims.yaml")

    def definitions(self, cfg: Mapping[str, Any] | None = None) -> dict[str, Definition]:
        """{key: Definition} of every claim of this experiment (its ``claims.yaml``, read
        once), with the scale-specific thresholds of ``cfg``'s ``claim_thresholds``."""
        from ..claims import load_definitions, with_scale_thresholds

        cache = self.__dict__.setdefault("_definitions", {})
        if not cache:
            cache.update(load_definitions(self.definitions_path()))
        overrides = (cfg or {}).get("claim_thresholds") or {}
        return with_scale_thresholds(cache, overrides, where=f"{self.name}.claim_thresholds")

    @classmethod
    def caption_path(cls) -> Path:
        """The experiment's description for the HTML report (``caption.rst`` beside its
        ``__init__.py``): a few lines of reStructuredText saying what the figure plots and
        which paper and figure it reproduces."""
        import inspect

        return Path(inspect.getfile(cls)).with_name("caption.rst")

    # ------------------------------------------------------------------ tables

    @property
    def run_schema(self) -> Schema:
        """The run tables' schema: ``RUN_SCHEMA`` of the experiment's ``__init__``."""
        return self._module_schema("RUN_SCHEMA")

    @property
    def metrics_schema(self) -> Schema:
        """The metrics table's: its ``METRICS_SCHEMA`` where it has one, else ``run_schema``."""
        if hasattr(sys.modules[type(self).__module__], "METRICS_SCHEMA"):
            return self._module_schema("METRICS_SCHEMA")
        return self.run_schema

    def _module_schema(self, name: str) -> Schema:
        module = sys.modules[type(self).__module__]
        if not hasattr(module, name):
            raise NotImplementedError(
                f"experiment {self.name}: define {name} in {module.__name__} (or override "
                f"{name.lower()} in the class)"
            )
        return getattr(module, name)

    # ------------------------------------------------------------------ steps

    def _sibling(self, module: str, function: str) -> Callable[..., Any]:
        """``function`` of the module ``module`` in this experiment's folder, imported only
        when a step needs it (so planning never imports torch or matplotlib)."""
        import importlib

        package = type(self).__module__
        try:
            mod = importlib.import_module(f".{module}", package=package)
        except ModuleNotFoundError as e:
            if e.name != f"{package}.{module}":
                raise
            raise NotImplementedError(
                f"experiment {self.name}: no {module}.py beside its __init__.py; add one with "
                f"{function}() or override {function} in the class"
            ) from e
        return getattr(mod, function)

    def run(self, job: J, ctx: RunContext) -> pd.DataFrame:
        """Run one job (a spec from ``jobs``) and return its table. By default
        ``run(job, ctx)`` of the experiment's ``run.py``."""
        return self._sibling("run", "run")(job, ctx)

    def aggregate(self, frames: list[pd.DataFrame], cfg: Mapping[str, Any]) -> pd.DataFrame:
        """All run tables as one, rows ordered by ``sort_by``."""
        import pandas as pd

        df = pd.concat(frames, ignore_index=True)
        return df.sort_values(list(self.sort_by), ignore_index=True) if self.sort_by else df

    def check(
        self, metrics: pd.DataFrame, cfg: Mapping[str, Any], ctx: CheckContext
    ) -> list[Claim]:
        """The claims, with values and intervals from ``ctx.estimates``. By default
        ``check(metrics, cfg, ctx)`` of the experiment's ``claims.py``."""
        return self._sibling("claims", "check")(metrics, cfg, ctx)

    def claim_rows(self, cfg: Mapping[str, Any]) -> dict[str, str]:
        """{claim id within the experiment: a pandas query selecting the rows of the metrics
        table its value is computed from (no other row changes it)}, from ``rows(cfg)`` of the
        experiment's ``claims.py`` where it defines one; ``cfg`` is the config section the
        metrics table's provenance records. A claim without an entry reads the whole table
        (or declares nothing): ``overparam explain`` says so."""
        try:
            rows = self._sibling("claims", "rows")
        except (NotImplementedError, AttributeError):
            return {}
        return dict(rows(cfg))

    def plot(self, metrics: pd.DataFrame, cfg: Mapping[str, Any], png: Path, pdf: Path) -> None:
        """The figure, drawn from the metrics table only. By default ``plot(metrics, cfg,
        png, pdf)`` of the experiment's ``figure.py``."""
        self._sibling("figure", "plot")(metrics, cfg, png, pdf)
