"""Claims: one row per published claim, with the number that decides whether it held and
how sure that number is.

A claim's value comes with an :class:`Estimate`: the point value, the number of seeds it was
computed from and a 95% interval from a percentile bootstrap over seeds (:func:`bootstrap`:
whole seeds are resampled with a fixed generator and the claim's value is recomputed from
the resampled runs, so ratios, slopes and extrema get their interval too). A claim computed
from a deterministic closed form has ``n_seeds`` 0 and an interval equal to its value.

Every claim is defined once, in its experiment's ``claims.yaml`` (:class:`Definition`,
:func:`load_definitions`): what it states, how its value is measured, its threshold and where
that comes from, its tier (a ``replication`` of a paper, an ``extension`` of our own in the
paper's spirit, a ``sanity`` check of the pipeline that follows from the mathematics whatever
the data), the source's own protocol, where ours deviates, and the published number. The scale
configs carry no claim text; a threshold that truly depends on scale is overridden in the
experiment's ``claim_thresholds`` config key, with its reason.

``holds`` is the point verdict; ``confident`` is true iff the whole interval lies on the
holding side of the threshold. A claim that does not hold is a row with ``holds = False``,
never an exception: the pipeline reports it. A claim whose metric could not be computed
(NaN: e.g. every run diverged) does not hold, and its ``note`` says why.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .tables import Schema

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
TIERS = ("replication", "extension", "sanity")  # the order tallies list them in
TIER_PLURALS = {"replication": "replications", "extension": "extensions", "sanity": "sanity checks"}

CLAIMS_SCHEMA = Schema(
    name="claims",
    columns={
        "claim": "str",
        "experiment": "str",
        "tier": "str",
        "source": "str",
        "statement": "str",
        "metric": "str",
        "value": "float",
        "n_seeds": "int",
        "ci_low": "float",
        "ci_high": "float",
        "comparison": "str",
        "threshold": "float",
        "threshold_basis": "str",
        "protocol": "str",
        "deviations": "str",
        "published": "str",
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
        "tier": "replication (the source states it for a setting like ours) | extension (our "
        "question in the paper's spirit) | sanity (follows from the math: a failure is a bug)",
        "source": "the paper, and the section / figure / theorem the claim is taken from",
        "statement": "the claim in words",
        "metric": "what value measures",
        "value": "the metric at this scale (NaN: it could not be computed, see note)",
        "n_seeds": "seeds the value was computed from (0: a deterministic closed form)",
        "ci_low": "lower end of the 95% bootstrap interval over seeds (NaN with one seed)",
        "ci_high": "upper end of the 95% bootstrap interval over seeds (NaN with one seed)",
        "comparison": "< <= > >=: the claim holds iff value <comparison> threshold",
        "threshold": "the threshold (the claim's definition; a config may override it per scale)",
        "threshold_basis": "where the threshold comes from: the paper, a theorem, the claim "
        "itself, or a project choice with its reason",
        "protocol": "the source's own setup: data, model, optimizer, budget, the metric",
        "deviations": "where our setting differs from the source's protocol, and why",
        "published": "the number(s) the source reports for this claim, with their setting",
        "holds": "the point verdict: value <comparison> threshold",
        "confident": "the whole interval lies on the holding side of the threshold",
        "figure": "the figure that shows the claim",
        "scale": "the config's scale (quick, paper, test)",
        "note": "details: per-width medians, censoring, NaN reasons",
    },
)

LEVEL = 0.95  # the intervals' coverage
RESAMPLES = 1000  # bootstrap resamples per claim (config: bootstrap.resamples)
DRAW = "_draw"  # the column that numbers the draws in a batch's table (see bootstrap)
BATCH_ROWS = 1_000_000  # rows of one batch's table at most, about (bounds its memory)


@dataclass(frozen=True)
class Batch:
    """The claim values of every bootstrap draw at once (see :func:`bootstrap`): ``values``
    maps the stacked draws' table (the ``columns`` of the runs, the unit and :data:`DRAW`) to
    {claim key: one value per draw}, or None where it cannot."""

    columns: tuple[str, ...]
    values: Callable[[pd.DataFrame], Mapping[str, Any] | None]


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
    batch: Batch | None = None,
) -> dict[str, Estimate]:
    """Point values and percentile-bootstrap intervals of every claim value in ``values(runs)``.

    One resample draws as many seeds as ``runs`` has (distinct values of its ``unit`` column),
    with replacement, takes all rows of each drawn seed and relabels them ``0..k-1`` (so a seed
    drawn twice counts as two runs), and calls ``values`` on that table: a claim's value is
    recomputed from the resampled runs, whatever function of them it is. Seeds shared by
    several conditions (widths, families, rounds) are resampled together, which keeps paired
    comparisons paired. The generator is seeded, so the intervals are deterministic. With few
    seeds the same draw (the same seeds in the same order) comes up many times (k = 4: 256
    possible draws for 1000 resamples); ``values`` is a function of its table, so it is called
    once per distinct draw and the repeats reuse its result: the same intervals, bit for bit.

    The interval is widened, where needed, to contain the point value: for a biased
    statistic (an absolute deviation, a maximum over conditions) the resampled values can all
    lie on one side of it, and a verdict must never be more confident than the point value.

    A value that is NaN in more than half of the tail mass ((1 - level) / 2) of the resamples
    gets a NaN interval; the other NaNs are dropped. With fewer than two seeds there is
    nothing to resample: the interval is NaN.

    ``batch`` (optional, a :class:`Batch`) computes the same values for many distinct draws
    at once: it gets one table of them (each draw's resampled runs, in the order ``values``
    would see them, with the draw's number in column :data:`DRAW`; about
    :data:`BATCH_ROWS` rows at most, so as many calls as that takes) and returns {key: one
    value per draw}, or None where it cannot (the resamples then go through ``values``). A
    batch must give exactly what ``values`` gives on each draw's table: a group-by over
    ``DRAW`` and the conditions sums each group's rows in the same order as ``values``'s
    group-by does.
    """
    point = {k: float(v) for k, v in values(runs).items()}
    ids = np.asarray(runs[unit].to_numpy())
    k = len(np.unique(ids))
    if k < 2 or resamples < 1:
        return {key: Estimate(v, k, math.nan, math.nan) for key, v in point.items()}
    rows, picks = seed_draws(ids, resamples, seed)
    # each distinct draw (the same seeds in the same order) once, in the order first drawn
    first = {p.tobytes(): p for p in picks}
    fast = _batched(batch, runs, unit, rows, list(first.values()))
    got: Sequence[Mapping[str, float]] = (
        fast
        if fast is not None
        else [values(_resampled(runs, unit, rows, p)) for p in first.values()]
    )
    where = {key: i for i, key in enumerate(first)}
    at = np.array([where[p.tobytes()] for p in picks])
    draws = {key: np.array([float(g.get(key, math.nan)) for g in got])[at] for key in point}
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


def seed_draws(ids: np.ndarray, resamples: int, seed: int) -> tuple[list, list[np.ndarray]]:
    """(the row positions of each distinct seed of ``ids``, in sorted order; ``resamples``
    draws of as many seed positions, with replacement, from a generator seeded ``seed``): the
    draws :func:`bootstrap` makes."""
    seeds = np.unique(ids)
    rows = [np.flatnonzero(ids == s) for s in seeds]
    rng = np.random.default_rng(seed)
    return rows, [rng.integers(0, len(seeds), size=len(seeds)) for _ in range(resamples)]


def _resampled(runs: pd.DataFrame, unit: str, rows: list, pick: np.ndarray) -> pd.DataFrame:
    """The runs of the seeds ``pick`` (positions in the sorted seeds), in that order, each
    relabelled by its position (so a seed drawn twice counts as two runs)."""
    take = np.concatenate([rows[i] for i in pick])
    relabel = np.repeat(np.arange(len(pick)), [len(rows[i]) for i in pick])
    return runs.iloc[take].assign(**{unit: relabel})


def _batched(batch, runs, unit, rows, picks) -> list[dict[str, float]] | None:
    """Every draw's values from ``batch`` on the draws' tables stacked (the draw's number in
    column DRAW), at most about BATCH_ROWS rows per call; None without a batch or where it
    declines."""
    if batch is None:
        return None
    per_draw = len(rows[0]) * len(picks[0]) if picks else 1  # rows of one draw, about
    chunk = max(1, BATCH_ROWS // max(per_draw, 1))
    parts: list[dict[str, float]] = []
    for at in range(0, len(picks), chunk):
        got = _batch_chunk(batch, runs, unit, rows, picks[at : at + chunk])
        if got is None:
            return None
        parts += got
    return parts


def _batch_chunk(batch, runs, unit, rows, picks) -> list[dict[str, float]] | None:
    """``_batched`` of the draws ``picks``, in one call of ``batch``."""
    take = np.concatenate([np.concatenate([rows[i] for i in p]) for p in picks])
    sizes = [[len(rows[i]) for i in p] for p in picks]
    k = len(picks[0])
    relabel = np.concatenate([np.repeat(np.arange(k), s) for s in sizes])
    draw = np.repeat(np.arange(len(picks)), [sum(s) for s in sizes])
    cols = [c for c in dict.fromkeys(batch.columns) if c != unit]  # each once
    table = runs[cols].iloc[take].assign(**{unit: relabel, DRAW: draw})
    out = batch.values(table)
    if out is None:
        return None
    parts: list[dict[str, float]] = [{} for _ in picks]
    for key, v in out.items():
        v = np.asarray(v, dtype=float)
        if v.shape != (len(picks),):
            raise ValueError(f"batch value {key!r}: {v.shape}, expected ({len(picks)},)")
        for d, x in zip(parts, v.tolist()):
            d[key] = x
    return parts


def slope(x, y, *, log_x: bool = True, log_y: bool = True, strict: bool = False) -> float:
    """Least-squares slope of y on x, each on a log scale unless told otherwise (by default the
    exponent of a power law: the log-log slope). Points whose x or y is not finite, or not
    positive on a log axis, are left out, and fewer than two points left give NaN; ``strict``:
    any such point gives NaN (a trend that must use every condition). The one fit behind every
    experiment's slopes, so they treat missing points alike."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    if log_x:
        ok &= x > 0
    if log_y:
        ok &= y > 0
    if (strict and not ok.all()) or ok.sum() < 2:
        return math.nan
    xs, ys = x[ok], y[ok]
    return float(np.polyfit(np.log(xs) if log_x else xs, np.log(ys) if log_y else ys, 1)[0])


class DefinitionError(ValueError):
    """A claim definition (an experiment's ``claims.yaml``) is malformed; the message names
    the file and the claim."""


@dataclass(frozen=True)
class Definition:
    """One claim, as its experiment's ``claims.yaml`` defines it (the key is ``key``).

    A definition may give several rows of the claims table (one per family, network or
    parametrisation of the config: the experiment's ``check`` names each row's claim id)."""

    key: str  # the definition's id within its experiment
    tier: str  # replication | extension | sanity (TIERS)
    tier_reason: str  # why this tier, in one sentence
    source: str  # the paper, and the section / figure / theorem the claim is taken from
    statement: str  # what is claimed, in words
    metric: str  # what the value measures
    comparison: str  # one of < <= > >=: holds iff value <comparison> threshold
    threshold: float
    threshold_basis: (
        str  # the paper's number, a theorem's rate, the claim itself, or a project choice
    )
    protocol: str  # the source's own setup in one line
    deviations: str  # where ours differs from it, and why ("none" where nothing does)
    published: str  # what the source reports for this claim ("none reported: ..." if nothing)

    REQUIRED: ClassVar[tuple[str, ...]] = (
        "tier",
        "tier_reason",
        "source",
        "statement",
        "metric",
        "comparison",
        "threshold",
        "threshold_basis",
        "protocol",
        "deviations",
        "published",
    )

    @classmethod
    def from_mapping(cls, key: str, d: Mapping[str, Any], where: str = "") -> Definition:
        """Validate one entry of a ``claims.yaml`` (``where``: the file, for the message)."""
        at = f"{where}: claim {key!r}" if where else f"claim {key!r}"
        if not isinstance(d, Mapping):
            raise DefinitionError(f"{at}: a definition is a mapping of fields, got {d!r}")
        missing = [f for f in cls.REQUIRED if f not in d or d[f] is None]
        unknown = sorted(set(d) - set(cls.REQUIRED))
        if missing or unknown:
            raise DefinitionError(
                f"{at}: missing field(s) {missing}; unknown field(s) {unknown}; a definition "
                f"has exactly {list(cls.REQUIRED)}"
            )
        if d["tier"] not in TIERS:
            raise DefinitionError(f"{at}: tier {d['tier']!r} is not one of {list(TIERS)}")
        if d["comparison"] not in OPS:
            raise DefinitionError(f"{at}: comparison {d['comparison']!r} is not one of {list(OPS)}")
        threshold = d["threshold"]
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise DefinitionError(f"{at}: threshold {threshold!r} is not a number")
        texts = {f: d[f] for f in cls.REQUIRED if f not in ("comparison", "threshold")}
        for f, v in texts.items():
            if not isinstance(v, str):
                raise DefinitionError(f"{at}: {f} must be a string, got {v!r}")
        # every field says something; a replication must say what the source did
        empty = [f for f, v in texts.items() if not v.strip()]
        if empty:
            hint = (
                " (a replication must state the source's protocol)" if "protocol" in empty else ""
            )
            raise DefinitionError(f"{at}: empty field(s) {empty}{hint}")
        return cls(key=key, threshold=float(threshold), comparison=d["comparison"], **texts)


def load_definitions(path: str | Path) -> dict[str, Definition]:
    """Every claim definition of a ``claims.yaml`` ({key: Definition}, in file order); a
    malformed file or entry is a :class:`DefinitionError` naming it."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise DefinitionError(f"{path}: no claim definitions (file missing)") from None
    except yaml.YAMLError as e:
        raise DefinitionError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, Mapping) or not data:
        raise DefinitionError(f"{path}: expected a mapping of claim definitions, got {data!r}")
    return {str(k): Definition.from_mapping(str(k), v, str(path)) for k, v in data.items()}


def with_scale_thresholds(
    definitions: Mapping[str, Definition], overrides: Mapping[str, Mapping[str, Any]], where: str
) -> dict[str, Definition]:
    """``definitions`` with the thresholds a scale's config declares ({key: {threshold,
    reason}}; ``where`` names that config key in errors); the reason is added to the
    threshold's basis, so the claims table says why this scale differs."""
    out = dict(definitions)
    for key, o in overrides.items():
        if key not in out:
            raise DefinitionError(f"{where}: no claim {key!r}; defined: {list(out)}")
        d = out[key]
        basis = f"{d.threshold_basis} At this scale {o['threshold']:g}: {o['reason']}"
        out[key] = replace(d, threshold=float(o["threshold"]), threshold_basis=basis)
    return out


@dataclass(frozen=True)
class Claim:
    claim: str  # stable id, e.g. "benign_overfitting.benign_vanishes"
    experiment: str
    definition: Definition  # what is claimed, its tier, threshold and protocol
    estimate: Estimate  # the value, its number of seeds and its interval
    figure: str
    scale: str
    note: str = ""

    @property
    def value(self) -> float:
        return self.estimate.value

    @property
    def tier(self) -> str:
        return self.definition.tier

    @property
    def comparison(self) -> str:
        return self.definition.comparison

    @property
    def threshold(self) -> float:
        return self.definition.threshold

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
        d = self.definition
        e = self.estimate
        note = self.note
        if math.isnan(float(e.value)) and not note:
            note = "metric could not be computed (NaN)"
        out = {
            "claim": self.claim,
            "experiment": self.experiment,
            "tier": d.tier,
            "source": d.source,
            "statement": d.statement,
            "metric": d.metric,
            "value": float(e.value),
            "n_seeds": int(e.n_seeds),
            "ci_low": float(e.ci_low),
            "ci_high": float(e.ci_high),
            "comparison": d.comparison,
            "threshold": float(d.threshold),
            "threshold_basis": d.threshold_basis,
            "protocol": d.protocol,
            "deviations": d.deviations,
            "published": d.published,
            "holds": self.holds,
            "confident": self.confident,
            "figure": self.figure,
            "scale": self.scale,
            "note": note,
        }
        return out


def make_claim(
    definition: Definition | Mapping[str, Any],
    *,
    claim: str,
    experiment: str,
    estimate: Estimate,
    figure: str,
    scale: str,
    note: str = "",
) -> Claim:
    """The claim row ``experiment.claim`` of ``definition`` (a :class:`Definition`, or a
    mapping with its fields, validated as a ``claims.yaml`` entry is). ``estimate`` is
    required: a claim without seeds says so with :meth:`Estimate.exact`."""
    if not isinstance(estimate, Estimate):
        raise TypeError(f"claim {experiment}.{claim}: estimate must be an Estimate")
    if not isinstance(definition, Definition):
        definition = Definition.from_mapping(claim, definition)
    return Claim(
        claim=f"{experiment}.{claim}",
        experiment=experiment,
        definition=definition,
        estimate=estimate,
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


def tier_counts(df: pd.DataFrame) -> dict[str, tuple[int, int, int]]:
    """{tier: (claims, holding, holding confidently)} for every tier that has claims, in the
    order of TIERS."""
    out = {}
    for tier in TIERS:
        d = df[df["tier"] == tier]
        if len(d):
            out[tier] = (len(d), int(d["holds"].sum()), int(d["confident"].sum()))
    return out


def tally(df: pd.DataFrame) -> str:
    """The verdicts per tier in one line, e.g. 'replications: 20 of 30 hold (15 confidently) ·
    extensions: 5 of 8 hold (4 confidently) · sanity checks: all 12 pass'. A tier with no
    claim is left out."""
    parts = []
    for tier, (n, held, sure) in tier_counts(df).items():
        name = TIER_PLURALS[tier]
        if tier == "sanity":
            parts.append(
                f"{name}: all {n} pass"
                if held == n
                else f"{name}: {n - held} of {n} FAIL (a bug of the pipeline)"
            )
        else:
            parts.append(f"{name}: {held} of {n} hold ({sure} confidently)")
    return " · ".join(parts) if parts else "no claims"


def _claim_line(r, with_interval: bool) -> str:
    if with_interval:
        return (
            f"  {r.claim} ({_num(r.value)}, {interval(r)}; needs {r.comparison} {r.threshold:.4g})"
        )
    return f"  {r.claim} ({r.metric} = {_num(r.value)}, needs {r.comparison} {r.threshold:.4g})"


def summary(df: pd.DataFrame) -> str:
    """One paragraph for the console: the tally per tier (95% bootstrap intervals), then per
    tier every claim that does not hold (sanity checks first: each is a bug) and every one that
    holds without confidence."""
    lines = [tally(df)]
    for tier in ("sanity", "replication", "extension"):
        d = df[df["tier"] == tier]
        failed = d[~d["holds"]]
        if len(failed):
            head = (
                "sanity checks FAILING (bugs of the pipeline)"
                if tier == "sanity"
                else (f"{TIER_PLURALS[tier]} not holding")
            )
            lines.append(f"{head}:")
            lines += [_claim_line(r, False) for r in failed.itertuples(index=False)]
    for tier in ("replication", "extension", "sanity"):
        d = df[df["tier"] == tier]
        shaky = d[d["holds"] & ~d["confident"]]
        if len(shaky):
            lines.append(f"{TIER_PLURALS[tier]} holding, not confidently:")
            lines += [_claim_line(r, True) for r in shaky.itertuples(index=False)]
    return "\n".join(lines)


def failing_sanity(df: pd.DataFrame) -> pd.DataFrame:
    """The sanity checks of a claims table that do not hold (each one is a bug)."""
    return df[(df["tier"] == "sanity") & ~df["holds"]]


def to_markdown(df: pd.DataFrame) -> str:
    """The claims table as readable markdown (no extra dependency): the tally per tier, then
    one table per tier."""
    scale = ", ".join(sorted(set(df["scale"])))
    lines = [
        "# Claims",
        "",
        f"Scale `{scale}`: {tally(df)}. A claim holds confidently when its whole 95% interval "
        "lies on the holding side of its threshold.",
    ]
    for tier in TIERS:
        d = df[df["tier"] == tier]
        if not len(d):
            continue
        lines += [
            "",
            f"## {TIER_PLURALS[tier].capitalize()}",
            "",
            "| claim | verdict | value | 95% interval | test | source | statement | note |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in d.itertuples(index=False):
            v = verdict(r)
            v = v if r.holds else f"**{v}**"
            test = f"{r.metric} {r.comparison} {r.threshold:.4g}"
            cells = [r.claim, v, _num(r.value), interval(r), test, r.source, r.statement, r.note]
            lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines) + "\n"
