"""The paper-scale evidence (``docs/paper-scale/``) and the page made from it (docs/paper-scale.md).

Two steps, so the page can never drift from tables a reader can audit:

    # 1. copy a paper run's tables into the repository (after, or during, the run)
    python docs/make_paper_scale.py collect --run /path/to/paper/checkout [EXPERIMENT ...]
    # 2. write docs/paper-scale.md from the committed evidence only (no run needed)
    python docs/make_paper_scale.py [--check]

``collect`` writes, per experiment, ``docs/paper-scale/<exp>/``: its ``claims.parquet``,
``metrics.parquet`` and ``provenance.json`` (the layout of a results folder, so
``overparam claims --results docs/paper-scale`` and ``overparam diff results docs/paper-scale``
read it), ``jobs.parquet`` (the Snakemake benchmark row of every job it ran), its figure and
``run.json`` (the jobs the run's own code planned, the commits that ran them, when it was
collected). An experiment whose jobs have not all run yet gets only ``jobs.parquet`` and
``run.json``: the page lists it as partial.

The page gives per experiment the jobs run / planned, wall and CPU time, peak memory and commits,
and per claim its tier, value, interval, verdict, the published number and the quick-scale
verdict (``docs/quick-scale/claims.parquet``). Where the two verdicts differ the page needs one
sentence explaining why, from ``docs/paper-scale/differences.yaml`` (claim id -> sentence):
rendering fails while one is missing or stale. ``--check`` compares instead of writing (the test
suite runs it). Nothing on the page is typed by hand.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from overparam import experiments, tables  # noqa: E402
from overparam.claims import CLAIMS_SCHEMA, TIERS, interval, tier_counts, verdict  # noqa: E402
from overparam.io import atomic_path  # noqa: E402
from overparam.steps import collect_benchmarks  # noqa: E402

EVIDENCE = ROOT / "docs" / "paper-scale"
PAGE = ROOT / "docs" / "paper-scale.md"
QUICK = ROOT / "docs" / "quick-scale" / "claims.parquet"
DIFFERENCES = EVIDENCE / "differences.yaml"
RUN_RULES = ("train", "solve")  # the rules whose jobs an experiment plans (one per job id)

# the run's own code lists its planned jobs (job ids change with the code: bundles, new jobs)
_PLAN = """
import json, sys
from overparam import experiments
from overparam.config import read_config, validate
cfg = validate(read_config("config/config.yaml", "config/paper.yaml"), "workflow/schemas/config.schema.yaml")
print(json.dumps({n: list(experiments.get(n).jobs(cfg[n])) for n in sys.argv[1:]}))
"""


class EvidenceError(Exception):
    """The evidence and the page (or its differences file) do not fit together."""


def _num(v) -> str:
    return "NaN" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4g}"


def _hms(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}h {s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s"


# ----------------------------------------------------------------------------- collect


def planned_jobs(run: Path, names: list[str]) -> dict[str, list[str]]:
    """{experiment: job ids} as the code of the run's checkout plans them at paper scale."""
    env = {"PYTHONPATH": str(run / "src"), "PATH": str(Path(sys.executable).parent)}
    out = subprocess.run([sys.executable, "-c", _PLAN, *names], cwd=run, env=env,
                         capture_output=True, text=True)  # fmt: skip
    if out.returncode:
        raise EvidenceError(f"{run}: could not list its paper-scale jobs:\n{out.stderr}")
    return json.loads(out.stdout)


def _benchmarks(run: Path, name: str) -> tuple[list[Path], list[tuple], list[Path | None]]:
    paths, labels, tabs = [], [], []
    for tsv in sorted((run / "results" / "benchmarks" / "jobs" / name).glob("*.tsv")):
        rule, _, job = tsv.stem.partition("_")
        table = run / "results" / name / "runs" / f"{job}.parquet"
        paths.append(tsv)
        labels.append((rule, name, job))
        tabs.append(table if rule in RUN_RULES and table.exists() else None)
    return paths, labels, tabs


def compact_copy(src: Path, dest: Path) -> None:
    """Write the parquet table ``src`` to ``dest`` losslessly but smaller, for the repository:
    zstd at level 19; float columns with many distinct values (more than a quarter of the rows:
    losses, one per epoch) byte-stream split, their bytes grouped by significance, which zstd
    compresses far better than whole doubles; the other columns dictionary-encoded. Values,
    types and the schema's metadata (the provenance) are unchanged: ``pq.read_table`` of either
    equals the other. On optimization_ease's per-epoch table: 5.7 MB instead of 8.0 (snappy)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(src)
    split = [
        f.name
        for f in table.schema
        if pa.types.is_floating(f.type) and len(pc.unique(table[f.name])) > table.num_rows / 4
    ]
    rest = [f.name for f in table.schema if f.name not in split]
    with atomic_path(dest) as tmp:
        pq.write_table(table, tmp, compression="zstd", compression_level=19,
                       use_dictionary=rest or False, use_byte_stream_split=split or False)  # fmt: skip


def collect_one(run: Path, name: str, planned: list[str], evidence: Path = EVIDENCE) -> str:
    """Copy experiment ``name``'s tables from the paper run in ``run`` into ``evidence/name``;
    returns 'complete', 'partial' or 'not started'."""
    paths, labels, tabs = _benchmarks(run, name)
    if not paths:
        return "not started"
    dest = evidence / name
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    jobs = collect_benchmarks(paths, labels, dest / "jobs.parquet", log=lambda m: None,
                              run_tables=tabs)  # fmt: skip
    res = run / "results" / name
    complete = (res / "claims.parquet").exists() and (run / "figures" / f"{name}.png").exists()
    provs = [tables.read_provenance(t) for t in tabs if t is not None]
    commits = sorted({str(p.get("git_commit") or "unknown") for p in provs})
    if complete:
        for f in ("claims.parquet", "metrics.parquet"):
            compact_copy(res / f, dest / f)
        shutil.copy2(res / "provenance.json", dest / "provenance.json")
        shutil.copy2(run / "figures" / f"{name}.png", dest / f"{name}.png")
        prov = json.loads((res / "provenance.json").read_text())
        planned = list(prov.get("runs") or planned)  # the jobs its metrics were made from
    ran = sorted(set(jobs.loc[jobs["rule"].isin(RUN_RULES), "job"]))
    info = {
        "experiment": name,
        "status": "complete" if complete else "partial",
        "planned_jobs": list(planned),
        "ran_jobs": ran,
        "commits": commits,
        "run_checkout_commit": tables.git_commit(run),
        "collected": dt.date.today().isoformat(),
        "machine": _machine(provs),
    }
    (dest / "run.json").write_text(json.dumps(info, indent=1) + "\n")
    return info["status"]


def _machine(provs: list[dict]) -> str:
    """The collecting machine's CPU (the run's, where the run is collected where it ran) and
    the devices its run tables' provenance ``provs`` records."""
    devices = sorted({str(p.get("device")) for p in provs})
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{platform.machine()}, {cores} CPU cores, device {'/'.join(devices) or 'cpu'}"


def collect(run: Path, names: list[str] | None = None, evidence: Path = EVIDENCE) -> None:
    names = names or list(experiments.names())
    plan = planned_jobs(run, names)
    for n in names:
        print(f"{n}: {collect_one(run, n, plan[n], evidence)}")


# ----------------------------------------------------------------------------- render


def load_evidence(evidence: Path = EVIDENCE) -> dict[str, dict]:
    """{experiment: {'run': run.json, 'jobs': jobs table, 'claims': claims table or None}}."""
    out = {}
    for n in experiments.names():
        d = evidence / n
        if not (d / "run.json").exists():
            continue
        claims = d / "claims.parquet"
        out[n] = {
            "run": json.loads((d / "run.json").read_text()),
            "jobs": pd.read_parquet(d / "jobs.parquet"),
            "claims": tables.read_table(claims, CLAIMS_SCHEMA) if claims.exists() else None,
            "bytes": {f.name: f.stat().st_size for f in sorted(d.iterdir()) if f.is_file()},
        }
    return out


def _mb(b: float) -> str:
    return f"{b / 1e6:.1f} MB" if b >= 1e5 else f"{b / 1e3:.0f} kB"


def size_line(ev: dict[str, dict], evidence_root: str = "paper-scale/") -> str:
    """What the committed evidence takes, and its largest file."""
    files = [(b, f"{n}/{f}") for n, e in ev.items() for f, b in e["bytes"].items()]
    if not files:
        return "No evidence committed yet."
    total = sum(b for b, _ in files)
    figs = sum(b for b, f in files if f.endswith(".png"))
    big, name = max(files)
    return (
        f"The evidence in [`{evidence_root}`]({evidence_root}) takes {_mb(total)}: tables and "
        f"run records {_mb(total - figs)}, figures {_mb(figs)}; the largest file is `{name}` "
        f"({_mb(big)}). Tables are stored losslessly compressed (zstd, float columns "
        "byte-stream split): they read back equal to the run's."
    )


def time_rows(ev: dict[str, dict]) -> list[str]:
    rows = [
        "| experiment | status | jobs run / planned | wall | CPU time | peak RSS | mean load | "
        "commits | collected |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n, e in ev.items():
        r, j = e["run"], e["jobs"]
        commits = ", ".join(f"`{c[:10]}`" for c in r["commits"]) or "-"
        rows.append(
            f"| {n} | {r['status']} | {len(r['ran_jobs'])} / {len(r['planned_jobs'])} | "
            f"{_hms(j['seconds'].sum())} | {_hms(j['cpu_seconds'].sum())} | "
            f"{j['max_rss_mb'].max():.0f} MB | {j['mean_load'].mean():.0f}% | {commits} | "
            f"{r['collected']} |"
        )
    if len(ev) > 1:
        j = pd.concat([e["jobs"] for e in ev.values()], ignore_index=True)
        ran = sum(len(e["run"]["ran_jobs"]) for e in ev.values())
        planned = sum(len(e["run"]["planned_jobs"]) for e in ev.values())
        rows.append(
            f"| **all** | | {ran} / {planned} | {_hms(j['seconds'].sum())} | "
            f"{_hms(j['cpu_seconds'].sum())} | {j['max_rss_mb'].max():.0f} MB | | | |"
        )
    return rows


def job_lines(ev: dict[str, dict]) -> list[str]:
    """One line per experiment: every planned job's wall time. A job that resumed from the
    checkpoints of an interrupted attempt has a benchmark of its last attempt only; its run
    table's optimizer seconds (``train_s``, summed over the attempts) say what it cost."""
    out = []
    for n, e in ev.items():
        j = e["jobs"]
        runs = j[j["rule"].isin(RUN_RULES)]
        cells = {}
        for job, s, t in zip(runs["job"], runs["seconds"], runs["train_s"]):
            cells[job] = f"{job} {_hms(s)}"
            if pd.notna(t) and t > s:  # more training than this attempt's wall time
                cells[job] += f" (resumed: last attempt; {_hms(t)} of optimizer steps in all)"
        line = [cells.get(job, f"{job} not run") for job in e["run"]["planned_jobs"]]
        out.append(f"- **{n}**: " + ", ".join(line))
    return out


def differing(paper: pd.DataFrame, quick: pd.DataFrame) -> list[str]:
    """The claims whose verdict (holds or not) differs between the paper and quick runs."""
    q = quick.set_index("claim")["holds"]
    return [c for c, h in zip(paper["claim"], paper["holds"]) if c in q and bool(q[c]) != bool(h)]


def check_differences(paper: pd.DataFrame, quick: pd.DataFrame, why: dict[str, str]) -> None:
    diff = set(differing(paper, quick))
    missing, stale = sorted(diff - set(why)), sorted(set(why) - diff)
    if missing or stale:
        raise EvidenceError(
            f"{DIFFERENCES.relative_to(ROOT)}: "
            + (f"no sentence for the differing claim(s) {missing}; " if missing else "")
            + (f"sentences for claims that no longer differ: {stale}" if stale else "")
        )


def tally_line(df: pd.DataFrame) -> str:
    counts, cells = tier_counts(df), []
    for t in TIERS:
        n, held, sure = counts.get(t, (0, 0, 0))
        if n:
            cells.append(f"{t}: {held} of {n} hold ({sure} confidently)")
    return "; ".join(cells)


def claim_rows(paper: pd.DataFrame, quick: pd.DataFrame, why: dict[str, str]) -> list[str]:
    q = quick.set_index("claim")
    rows = [
        "| claim | tier | value | interval | verdict | published | quick scale |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in paper.itertuples():
        published = str(r.published or "").replace("|", "\\|")
        if r.claim in q.index:
            qr = q.loc[r.claim]
            qv = f"{_num(qr['value'])}: {verdict(qr)}"
            if r.claim in why:
                qv = f"**differs**: {qv}. {why[r.claim]}"
        else:
            qv = "not in the quick run"
        rows.append(
            f"| `{r.claim}` | {r.tier} | {_num(r.value)} | {interval(r)} | {verdict(r)} | "
            f"{published} | {qv} |"
        )
    return rows


def render(ev: dict[str, dict], quick: pd.DataFrame, why: dict[str, str]) -> str:
    done = [n for n, e in ev.items() if e["claims"] is not None]
    paper = (
        pd.concat([ev[n]["claims"] for n in done], ignore_index=True) if done else pd.DataFrame()
    )
    if len(paper):
        check_differences(paper, quick, why)
    machines = sorted({e["run"]["machine"] for e in ev.values()})
    out = [
        "# Paper scale, measured",
        "",
        "Generated by `docs/make_paper_scale.py` from the committed evidence in "
        "[`paper-scale/`](paper-scale/) (per experiment its claims, metrics, provenance, job "
        "benchmarks and figure), never typed: `python docs/make_paper_scale.py` rewrites this "
        "page and the test suite checks that it matches. The run: `config/paper.yaml` on "
        f"{'; '.join(machines) or 'no machine yet'}. `CPU time` is Snakemake's benchmark of "
        "each job (sampled: it can miss a job's last seconds, so it is low for short jobs) and "
        "`mean load` its mean CPU use in percent of one core. The run shared its machine with "
        "other work at a lower priority, so wall times are upper bounds for an idle machine.",
        "",
        "Audit or compare it: `overparam claims --results docs/paper-scale`, "
        "`overparam diff results docs/paper-scale`.",
        "",
        "## Time and memory per experiment",
        "",
        *time_rows(ev),
        "",
        size_line(ev),
        "",
        "Per job (planned by the run's own code):",
        "",
        *job_lines(ev),
        "",
        "## Claims at paper scale",
        "",
    ]
    missing = [n for n in experiments.names() if n not in done]
    if len(paper):
        out += [f"Tally over {len(done)} experiments: {tally_line(paper)}.", ""]
        for t in TIERS:
            part = paper[paper["tier"] == t]
            if len(part):
                out += [f"### {t.capitalize()}", "", *claim_rows(part, quick, why), ""]
    if missing:
        out.append("Not yet at paper scale (jobs still to run): " + ", ".join(missing) + ".")
    return "\n".join(out).rstrip() + "\n"


def page(evidence: Path = EVIDENCE, quick: Path = QUICK) -> str:
    why = yaml.safe_load(DIFFERENCES.read_text()) if DIFFERENCES.exists() else {}
    return render(load_evidence(evidence), pd.read_parquet(quick), why or {})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd")
    c = sub.add_parser("collect", help="copy a paper run's tables into docs/paper-scale/")
    c.add_argument("--run", type=Path, required=True, help="checkout of the paper run")
    c.add_argument("experiments", nargs="*", help="default: every experiment")
    ap.add_argument("--check", action="store_true", help="compare the page, do not write it")
    a = ap.parse_args(argv)
    if a.cmd == "collect":
        collect(a.run.resolve(), a.experiments)
    text = page()
    if a.check:
        if PAGE.read_text() != text:
            print(f"{PAGE} is out of date: run python docs/make_paper_scale.py", file=sys.stderr)
            return 1
        print(f"{PAGE} matches its evidence")
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
