"""Claims: one row per published claim, with the number that decides whether it held.

A claim that does not hold is a row with ``holds = False``, never an exception: the pipeline
reports it. A claim whose metric could not be computed (NaN: e.g. every run diverged) does
not hold, and its ``note`` says why.
"""

from __future__ import annotations

import math
import operator
from dataclasses import asdict, dataclass

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
        "comparison": "str",
        "threshold": "float",
        "holds": "bool",
        "figure": "str",
        "scale": "str",
        "note": "str",
    },
    nullable=frozenset({"value"}),
)


@dataclass(frozen=True)
class Claim:
    claim: str  # stable id, e.g. "benign_overfitting.benign_vanishes"
    experiment: str
    source: str  # the paper
    statement: str  # what is claimed, in words
    metric: str  # what `value` measures
    value: float
    comparison: str  # one of < <= > >=: holds iff value <comparison> threshold
    threshold: float
    figure: str
    scale: str
    note: str = ""

    @property
    def holds(self) -> bool:
        if self.comparison not in OPS:
            raise ValueError(f"claim {self.claim}: unknown comparison {self.comparison!r}")
        v = self.value
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return False
        return bool(OPS[self.comparison](v, self.threshold))

    def row(self) -> dict:
        d = asdict(self)
        d["value"] = float("nan") if self.value is None else float(self.value)
        d["threshold"] = float(self.threshold)
        d["holds"] = self.holds
        if math.isnan(d["value"]) and not d["note"]:
            d["note"] = "metric could not be computed (NaN)"
        return d


def make_claim(
    spec: dict,
    *,
    claim: str,
    experiment: str,
    value: float,
    figure: str,
    scale: str,
    note: str = "",
) -> Claim:
    """Build a Claim from its config entry ``spec`` = {source, statement, metric, comparison,
    threshold}: the numbers and their provenance live in config, not in code."""
    return Claim(
        claim=f"{experiment}.{claim}",
        experiment=experiment,
        source=spec["source"],
        statement=spec["statement"],
        metric=spec["metric"],
        value=value,
        comparison=spec["comparison"],
        threshold=float(spec["threshold"]),
        figure=figure,
        scale=scale,
        note=note,
    )


def claims_frame(claims: list[Claim]) -> pd.DataFrame:
    df = pd.DataFrame([c.row() for c in claims], columns=list(CLAIMS_SCHEMA.columns))
    return df.astype({"value": "float64", "threshold": "float64", "holds": "bool"})


def to_markdown(df: pd.DataFrame) -> str:
    """The claims table as readable markdown (no extra dependency)."""
    held = int(df["holds"].sum())
    lines = [
        "# Claims",
        "",
        f"{held} of {len(df)} claims hold at scale `{', '.join(sorted(set(df['scale'])))}`.",
        "",
        "| claim | holds | value | test | source | statement | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in df.itertuples(index=False):
        val = "NaN" if math.isnan(r.value) else f"{r.value:.4g}"
        verdict = "yes" if r.holds else "**NO**"
        test = f"{r.metric} {r.comparison} {r.threshold:.4g}"
        cells = [r.claim, verdict, val, test, r.source, r.statement, r.note]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines) + "\n"
