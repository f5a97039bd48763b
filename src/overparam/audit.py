"""Auditing results: what the ``overparam`` command (``overparam.cli``) reads and compares.

Plain functions of a results folder (the ``results`` folder of a run: ``claims.parquet``,
``<experiment>/metrics.parquet`` with its provenance, ``<experiment>/runs/*.parquet``):
the schema of any table, the claims table, the rows a claim was computed from, and the
differences between two runs. Bad input raises :class:`AuditError` with one readable line.

Unlike the pipeline's steps, which are given every path, an audit is given a results folder
and finds the tables in it: this module is the one place of the library that knows that
layout (the workflow's rules define it; ``tests/e2e/test_cli.py`` checks the two agree).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import experiments, tables
from .claims import CLAIMS_SCHEMA, verdict
from .tables import Schema, TableError


class AuditError(ValueError):
    """Bad input to an audit (a missing file, an unknown claim or experiment, a bad query)."""


# ----------------------------------------------------------------------------- schemas


def known_schemas() -> dict[str, Schema]:
    """Every table schema by name: the claims table, the job benchmarks and each registered
    experiment's run and metrics tables."""
    from .steps import JOBS_SCHEMA

    out = {CLAIMS_SCHEMA.name: CLAIMS_SCHEMA, JOBS_SCHEMA.name: JOBS_SCHEMA}
    for name in experiments.names():
        e = experiments.get(name)
        for s in (e.run_schema, e.metrics_schema):
            out.setdefault(s.name, s)
    return out


def schema_for(path: Path, provenance: Mapping[str, Any]) -> Schema | None:
    """The schema of the table at ``path``: the one its provenance names (every table the
    pipeline writes records it), else the one its place in a results folder implies
    (``<exp>/runs/*.parquet``, ``<exp>/metrics.parquet``, ``claims.parquet``,
    ``benchmarks/jobs.parquet``); None when neither tells."""
    schemas = known_schemas()
    name = provenance.get("schema")
    if isinstance(name, str) and name in schemas:
        return schemas[name]
    path = Path(path)
    known = experiments.names()
    if path.parent.name == "runs" and path.parent.parent.name in known:
        return experiments.get(path.parent.parent.name).run_schema
    if path.name == "metrics.parquet" and path.parent.name in known:
        return experiments.get(path.parent.name).metrics_schema
    if path.name == "claims.parquet":
        return CLAIMS_SCHEMA
    if path.name == "jobs.parquet" and path.parent.name == "benchmarks":
        return schemas["benchmarks.jobs"]
    return None


@dataclass(frozen=True)
class Table:
    """A parquet table with its provenance and schema (None: unknown). ``problem``: how the
    table fails its schema (empty when it matches)."""

    path: Path
    frame: pd.DataFrame
    provenance: dict[str, Any]
    schema: Schema | None
    problem: str = ""


def load(path) -> Table:
    """Read a parquet table, its provenance and its schema; a missing or unreadable file is an
    :class:`AuditError`. A table that does not match its schema is still returned (an audit
    shows it), with the mismatch in ``problem``."""
    path = Path(path)
    if path.is_dir():
        raise AuditError(f"{path}: is a folder, not a parquet table")
    try:
        df = tables.read_table(path)
        prov = tables.read_provenance(path)
    except TableError as e:
        raise AuditError(str(e)) from None
    schema = schema_for(path, prov)
    problem = ""
    if schema is not None:
        try:
            schema.validate(df, str(path))
        except TableError as e:
            problem = str(e)
    return Table(path, df, prov, schema, problem)


def query(df: pd.DataFrame, expr: str) -> pd.DataFrame:
    """``df.query(expr)``; a bad expression is an :class:`AuditError` naming it."""
    try:
        out = df.query(expr)
    except Exception as e:  # pandas raises many kinds (SyntaxError, NameError, TypeError, ...)
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise AuditError(f"bad query {expr!r}: {msg}") from None
    if not isinstance(out, pd.DataFrame):
        raise AuditError(f"bad query {expr!r}: it does not select rows")
    return out


# ----------------------------------------------------------------------------- claims


def load_claims(results) -> pd.DataFrame:
    """The claims of a results folder: ``claims.parquet``, or, where a partial build has not
    collected it yet, every ``<experiment>/claims.parquet``."""
    results = Path(results)
    if not results.is_dir():
        raise AuditError(f"{results}: no such results folder")
    whole = results / "claims.parquet"
    parts = [whole] if whole.exists() else sorted(results.glob("*/claims.parquet"))
    if not parts:
        raise AuditError(f"{results}: no claims.parquet (build the claims first)")
    try:
        frames = [tables.read_table(p, CLAIMS_SCHEMA) for p in parts]
    except TableError as e:
        raise AuditError(str(e)) from None
    df = pd.concat(frames, ignore_index=True)
    df.attrs["source"] = str(whole) if parts == [whole] else f"{results}/*/claims.parquet"
    return df


def claim(claims: pd.DataFrame, claim_id: str) -> pd.Series:
    """The row of ``claim_id``; an unknown id is an :class:`AuditError` (with near matches)."""
    hit = claims[claims["claim"] == claim_id]
    if len(hit):
        return hit.iloc[0]
    near = [c for c in claims["claim"] if claim_id in c]
    hint = f"; did you mean {', '.join(near[:5])}?" if near else "; `overparam claims` lists them"
    raise AuditError(f"unknown claim {claim_id!r}{hint}")


def check_experiment(name: str, claims: pd.DataFrame) -> None:
    """An experiment name that is neither registered nor in ``claims`` is an AuditError."""
    present = sorted(set(claims["experiment"]))
    if name not in experiments.names() and name not in present:
        raise AuditError(f"unknown experiment {name!r}; known: {', '.join(experiments.names())}")
    if name not in present:
        raise AuditError(f"no claims of experiment {name!r} here; experiments: {present}")


@dataclass(frozen=True)
class Rows:
    """The metrics rows a claim was computed from: ``query`` selects them from the metrics
    table (None: the whole table, nothing narrower is declared)."""

    metrics: Table
    query: str | None
    frame: pd.DataFrame


def claim_rows(results, row: pd.Series) -> Rows:
    """The rows of ``results/<experiment>/metrics.parquet`` that claim ``row`` was computed
    from: the experiment's declared query (``Experiment.claim_rows``) for its id, applied with
    the config the metrics table's provenance records."""
    exp = str(row["experiment"])
    metrics = load(Path(results) / exp / "metrics.parquet")
    key = str(row["claim"]).removeprefix(f"{exp}.")
    declared: dict[str, str] = {}
    if exp in experiments.names():
        cfg = metrics.provenance.get("config") or {}
        try:
            declared = experiments.get(exp).claim_rows(cfg)
        except (KeyError, TypeError, ValueError) as e:  # a config older than the code
            raise AuditError(
                f"{metrics.path}: its recorded config does not give {exp}'s claim rows ({e!r})"
            ) from None
    q = declared.get(key)
    frame = metrics.frame if q is None else query(metrics.frame, q)
    return Rows(metrics, q, frame)


# ----------------------------------------------------------------------------- diff


def _interval(r: pd.Series) -> tuple[float, float]:
    """A claim's interval, its value where it has none (one seed)."""
    lo, hi = float(r["ci_low"]), float(r["ci_high"])
    if math.isnan(lo) or math.isnan(hi):
        return float(r["value"]), float(r["value"])
    return lo, hi


def _outside(v: float, r: pd.Series) -> bool:
    lo, hi = _interval(r)
    if math.isnan(v) or math.isnan(lo):
        return math.isnan(v) != math.isnan(lo)
    return not lo <= v <= hi


def claim_changes(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Claims in both tables whose verdict changed, whose value moved beyond an interval (B's
    value outside A's interval or A's outside B's; a claim without an interval: any change)
    or whose test (comparison, threshold) changed. One row per such claim, with ``changes``
    saying which."""
    rows = []
    b_by = b.set_index("claim")
    for ra in a.itertuples(index=False):
        if ra.claim not in b_by.index:
            continue
        sa, sb = pd.Series(ra._asdict()), b_by.loc[ra.claim]
        what = []
        if verdict(ra) != verdict(sb):
            what.append("verdict")
        if _outside(float(sb["value"]), sa) or _outside(float(sa["value"]), sb):
            what.append("value beyond interval")
        if (ra.comparison, float(ra.threshold)) != (sb["comparison"], float(sb["threshold"])):
            what.append("test")
        if what:
            rows.append({"claim": ra.claim, "changes": ", ".join(what), "a": sa, "b": sb})
    return pd.DataFrame(rows, columns=["claim", "changes", "a", "b"])


def moved_within(a: pd.DataFrame, b: pd.DataFrame) -> list[tuple[str, float, float]]:
    """(claim, value in a, value in b) of the claims in both whose value changed but stayed
    within the intervals (what :func:`claim_changes` does not report)."""
    flagged = set(claim_changes(a, b)["claim"])
    vb = b.set_index("claim")["value"]
    out = []
    for c, v in zip(a["claim"], a["value"]):
        if c in vb.index and c not in flagged:
            w = float(vb[c])
            if v != w and not (math.isnan(v) and math.isnan(w)):
                out.append((str(c), float(v), w))
    return out


def only_in(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    """Claims of ``a`` that ``b`` lacks."""
    return [c for c in a["claim"] if c not in set(b["claim"])]


def experiment_provenance(results) -> dict[str, dict[str, Any]]:
    """{experiment: provenance of its metrics table} for every experiment folder of a results
    folder that has one."""
    out = {}
    for m in sorted(Path(results).glob("*/metrics.parquet")):
        try:
            out[m.parent.name] = tables.read_provenance(m)
        except Exception as e:  # a corrupt table: say so, not crash the whole diff
            out[m.parent.name] = {"error": f"{type(e).__name__}: {e}"}
    return out


def flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config as {dotted key: leaf value}."""
    if isinstance(cfg, Mapping) and cfg:
        out: dict[str, Any] = {}
        for k, v in cfg.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): cfg}


def config_changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(dotted key, value in a, value in b) of every leaf that differs; a missing key is
    ``MISSING``."""
    fa, fb = flatten(a), flatten(b)
    keys = sorted(set(fa) | set(fb))
    return [
        (k, fa.get(k, MISSING), fb.get(k, MISSING))
        for k in keys
        if fa.get(k, MISSING) != fb.get(k, MISSING)
    ]


class _Missing:
    def __repr__(self) -> str:
        return "(absent)"


MISSING: Any = _Missing()


@dataclass
class SectionDiff:
    """How one experiment's recorded config differs between two runs."""

    experiment: str
    hash_a: str | None
    hash_b: str | None
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)
    commits: tuple[str, str] = ("", "")


def section_diffs(a, b) -> tuple[list[SectionDiff], list[str], list[str]]:
    """The experiments whose metrics tables record different configs (hash), and those
    present in only one of the folders."""
    pa, pb = experiment_provenance(a), experiment_provenance(b)
    out = []
    for exp in sorted(set(pa) & set(pb)):
        ha, hb = pa[exp].get("config_hash"), pb[exp].get("config_hash")
        if ha != hb:
            changes = config_changes(pa[exp].get("config") or {}, pb[exp].get("config") or {})
            commits = (str(pa[exp].get("git_commit")), str(pb[exp].get("git_commit")))
            out.append(SectionDiff(exp, ha, hb, changes, commits))
    return out, sorted(set(pa) - set(pb)), sorted(set(pb) - set(pa))


def commits(results) -> list[str]:
    """The git commits the metrics tables of a results folder were made by."""
    prov = experiment_provenance(results)
    return sorted({str(p.get("git_commit")) for p in prov.values() if p.get("git_commit")})


def short(v: Any, width: int = 60) -> str:
    """A config value on one line, cut to ``width`` characters."""
    s = json.dumps(v, sort_keys=True, default=str) if not isinstance(v, _Missing) else repr(v)
    return s if len(s) <= width else s[: width - 3] + "..."


# ----------------------------------------------------------------------------- across scales


def claim_variant(claim: str) -> str:
    """A claim id with the configuration name of its middle part dropped ('lottery_ticket.
    lenet_rewind0.matches_dense' -> 'lottery_ticket.*_rewind0.matches_dense'): the rows one
    definition gives for two networks (or families) differ only there."""
    parts = claim.split(".")
    if len(parts) == 3 and "_" in parts[1]:
        parts[1] = "*_" + parts[1].split("_", 1)[1]
    return ".".join(parts)


def fill_from(claims: pd.DataFrame, other: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """``claims`` with ``columns`` (e.g. ``tier``) filled where its run predates them (or has
    '?'), from ``other``, a claims table of another scale: the row of the same claim id, else
    the rows of the same claim for another configuration (a network one scale does not train,
    :func:`claim_variant`) when they agree; '?' where neither has it."""
    out = claims.copy()
    for col in columns:
        have = out[col] if col in out.columns else pd.Series(None, index=out.index, dtype=object)
        have = have.where(have.notna() & (have != "?"))
        if len(other) and col in other.columns:
            known = other.set_index("claim")[col]
            by_variant = other.groupby(other["claim"].map(claim_variant))[col].agg(
                lambda s: s.iloc[0] if s.nunique() == 1 else None
            )
            have = have.fillna(out["claim"].map(known))
            have = have.fillna(out["claim"].map(claim_variant).map(by_variant))
        out[col] = have.fillna("?")
    return out
