"""The ``overparam`` command: audit a run's tables from a terminal.

    overparam claims  [--experiment X] [--tier T] [--failing] [--results DIR] [--json]
    overparam show    TABLE.parquet [--columns] [--provenance] [--head N] [--where EXPR] [--json]
    overparam diff    RESULTS_A RESULTS_B
    overparam explain CLAIM_ID [--results DIR] [--head N] [--json]
    overparam --version

What it reads and compares is ``overparam.audit``; verdicts and intervals are
``overparam.claims``'. Bad input prints one line on stderr and exits 1 (usage errors: 2).
``claims --failing`` exits 3 when a replication or a sanity check of the selection does not
hold (an extension that does not hold is a result, not a failure), so a script can gate on it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from . import audit
from .claims import TIERS, interval, tally, verdict

PROG = "overparam"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("overparam")
    except PackageNotFoundError:  # a checkout on sys.path, not installed
        return "unknown (not installed)"


def _num(v: float) -> str:
    return "NaN" if pd.isna(v) else f"{float(v):.4g}"


def _needs(r) -> str:
    return f"{r.comparison} {float(r.threshold):.4g}"


def _frame(df: pd.DataFrame, head: int) -> str:
    """Rows for a terminal: every column, long cells cut."""
    with pd.option_context("display.width", 10_000, "display.max_columns", None):
        return df.head(head).to_string(index=False, max_colwidth=40)


# ----------------------------------------------------------------------------- claims


def claims_lines(df: pd.DataFrame) -> list[str]:
    """One aligned line per claim: id, tier, verdict, value, interval, test."""
    cols = [
        [r.claim, r.tier, verdict(r), _num(r.value), interval(r), f"needs {_needs(r)}"]
        for r in df.itertuples(index=False)
    ]
    head = ["claim", "tier", "verdict", "value", "95% interval", "test"]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *cols)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*head).rstrip()] + [fmt.format(*c).rstrip() for c in cols]


FAILING_EXIT = 3  # `claims --failing`: a replication or sanity check does not hold


def _records(df: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts (NaN -> None)."""
    return json.loads(df.to_json(orient="records", default_handler=str))


def cmd_claims(args) -> int:
    df = audit.load_claims(args.results)
    if args.experiment:
        audit.check_experiment(args.experiment, df)
        df = df[df["experiment"] == args.experiment]
    if args.tier:
        df = df[df["tier"] == args.tier]
    head = tally(df)
    if args.failing:
        df = df[~df["holds"]]
    if args.json:
        print(
            json.dumps(
                {
                    "source": str(df.attrs.get("source", args.results)),
                    "tally": head,
                    "claims": _records(df),
                },
                indent=2,
            )
        )
    else:
        print(f"{df.attrs.get('source', args.results)}: {head}")
        if len(df):
            print("\n".join(claims_lines(df)))
        else:
            print("(no claim fails)" if args.failing else "(no claims)")
    gating = df["tier"].isin(["replication", "sanity"]) & ~df["holds"]
    return FAILING_EXIT if args.failing and gating.any() else 0


# ----------------------------------------------------------------------------- show


def column_lines(t: audit.Table) -> list[str]:
    """Name, kind, nullability and documented meaning of every column."""
    s = t.schema
    cols = list(s.columns) if s else []
    cols += [c for c in t.frame.columns if c not in cols]
    out = []
    width = max((len(c) for c in cols), default=0)
    for c in cols:
        if s is None or c not in s.columns:
            kind, meaning = str(t.frame[c].dtype), "(not in the schema)" if s else ""
        else:
            kind = s.columns[c] + (", nullable" if c in s.nullable else "")
            meaning = s.doc.get(c, "(undocumented)")
        missing = "" if c in t.frame.columns else "  [missing from the table]"
        out.append(f"  {c:<{width}}  {kind:<15} {meaning}{missing}".rstrip())
    return out


FIRST = ("schema", "experiment", "job", "config_hash", "git_commit", "device", "wall_s", "seeds")


def provenance_lines(prov: dict) -> list[str]:
    """The provenance, one key a line (what identifies the table first): versions on one
    line, the run tables of a metrics table counted, the config one dotted key a line."""
    if not prov:
        return ["  (none recorded)"]
    out = []
    keys = [k for k in FIRST if k in prov] + sorted(k for k in prov if k not in FIRST)
    keys = [k for k in keys if k != "config"] + (["config"] if "config" in prov else [])
    for k in keys:
        v = prov[k]
        if k == "versions" and isinstance(v, dict):
            out.append(f"  versions: {', '.join(f'{p} {x}' for p, x in v.items())}")
        elif k == "config":
            out.append("  config:")
            flat = audit.flatten(v)
            out += [f"    {key}: {json.dumps(x, default=str)}" for key, x in flat.items()]
        elif k == "runs" and isinstance(v, dict):
            walls = [float(r.get("wall_s") or 0) for r in v.values()]
            out.append(f"  runs: {len(v)} run tables, {sum(walls):.1f} s of wall time")
        elif k == "wall_s" and v is not None:
            out.append(f"  wall_s: {float(v):.2f}")
        else:
            out.append(f"  {k}: {v if isinstance(v, str) else json.dumps(v, default=str)}")
    return out


def show_json(t: audit.Table, rows: pd.DataFrame, head: int) -> dict:
    s = t.schema
    cols = list(s.columns) if s else []
    cols += [c for c in t.frame.columns if c not in cols]
    return {
        "path": str(t.path),
        "schema": s.name if s else None,
        "rows": len(t.frame),
        "columns": {
            c: {
                "type": (s.columns.get(c) if s else None) or str(t.frame[c].dtype),
                "nullable": bool(s and c in s.nullable),
                "meaning": s.doc.get(c, "") if s else "",
            }
            for c in cols
        },
        "provenance": json.loads(json.dumps(t.provenance, default=str)),
        "problem": t.problem,
        "selected": len(rows),
        "head": _records(rows.head(head)),
    }


def cmd_show(args) -> None:
    t = audit.load(args.table)
    rows = t.frame if args.where is None else audit.query(t.frame, args.where)  # fail first
    if args.json:
        print(
            json.dumps(show_json(t, rows, 10 if args.head is None else max(args.head, 0)), indent=2)
        )
        return
    name = t.schema.name if t.schema else "unknown schema"
    print(f"{t.path}: table {name!r}, {len(t.frame)} rows x {t.frame.shape[1]} columns")
    if t.problem:
        print(f"warning: {t.problem}", file=sys.stderr)
    sections = args.columns or args.provenance
    if args.columns or not sections:
        print("columns:")
        print("\n".join(column_lines(t)))
    if args.provenance or not sections:
        print("provenance:")
        print("\n".join(provenance_lines(t.provenance)))
    if not sections or args.head is not None or args.where is not None:
        head = 10 if args.head is None else max(args.head, 0)
        sel = f" where {args.where}" if args.where is not None else ""
        print(f"rows{sel}: {len(rows)} of {len(t.frame)} (first {min(head, len(rows))}):")
        if len(rows) and head:
            print(_frame(rows, head))


# ----------------------------------------------------------------------------- diff


def _state(r) -> str:
    return f"{verdict(r)}, {_num(r['value'])} {interval(r)}, needs {_needs(r)}"


def cmd_diff(args) -> None:
    a, b = Path(args.a), Path(args.b)
    ca, cb = audit.load_claims(a), audit.load_claims(b)
    print(
        f"A = {a} (scale {', '.join(sorted(set(ca['scale'])))}; commit "
        f"{', '.join(audit.commits(a)) or 'unknown'})"
    )
    print(
        f"B = {b} (scale {', '.join(sorted(set(cb['scale'])))}; commit "
        f"{', '.join(audit.commits(b)) or 'unknown'})"
    )
    changed = audit.claim_changes(ca, cb)
    print(f"claims in both: {len(ca) - len(audit.only_in(ca, cb))}; changed: {len(changed)}")
    for r in changed.itertuples(index=False):
        print(f"  {r.claim} ({r.changes})")
        print(f"    A: {_state(r.a)}")
        print(f"    B: {_state(r.b)}")
    within = audit.moved_within(ca, cb)
    if within:
        print(f"values that changed within their intervals: {len(within)}")
        print("\n".join(f"  {c}: {_num(x)} -> {_num(y)}" for c, x, y in within))
    for label, ids in (("only in A", audit.only_in(ca, cb)), ("only in B", audit.only_in(cb, ca))):
        if ids:
            print(f"{label}: {len(ids)}")
            print("\n".join(f"  {c}" for c in ids))
    sections, only_a, only_b = audit.section_diffs(a, b)
    if not sections and not only_a and not only_b:
        print("config: every experiment's recorded config is the same (config_hash)")
    for s in sections:
        print(f"config of {s.experiment} differs (config_hash {s.hash_a} -> {s.hash_b}):")
        for key, va, vb in s.changes:
            print(f"  {key}: {audit.short(va)} -> {audit.short(vb)}")
    for label, exps in (("only in A", only_a), ("only in B", only_b)):
        if exps:
            print(f"metrics tables {label}: {', '.join(exps)}")


# ----------------------------------------------------------------------------- explain


def cmd_explain(args) -> None:
    claims = audit.load_claims(args.results)
    r = audit.claim(claims, args.claim)
    if args.json:
        rows = audit.claim_rows(args.results, r)
        fig = Path(args.results).parent / str(r["figure"])
        print(
            json.dumps(
                {
                    "claim": _records(pd.DataFrame([r]))[0],
                    "figure": str(fig),
                    "figure_built": fig.exists(),
                    "metrics": str(rows.metrics.path),
                    "query": rows.query,
                    "rows": len(rows.frame),
                    "head": _records(rows.frame.head(max(args.head, 0))),
                },
                indent=2,
            )
        )
        return
    print(r["claim"])
    for key, text in (
        ("tier", r["tier"]),
        ("source", r["source"]),
        ("statement", r["statement"]),
        ("metric", r["metric"]),
        ("test", f"holds iff value {_needs(r)}"),
        ("basis", r["threshold_basis"]),
        ("protocol", r["protocol"]),
        ("deviations", r["deviations"]),
        ("published", r["published"]),
        ("value", _num(r["value"])),
        ("interval", interval(r)),
        ("verdict", verdict(r)),
        ("scale", r["scale"]),
        ("note", r["note"] or "-"),
    ):
        print(f"  {key + ':':<12}{text}")
    fig = Path(args.results).parent / str(r["figure"])
    print(f"  {'figure:':<12}{fig}{'' if fig.exists() else ' (not built)'}")
    rows = audit.claim_rows(args.results, r)
    m = rows.metrics
    print(
        f"computed from {m.path} (config_hash {m.provenance.get('config_hash')}, commit "
        f"{m.provenance.get('git_commit')}):"
    )
    if rows.query is None:
        print(
            f"  the whole metrics table, {len(rows.frame)} rows (no narrower selection is "
            "declared for this claim)"
        )
    else:
        print(f"  {len(rows.frame)} of {len(m.frame)} rows, where {rows.query}")
    if len(rows.frame) and args.head > 0:
        shown = min(args.head, len(rows.frame))
        print(f"first {shown} (--head N for more):" if shown < len(rows.frame) else "rows:")
        print(_frame(rows.frame, args.head))


# ----------------------------------------------------------------------------- entry point


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Audit the tables of an overparam run.")
    p.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("claims", help="the claims table: verdicts, values and intervals")
    c.add_argument("--experiment", help="only this experiment's claims")
    c.add_argument("--tier", choices=TIERS, help="only the claims of this tier")
    c.add_argument("--failing", action="store_true", help="only the claims that do not hold")
    c.add_argument("--results", default="results", help="results folder (default: results)")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    c.set_defaults(run=cmd_claims)

    s = sub.add_parser("show", help="a table: its columns' meanings, provenance and rows")
    s.add_argument("table", help="a parquet table of a run, e.g. an experiment's metrics.parquet")
    s.add_argument("--columns", action="store_true", help="the columns and their meanings")
    s.add_argument("--provenance", action="store_true", help="config, commit, versions, device")
    s.add_argument("--head", type=int, metavar="N", help="show N rows (default 10)")
    s.add_argument("--where", metavar="EXPR", help='pandas query, e.g. "width >= 256"')
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(run=cmd_show)

    d = sub.add_parser("diff", help="claims and configs that differ between two runs")
    d.add_argument("a", metavar="RESULTS_A")
    d.add_argument("b", metavar="RESULTS_B")
    d.set_defaults(run=cmd_diff)

    e = sub.add_parser("explain", help="one claim: its test, value, rows and figure")
    e.add_argument("claim", help="claim id, e.g. lazy_training.ntk_change_vanishes")
    e.add_argument("--results", default="results", help="results folder (default: results)")
    e.add_argument("--head", type=int, default=20, metavar="N", help="rows shown (default 20)")
    e.add_argument("--json", action="store_true", help="machine-readable output")
    e.set_defaults(run=cmd_explain)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        rc = args.run(args)
    except audit.AuditError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `overparam show ... | head`
        sys.stderr.close()
        return 0
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
