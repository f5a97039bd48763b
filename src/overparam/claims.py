"""Claims: one row per published claim, with the number that decides whether it held and
how sure that number is.

A claim's value comes with an :class:`Estimate`: the point value, the number of seeds it was
computed from and a 95% interval from a percentile bootstrap over seeds (:func:`bootstrap`:
whole seeds are resampled with a fixed generator and the claim's value is recomputed from
the resampled runs, so ratios, slopes and extrema get their interval too). A claim computed
from a deterministic closed form has ``n_seeds`` 0 and an interval equal to its value.

``holds`` is the point verdict; ``confident`` is true iff the whole interval lies on the
holding side of the threshold. A claim that does not hold is a row with ``holds = False``,
never an exception: the pipeline reports it. A claim whose metric could not be computed
(NaN: e.g. every run diverged) does not hold, and its ``note`` says why.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from .tables import Schema

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}

CLAIMS_SCHEMA = Schema(
    name="claims",
    columns={
        "claim": "str",
        "experiment": "str",
        "source": "str",
        "statement": "str",
        "metric": "str",
        "value": "float",
        "n_seeds": "int",
        "ci_low": "float",
        "ci_high": "float",
        "comparison": "str",
        "threshold": "float",
        "holds": "bool",
        "confident": "bool",
        "figure": "str",
        "scale": "str",
        "note": "str",
    },
    nullable=frozenset({"value", "ci_low", "ci_high"}),
    doc={
        "claim": "stable id, <experiment>.<claim>",
        "experiment": "the experiment it comes from",
        "source": "the paper (and theorem) the claim is taken from",
        "statement": "the claim in words",
        "metric": "what value measures",
        "value": "the metric at this scale (NaN: it could not be computed, see note)",
        "n_seeds": "seeds the value was computed from (0: a deterministic closed form)",
        "ci_low": "lower end of the 95% bootstrap interval over seeds (NaN with one seed)",
        "ci_high": "upper end of the 95% bootstrap interval over seeds (NaN with one seed)",
        "comparison": "< <= > >=: the claim holds iff value <comparison> threshold",
        "threshold": "the threshold, from the config (its comment says where it comes from)",
        "holds": "the point verdict: value <comparison> threshold",
        "confident": "the whole interval lies on the holding side of the threshold",
        "figure": "the figure that shows the claim",
        "scale": "the config's scale (quick, paper, test)",
        "note": "details: per-width medians, censoring, NaN reasons",
    },
)

LEVEL = 0.95  # the intervals' coverage
RESAMPLES = 1000  # bootstrap resamples per claim (config: bootstrap.resamples)


def _isnan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


@dataclass(frozen=True)
class Estimate:
    """A claim's value with its interval: ``n_seeds`` seeds went into it (0: a closed form,
    no randomness), and [ci_low, ci_high] is its bootstrap interval over those seeds (NaN
    where it cannot be computed, e.g. from a single seed)."""

    value: float
    n_seeds: int
    ci_low: float
    ci_high: float

    @classmethod
    def exact(cls, value: float) -> Estimate:
        """A deterministic closed form: no seeds, the interval is the value itself."""
        v = float("nan") if value is None else float(value)
        return cls(v, 0, v, v)


def bootstrap(
    values: Callable[[pd.DataFrame], Mapping[str, float]],
    runs: pd.DataFrame,
    *,
    unit: str = "seed",
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
) -> dict[str, Estimate]:
    """Point values and percentile-bootstrap intervals of every claim value in ``values(runs)``.

    One resample draws as many seeds as ``runs`` has (distinct values of its ``unit`` column),
    with replacement, takes all rows of each drawn seed and relabels them ``0..k-1`` (so a seed
    drawn twice counts as two runs), and calls ``values`` on that table: a claim's value is
    recomputed from the resampled runs, whatever function of them it is. Seeds shared by
    several conditions (widths, families, rounds) are resampled together, which keeps paired
    comparisons paired. The generator is seeded, so the intervals are deterministic.

    The interval is widened, where needed, to contain the point value: for a biased
    statistic (an absolute deviation, a maximum over conditions) the resampled values can all
    lie on one side of it, and a verdict must never be more confident than the point value.

    A value that is NaN in more than half of the tail mass ((1 - level) / 2) of the resamples
    gets a NaN interval; the other NaNs are dropped. With fewer than two seeds there is
    nothing to resample: the interval is NaN.
    """
    point = {k: float(v) for k, v in values(runs).items()}
    ids = np.asarray(runs[unit].to_numpy())
    seeds = np.unique(ids)
    k = len(seeds)
    if k < 2 or resamples < 1:
        return {key: Estimate(v, k, math.nan, math.nan) for key, v in point.items()}
    rows = [np.flatnonzero(ids == s) for s in seeds]
    rng = np.random.default_rng(seed)
    draws = {key: np.empty(resamples) for key in point}
    for b in range(resamples):
        pick = rng.integers(0, k, size=k)
        take = np.concatenate([rows[i] for i in pick])
        relabel = np.repeat(np.arange(k), [len(rows[i]) for i in pick])
        sample = runs.iloc[take].assign(**{unit: relabel})
        got = values(sample)
        for key in point:
            draws[key][b] = float(got.get(key, math.nan))
    alpha = (1 - level) / 2
    out = {}
    for key, v in point.items():
        d = draws[key]
        ok = d[~np.isnan(d)]
        if len(ok) < (1 - alpha / 2) * resamples:
            lo = hi = math.nan
        else:
            lo, hi = np.quantile(ok, [alpha, 1 - alpha])
            if not math.isnan(v):  # see the docstring: never narrower than the point value
                lo, hi = min(lo, v), max(hi, v)
        out[key] = Estimate(v, k, float(lo), float(hi))
    return out


@dataclass(frozen=True)
class Claim:
    claim: str  # stable id, e.g. "benign_overfitting.benign_vanishes"
    experiment: str
    source: str  # the paper
    statement: str  # what is claimed, in words
    metric: str  # what `value` measures
    estimate: Estimate  # the value, its number of seeds and its interval
    comparison: str  # one of < <= > >=: holds iff value <comparison> threshold
    threshold: float
    figure: str
    scale: str
    note: str = ""

    @property
    def value(self) -> float:
        return self.estimate.value

    def _on_holding_side(self, v) -> bool:
        if self.comparison not in OPS:
            raise ValueError(f"claim {self.claim}: unknown comparison {self.comparison!r}")
        return not _isnan(v) and bool(OPS[self.comparison](v, self.threshold))

    @property
    def holds(self) -> bool:
        """The point verdict."""
        return self._on_holding_side(self.value)

    @property
    def confident(self) -> bool:
        """The whole interval lies on the holding side of the threshold."""
        e = self.estimate
        return self.holds and self._on_holding_side(e.ci_low) and self._on_holding_side(e.ci_high)

    def row(self) -> dict:
        d = asdict(self)
        e = d.pop("estimate")
        d.update(value=float(e["value"]), n_seeds=int(e["n_seeds"]))
        d.update(ci_low=float(e["ci_low"]), ci_high=float(e["ci_high"]))
        d["threshold"] = float(self.threshold)
        d["holds"] = self.holds
        d["confident"] = self.confident
        if math.isnan(d["value"]) and not d["note"]:
            d["note"] = "metric could not be computed (NaN)"
        return d


def make_claim(
    spec: Mapping[str, Any],
    *,
    claim: str,
    experiment: str,
    estimate: Estimate,
    figure: str,
    scale: str,
    note: str = "",
) -> Claim:
    """Build a Claim from its config entry ``spec`` = {source, statement, metric, comparison,
    threshold}: the numbers and their provenance live in config, not in code. ``estimate``
    is required: a claim without seeds says so with :meth:`Estimate.exact`."""
    if not isinstance(estimate, Estimate):
        raise TypeError(f"claim {experiment}.{claim}: estimate must be an Estimate")
    return Claim(
        claim=f"{experiment}.{claim}",
        experiment=experiment,
        source=spec["source"],
        statement=spec["statement"],
        metric=spec["metric"],
        estimate=estimate,
        comparison=spec["comparison"],
        threshold=float(spec["threshold"]),
        figure=figure,
        scale=scale,
        note=note,
    )


def claims_frame(claims: list[Claim]) -> pd.DataFrame:
    df = pd.DataFrame([c.row() for c in claims], columns=list(CLAIMS_SCHEMA.columns))
    return df.astype(
        {
            "value": "float64",
            "n_seeds": "int64",
            "ci_low": "float64",
            "ci_high": "float64",
            "threshold": "float64",
            "holds": "bool",
            "confident": "bool",
        }
    )


def _num(v: float) -> str:
    return "NaN" if math.isnan(v) else f"{v:.4g}"


def interval(r) -> str:
    """A claims row's interval in words: '[lo, hi] over k seeds' or 'exact (closed form)'."""
    if r.n_seeds == 0:
        return "exact (closed form)"
    if math.isnan(r.ci_low) or math.isnan(r.ci_high):
        return f"no interval ({r.n_seeds} seed{'s' if r.n_seeds != 1 else ''})"
    return f"[{_num(r.ci_low)}, {_num(r.ci_high)}] over {r.n_seeds} seeds"


def verdict(r) -> str:
    """'holds (confident)', 'holds (not confident: ...)' or 'DOES NOT HOLD'."""
    if not r.holds:
        return "DOES NOT HOLD"
    if r.confident:
        return "holds (confident)"
    if math.isnan(r.ci_low) or math.isnan(r.ci_high):
        return "holds (not confident: no interval)"
    return "holds (not confident: CI crosses the threshold)"


def summary(df: pd.DataFrame) -> str:
    """One paragraph for the console: how many claims hold, how many confidently, and every
    claim that does not hold with its value and threshold."""
    held, sure = int(df["holds"].sum()), int(df["confident"].sum())
    lines = [f"{held} of {len(df)} claims hold ({sure} confidently, 95% bootstrap intervals)"]
    failed = df[~df["holds"]]
    if len(failed):
        lines.append("not holding:")
        for r in failed.itertuples(index=False):
            lines.append(
                f"  {r.claim} ({r.metric} = {_num(r.value)}, needs {r.comparison} "
                f"{r.threshold:.4g})"
            )
    shaky = df[df["holds"] & ~df["confident"]]
    if len(shaky):
        lines.append("holding, not confidently:")
        for r in shaky.itertuples(index=False):
            lines.append(
                f"  {r.claim} ({_num(r.value)}, {interval(r)}; needs {r.comparison} "
                f"{r.threshold:.4g})"
            )
    return "\n".join(lines)


def to_markdown(df: pd.DataFrame) -> str:
    """The claims table as readable markdown (no extra dependency)."""
    held, sure = int(df["holds"].sum()), int(df["confident"].sum())
    lines = [
        "# Claims",
        "",
        f"{held} of {len(df)} claims hold at scale `{', '.join(sorted(set(df['scale'])))}`, "
        f"{sure} of them confidently (the whole 95% interval on the holding side).",
        "",
        "| claim | verdict | value | 95% interval | test | source | statement | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in df.itertuples(index=False):
        v = verdict(r)
        v = v if r.holds else f"**{v}**"
        test = f"{r.metric} {r.comparison} {r.threshold:.4g}"
        cells = [r.claim, v, _num(r.value), interval(r), test, r.source, r.statement, r.note]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines) + "\n"
