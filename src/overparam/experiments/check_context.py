"""What the workflow gives an experiment's claims check (``Experiment.check``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from ..claims import Batch, Claim, Definition, Estimate


@dataclass(frozen=True)
class CheckContext:
    """What the workflow gives a claims check: the run's scale, the figure (path) that shows
    the claims and the bootstrap's settings. ``estimates`` turns a function of the runs into
    claim values with intervals over seeds."""

    scale: str
    figure: str
    resamples: int = 1000
    bootstrap_seed: int = 0
    # {definition key: Definition} of the checked experiment with the config's scale-specific
    # thresholds applied (Experiment.definitions(cfg)); None: its claims.yaml as written
    definitions: Mapping[str, Definition] | None = None

    def estimates(
        self,
        values: Callable[[pd.DataFrame], Mapping[str, float]],
        runs: pd.DataFrame,
        unit: str = "seed",
        batch: Batch | None = None,
    ) -> dict[str, Estimate]:
        """``values(runs)`` with a bootstrap interval over the ``unit`` column for each value
        (see :func:`overparam.claims.bootstrap`; ``batch``: the values of all draws at once)."""
        from ..claims import bootstrap

        n, seed = self.resamples, self.bootstrap_seed
        return bootstrap(values, runs, unit=unit, resamples=n, seed=seed, batch=batch)

    def definition(self, experiment: str, key: str) -> Definition:
        """The definition ``key`` of ``experiment``'s claims (see ``definitions``)."""
        defs = self.definitions
        if defs is None:
            from . import get

            defs = get(experiment).definitions()
        if key not in defs:
            raise KeyError(f"{experiment}: no claim definition {key!r}; defined: {list(defs)}")
        return defs[key]

    def claims(
        self,
        experiment: str,
        specs: Mapping[str, str | Definition | Mapping[str, Any]],
        estimates: Mapping[str, Estimate],
        notes: Mapping[str, str] | None = None,
    ) -> list[Claim]:
        """One claim per entry of ``specs`` ({claim id within the experiment: the key of its
        definition in the experiment's claims.yaml, or a definition itself}), in that order,
        with the estimate and the note (if any) of the same id."""
        from ..claims import make_claim

        notes = notes or {}
        return [
            make_claim(
                self.definition(experiment, spec) if isinstance(spec, str) else spec,
                claim=key,
                experiment=experiment,
                estimate=estimates[key],
                figure=self.figure,
                scale=self.scale,
                note=notes.get(key, ""),
            )
            for key, spec in specs.items()
        ]
