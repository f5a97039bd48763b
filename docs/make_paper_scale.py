"""Write docs/paper-scale.md from a paper-scale run: every claim's value, interval and verdict
beside the published number it is compared with and its quick-scale verdict, and per
experiment the wall time, CPU time and peak memory of its jobs (from the rules' benchmark
files). Jobs that did not run are listed and their time extrapolated from the measured jobs
of the same kind (said so in the table). Nothing here is typed by hand: rerun it after a run.

    python docs/make_paper_scale.py --run /path/to/paper/checkout \\
        --quick /path/to/quick/checkout [--config config/paper.yaml] [--out docs/paper-scale.md]

``--run`` and ``--quick`` are the working directories of the two runs (they hold results/).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from overparam import experiments  # noqa: E402
from overparam.audit import fill_from  # noqa: E402
from overparam.claims import interval, tally, verdict  # noqa: E402
from overparam.config import read_config, validate  # noqa: E402

SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def _num(v) -> str:
    return "NaN" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4g}"


def _hms(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}h {s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s"


def job_times(run: Path, name: str, cfg: dict) -> pd.DataFrame:
    """One row per planned job of experiment ``name``: kind, measured seconds (NaN if the job
    did not run), CPU seconds, peak RSS in MB. A bundle (``experiments.Bundle``) that did not
    run but whose parts each did (a run made with ``bundles: false`` or before bundles
    existed) is its parts' rows."""
    from overparam.experiments import Bundle

    rows = []
    for job_id, spec in experiments.get(name).jobs(cfg[name], cfg.get("bundles", True)).items():
        row = _job_row(run, name, job_id, spec)
        parts = spec.parts if isinstance(spec, Bundle) else ()
        alone = [_job_row(run, name, p.id, p) for p in parts]
        if math.isnan(row["s"]) and alone and not any(math.isnan(r["s"]) for r in alone):
            rows += alone
        else:
            rows.append(row)
    return pd.DataFrame(rows)


def _job_row(run: Path, name: str, job_id: str, spec) -> dict:
    step = ("train_" if getattr(spec, "trains", False) else "solve_") + job_id
    tsv = run / "results" / "benchmarks" / "jobs" / name / f"{step}.tsv"
    kind = type(spec).__name__
    if kind == "Bundle":  # its mean time is that of bundles of the same kind of part
        kind = f"Bundle[{type(spec.parts[0]).__name__}]"
    row = {"job": job_id, "kind": kind, "s": math.nan, "cpu_s": math.nan,
           "max_rss_mb": math.nan, "load": math.nan}  # fmt: skip
    if tsv.exists():
        b = pd.read_csv(tsv, sep="\t").iloc[-1]
        row.update(s=float(b["s"]), cpu_s=float(b.get("cpu_time", math.nan)),
                   max_rss_mb=float(b["max_rss"]), load=float(b.get("mean_load", math.nan)))  # fmt: skip
    return row


def estimate(jobs: pd.DataFrame) -> tuple[float, int, int]:
    """(extrapolated CPU seconds of the jobs that did not run, number of them, number of them
    whose kind has no measured job and so no estimate). A missing job costs the mean CPU time
    of the measured jobs of its kind: on a shared machine CPU time is closer than wall time to
    what a one-thread job takes alone."""
    done = jobs["s"].notna()
    mean_by_kind = jobs[done].groupby("kind")["cpu_s"].mean()
    missing = jobs[~done]
    known = missing["kind"].isin(mean_by_kind.index)
    extra = float(sum(mean_by_kind[k] for k in missing.loc[known, "kind"]))
    return extra, int(len(missing)), int((~known).sum())


def commits_of(run: Path, name: str) -> str:
    """The commits (first 10 digits) that wrote experiment ``name``'s run tables, from their
    provenance ('-' when none ran): a run may be resumed, or merged, across commits."""
    from overparam.tables import read_provenance

    found = {
        str(read_provenance(p).get("git_commit") or "unknown")[:10]
        for p in sorted((run / "results" / name / "runs").glob("*.parquet"))
    }
    return ", ".join(f"`{c}`" for c in sorted(found)) or "-"


def claims_of(run: Path, names: list[str]) -> pd.DataFrame:
    frames = [pd.read_parquet(p) for n in names if (p := run / "results" / n / "claims.parquet").exists()]  # fmt: skip
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def render(run: Path, quick: Path, cfg: dict, commit: str, when: str) -> str:
    names = [n for n in experiments.names() if n in cfg]
    paper = claims_of(run, names)
    quick_claims = claims_of(quick, names).set_index("claim") if quick else pd.DataFrame()
    out = [
        "# Paper scale, measured",
        "",
        f"Generated by `docs/make_paper_scale.py` on {when} from a run of `config/paper.yaml` "
        f"(its working directory at commit `{commit}`) on a 2-core CPU machine (no GPU); the "
        "commits that ran each experiment's jobs are in the table below. Times are the rules' "
        "benchmark files. `CPU time` is the seconds of CPU the jobs used and `mean load` their "
        "mean CPU use in percent of one core: jobs that shared the machine with other work (a "
        "mean load well below 100 for a one-thread job) took longer in wall time than they "
        "would on an idle machine, where their wall time is about their CPU time.",
        "",
        "## Time and memory per experiment",
        "",
        "| experiment | jobs run / planned | measured wall | CPU time | extrapolated rest | "
        "peak RSS | mean load | commit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    detail = []
    for n in names:
        jobs = job_times(run, n, cfg)
        extra, missing, unknown = estimate(jobs)
        ran = len(jobs) - missing
        parts = [f"{_hms(extra)} for {missing - unknown} jobs"] if missing > unknown else []
        if unknown:
            parts.append(f"{unknown} jobs of a kind not measured: no estimate")
        rest = " + ".join(parts) or "none"
        wall, cpu = jobs["s"].sum(), jobs["cpu_s"].sum()
        peak = f"{jobs['max_rss_mb'].max():.0f} MB" if ran else "-"
        load = f"{jobs['load'].mean():.0f}%" if ran else "-"
        out.append(
            f"| {n} | {ran} / {len(jobs)} | {_hms(wall)} | {_hms(cpu)} | {rest} | {peak} | {load} "
            f"| {commits_of(run, n)} |"
        )
        detail.append(f"- **{n}**: " + ", ".join(
            f"{r.job} {_hms(r.s) if math.isfinite(r.s) else 'not run'}" for r in jobs.itertuples()
        ))  # fmt: skip
    out += [
        "",
        "Extrapolated rest: CPU time; each job that did not run counts as the mean CPU time of "
        "the measured jobs of its kind (job class) in the same experiment; jobs of a kind with "
        "no measured job are counted, not estimated. Jobs differ in width and length, so this "
        "is a rough estimate: an underestimate where the measured jobs were the smaller ones.",
        "",
        "Per job:",
        "",
        *detail,
        "",
        "## Claims at paper scale",
        "",
    ]
    if paper.empty:
        out.append("No experiment finished its claims check in this run.")
        return "\n".join(out) + "\n"
    # runs before claims v3 lack tiers and published numbers: the quick run's rows have them
    paper = fill_from(paper, quick_claims.reset_index(), ("tier", "published"))
    out += [
        f"Tally: {tally(paper)}.",
        "",
        "| claim | tier | value | interval | verdict | published | quick scale |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in paper.itertuples():
        published = str(r.published).replace("|", "\\|")
        q = quick_claims.loc[r.claim] if r.claim in quick_claims.index else None
        qv = "not in quick run" if q is None else f"{_num(q['value'])}: {verdict(q)}"
        if q is not None and bool(q["holds"]) != bool(r.holds):
            qv = f"**differs**: {qv}"
        out.append(
            f"| `{r.claim}` | {r.tier} | {_num(r.value)} | {interval(r)} | {verdict(r)} | "
            f"{published} | {qv} |"
        )
    not_run = sorted(set(names) - set(paper["experiment"]))
    if not_run:
        out += ["", "Experiments whose claims did not run at paper scale: " + ", ".join(not_run)]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True, help="working directory of the paper run")
    ap.add_argument("--quick", type=Path, help="working directory of a quick run to compare")
    ap.add_argument("--config", type=Path, default=ROOT / "config" / "paper.yaml")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "paper-scale.md")
    a = ap.parse_args(argv)
    # the paper config is an overlay of the quick one, as `--configfile` reads it
    cfg = validate(read_config(ROOT / "config" / "config.yaml", a.config), SCHEMA)
    commit_file = a.run / "COMMIT"
    commit = (
        commit_file.read_text().strip()
        if commit_file.exists()
        else subprocess.run(["git", "-C", str(a.run), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    )  # fmt: skip
    text = render(a.run, a.quick, cfg, commit[:10], dt.date.today().isoformat())
    a.out.write_text(text)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
