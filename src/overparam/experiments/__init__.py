"""The experiments: one folder (subpackage) each, found by name.

``overparam/experiments/<name>/__init__.py`` defines a subclass of
:class:`~overparam.experiments.base.Experiment` and registers it with ``@register``; its
``schema.yaml`` is the schema of the config section ``<name>``. Adding a folder adds an
experiment: nothing else lists them. Importing this package, or an experiment's
``__init__``, imports neither torch nor matplotlib (the Snakemake head process plans the DAG
with them).
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import CheckContext, Dataset, Experiment, JobSpec, RunContext
from .bundle import Bundle

__all__ = [
    "Bundle",
    "CheckContext",
    "Dataset",
    "Experiment",
    "JobSpec",
    "RunContext",
    "get",
    "names",
    "register",
]

_REGISTRY: dict[str, Experiment] = {}


def register(cls: type[Experiment]) -> type[Experiment]:
    """Class decorator: make ``cls`` (one instance of it) the experiment ``cls.name``."""
    name = cls.__dict__.get("name")
    if not name or cls.__module__ != f"{__name__}.{name}":
        raise TypeError(
            f"{cls.__qualname__} must set `name` to its folder's name (module {cls.__module__})"
        )
    _REGISTRY[name] = cls()
    return cls


def names() -> list[str]:
    """Every experiment folder, alphabetically."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg)


def get(name: str) -> Experiment:
    """The experiment ``name`` (imports its folder on first use)."""
    if name not in _REGISTRY:
        if name not in names():
            raise KeyError(f"unknown experiment {name!r}; known: {names()}")
        importlib.import_module(f"{__name__}.{name}")
        if name not in _REGISTRY:
            raise TypeError(
                f"experiments/{name}/__init__.py registers no experiment "
                "(decorate its Experiment subclass with @register)"
            )
    return _REGISTRY[name]
