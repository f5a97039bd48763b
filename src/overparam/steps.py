"""The pipeline's steps as plain functions of paths and config. The workflow scripts call
these with the paths their rules name; tests call them directly. Each step reads tables, calls
an experiment (``overparam.experiments.get``), and writes its outputs atomically.

Logging convention: every step and every experiment reports through a ``log(msg)`` callable
(``logging_to`` makes one that writes time-stamped lines into the rule's log file).
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import experiments, resume, tables, timing
from .experiments.base import CheckContext, Log, RunContext
from .io import atomic_write_text

PathLike = str | Path


@contextlib.contextmanager
def logging_to(path: PathLike | None, rebuild: str | None = None) -> Iterator[Log]:
    """Send this step's stdout and stderr to the rule's log file (line-buffered), and yield a
    ``log(msg)`` that writes time-stamped lines there. A failing step's traceback goes into
    the log too: Snakemake shows failed jobs' logs. A bad input table's error says how to
    rebuild it: ``snakemake <table> <rebuild>`` (the workflow names its target)."""
    if path is None:
        yield print
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", buffering=1) as f:
        old_out, old_err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = f

        def log(msg: str) -> None:
            print(f"{time.strftime('%H:%M:%S')} {msg}", file=f, flush=True)

        try:
            yield log
        except tables.TableError as e:
            if e.path is None or rebuild is None:
                traceback.print_exc(file=f)
                raise
            hint = f"{e}; delete it and rebuild it with `snakemake {e.path} {rebuild}`"
            print(f"TableError: {hint}", file=f)
            raise tables.TableError(hint, e.path) from e
        except BaseException:
            traceback.print_exc(file=f)
            raise
        finally:
            sys.stdout, sys.stderr = old_out, old_err


def run_job(
    exp: str,
    cfg: Mapping[str, Any],
    job_id: str,
    out: PathLike,
    *,
    device: str = "auto",
    threads: int = 1,
    inputs: Mapping[str, PathLike] | None = None,
    repo: PathLike | None = None,
    log: Log = print,
    checkpoint_every_s: float = 0.0,
    code_key: str = "",
    bundles: bool = True,
) -> pd.DataFrame:
    """Run job ``job_id`` of experiment ``exp`` (config section ``cfg``) and write its table.
    ``inputs`` maps the spec's dataset fields to their files; ``repo`` is the checkout whose
    commit the provenance records. ``checkpoint_every_s`` > 0: the job's
    training calls save their state about that often into ``<table>.ckpt/`` and a re-run of
    the same job (same config, same ``code_key``) resumes from it (``overparam.resume``); the
    folder is removed once the table is written. A :class:`~overparam.experiments.Bundle`
    runs its parts in order (``_run_parts``) and writes their tables as one; ``bundles``: the
    config's ``bundles`` (False: every spec is a job)."""
    e = experiments.get(exp)
    jobs = e.jobs(cfg, bundles=bundles)
    if job_id not in jobs:
        raise KeyError(f"{exp} has no job {job_id!r}; its jobs: {list(jobs)}")
    job = jobs[job_id]
    # jobs that train with torch compute on the configured device; the others (closed forms,
    # numpy solvers) on the CPU whatever the config says
    if job.trains:
        from .device import resolve_device  # torch only where a step needs it

        dev = str(resolve_device(device))
    else:
        dev = "cpu"
    ctx = RunContext(
        device=dev, threads=threads, inputs={k: Path(v) for k, v in (inputs or {}).items()}, log=log
    )
    t0 = time.perf_counter()
    log(f"[{exp}/{job_id}] start (device={dev}, threads={threads}): {job}")
    store_dir = Path(out).with_suffix(".ckpt")
    store_key = f"{exp}/{job_id} {tables.config_hash(job.params())} {code_key}"
    every = checkpoint_every_s if job.trains else 0.0
    extra: dict[str, Any] = {}
    with (
        timing.ledger() as spent,
        resume.job_store(store_dir, every, store_key, log=log) as store,
    ):
        if isinstance(job, experiments.Bundle):
            df, extra["parts"] = _run_parts(e, job, ctx, store, f"{exp}/{job_id}")
        else:
            df = e.run(job, ctx)
    wall = time.perf_counter() - t0
    params = job.params()
    tables.write_table(
        df,
        out,
        e.run_schema,
        tables.provenance(
            params,
            seeds=_job_seeds(job),
            device=dev,
            wall_s=wall,
            repo=repo,
            experiment=exp,
            job=job_id,
            threads=threads,
            **_spent(spent),
            **extra,
        ),
    )
    resume.remove(store_dir)
    spent_msg = ""
    if spent.train_calls or spent.eval_calls:
        spent_msg = f" ({spent.train_s:.1f}s of optimizer steps, {spent.eval_s:.1f}s evaluating)"
    log(f"[{exp}/{job_id}] done: {len(df)} rows in {wall:.1f}s{spent_msg} -> {out}")
    return df


def _spent(spent: timing.Ledger) -> dict[str, float | None]:
    """A ledger for the provenance: seconds of optimizer steps and of evaluate() passes and
    the steps' GEMM FLOPs (None where the job made none)."""
    return {
        "train_s": spent.train_s if spent.train_calls else None,
        "eval_s": spent.eval_s if spent.eval_calls else None,
        "train_flops": spent.train_flops if spent.train_calls else None,
    }


def _job_seeds(job: Any) -> list[int] | None:
    """The seeds a job's provenance records: its spec's, or every seed of a bundle's parts."""
    if isinstance(job, experiments.Bundle):
        seeds = {int(s) for p in job.parts for s in p.params().get("seeds") or ()}
        return sorted(seeds) or None
    return job.params().get("seeds")


def _run_parts(
    e: experiments.Experiment,
    bundle: experiments.Bundle,
    ctx: RunContext,
    store: resume.Store | None,
    name: str,
) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """A bundle's parts in order, each as if it ran alone: the files of its own datasets and,
    where it trains, torch's global random state as the job found it. A part's finished table
    is kept in the job's checkpoint store (when one is open and a save is due), so a re-run of
    an interrupted bundle skips the parts it had finished. Returns the concatenated table and
    {part id: its rows, wall seconds and seconds of optimizer steps and evaluation}."""
    rng = _torch_rng() if bundle.trains else None
    frames, info = [], {}
    for part in bundle.parts:
        key = f"{part.id}-{tables.config_hash(part.params())[:16]}"
        t0 = time.perf_counter()
        with timing.ledger() as spent:
            df = resume.load_table(store, key)
            if df is not None:
                ctx.log(f"[{name}] part {part.id}: finished before; its table is read back")
            else:
                ctx.log(f"[{name}] part {part.id}: start")
                _set_torch_rng(rng)
                inputs = {k: ctx.inputs[k] for k in part.inputs() if k in ctx.inputs}
                df = e.run(part, replace(ctx, inputs=inputs))
                resume.save_table(store, key, df)
        wall = time.perf_counter() - t0
        info[part.id] = {
            "rows": len(df),
            "wall_s": wall,
            **_spent(spent),
        }
        ctx.log(f"[{name}] part {part.id}: {len(df)} rows in {wall:.1f}s")
        frames.append(df)
    return pd.concat(frames, ignore_index=True), info


# the seed torch gives its generators when it creates them (c10's default_rng_seed_val)
TORCH_DEFAULT_SEED = 67280421310721


def _torch_rng() -> tuple[Any, list[Any] | None]:
    """torch's global generators' states: CPU and CUDA (None: CUDA not initialised yet)."""
    import torch

    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    return torch.get_rng_state(), cuda


def _set_torch_rng(state: tuple[Any, list[Any] | None] | None) -> None:
    """Put torch's global generators back to ``state`` (CUDA ones created since: to the seed
    a fresh process gives them)."""
    if state is None:
        return
    import torch

    cpu, cuda = state
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state_all(cuda)
    elif torch.cuda.is_initialized():
        torch.cuda.manual_seed_all(TORCH_DEFAULT_SEED)


def aggregate(
    exp: str,
    cfg: Mapping[str, Any],
    run_paths: Sequence[PathLike],
    out: PathLike,
    provenance_out: PathLike,
    repo: PathLike | None = None,
    log: Log = print,
) -> pd.DataFrame:
    e = experiments.get(exp)
    frames = [tables.read_table(p, e.run_schema) for p in run_paths]
    metrics = e.aggregate(frames, cfg)
    runs = {Path(p).stem: tables.read_provenance(p) for p in run_paths}
    prov = tables.provenance(
        cfg,
        seeds=cfg.get("seeds"),
        experiment=exp,
        repo=repo,
        device=sorted({str(r.get("device")) for r in runs.values()}),
        wall_s=sum(float(r.get("wall_s") or 0) for r in runs.values()),
    )
    prov["runs"] = {
        k: {
            "wall_s": v.get("wall_s"),
            "device": v.get("device"),
            "config_hash": v.get("config_hash"),
        }
        for k, v in runs.items()
    }
    tables.write_table(metrics, out, e.metrics_schema, prov)
    atomic_write_text(provenance_out, json.dumps(prov, indent=2, sort_keys=True, default=str))
    log(f"[{exp}] aggregated {len(frames)} run tables -> {len(metrics)} rows")
    return metrics


def figure(
    exp: str,
    cfg: Mapping[str, Any],
    metrics_path: PathLike,
    png: PathLike,
    pdf: PathLike,
    log: Log = print,
) -> None:
    e = experiments.get(exp)
    e.plot(tables.read_table(metrics_path, e.metrics_schema), cfg, Path(png), Path(pdf))
    log(f"[{exp}] figure -> {png}, {pdf}")


def check(
    exp: str,
    cfg: Mapping[str, Any],
    metrics_path: PathLike,
    out: PathLike,
    scale: str,
    figure: str,
    bootstrap: Mapping[str, int] | None = None,
    log: Log = print,
) -> pd.DataFrame:
    """Check ``exp``'s claims on its metrics; ``figure`` is the figure the claims table names,
    ``bootstrap`` the config's {resamples, seed} of the claims' intervals."""
    from .claims import CLAIMS_SCHEMA, claims_frame, interval, verdict

    e = experiments.get(exp)
    b = dict(bootstrap or {})
    ctx = CheckContext(
        scale=scale,
        figure=str(figure),
        resamples=int(b.get("resamples", 1000)),
        bootstrap_seed=int(b.get("seed", 0)),
        definitions=e.definitions(cfg),
    )
    log(f"[{exp}] checking claims ({ctx.resamples} bootstrap resamples over seeds)")
    claims = e.check(tables.read_table(metrics_path, e.metrics_schema), cfg, ctx)
    df = claims_frame(claims)
    tables.write_table(df, out, CLAIMS_SCHEMA, {"experiment": exp, "scale": scale})
    for r in df.itertuples(index=False):
        log(
            f"[{exp}] {r.claim}: {r.metric} = {r.value:.4g} {interval(r)} "
            f"({r.comparison} {r.threshold:g}) -> {verdict(r)}"
        )
    return df


# ----------------------------------------------------------------------------- job benchmarks

JOBS_SCHEMA = tables.Schema(
    name="benchmarks.jobs",
    columns={
        "rule": "str",
        "experiment": "str",
        "job": "str",
        "seconds": "float",
        "cpu_seconds": "float",
        "max_rss_mb": "float",
        "mean_load": "float",
        "train_s": "float",
        "eval_s": "float",
        "threads": "float",
        "device": "str",
        "train_gflop": "float",
        "gflops_per_s": "float",
        "peak_gflops": "float",
        "frac_of_peak": "float",
    },
    nullable=frozenset(
        {
            "cpu_seconds",
            "max_rss_mb",
            "mean_load",
            "train_s",
            "eval_s",
            "threads",
            "device",
            "train_gflop",
            "gflops_per_s",
            "peak_gflops",
            "frac_of_peak",
        }
    ),
    doc={
        "rule": "the Snakemake rule of the job (train, solve, aggregate, figure, check, ...)",
        "experiment": "its experiment ('data' for the jobs that generate datasets)",
        "job": "the job id ('' for an experiment's aggregate, figure and check; data: the file)",
        "seconds": "wall-clock seconds of the job (Snakemake's benchmark file)",
        "cpu_seconds": "CPU seconds (NaN where Snakemake could not measure)",
        "max_rss_mb": "peak resident memory in MB (NaN where not measured)",
        "mean_load": "mean CPU load over the job (NaN where not measured)",
        "train_s": "seconds of optimizer steps in the job (train_ensemble; NaN: none)",
        "eval_s": "seconds of full-batch loss/accuracy passes in the job (evaluate; NaN: none)",
        "threads": "torch threads the job ran with (NaN: the job wrote no run table)",
        "device": "the device the job computed on (None: the job wrote no run table)",
        "train_gflop": "GEMM GFLOP of the job's optimizer steps, exact from the layer sizes "
        "(models.MLPSpec.gemm_flops_per_sample; NaN: no train_ensemble call)",
        "gflops_per_s": "train_gflop / train_s: the GEMM rate the optimizer steps reached",
        "peak_gflops": "float32 torch.mm peak measured at the job's threads and device when the "
        "table was collected (device.matmul_peak_gflops; NaN: not measured)",
        "frac_of_peak": "gflops_per_s / peak_gflops: low = time in elementwise ops, dispatch "
        "and Python rather than GEMMs",
    },
)


def collect_benchmarks(
    paths: Sequence[PathLike],
    labels: Sequence[Sequence[str]],
    out: PathLike,
    log: Log = print,
    run_tables: Sequence[PathLike | None] | None = None,
    peak: Callable[[str, int], float] | None = None,
) -> pd.DataFrame:
    """Snakemake's ``benchmark:`` files (one TSV per job) -> one table with a row per job:
    ``labels[i]`` = (rule, experiment, job) of ``paths[i]``. ``run_tables[i]``, where given,
    is the run table that job wrote: its provenance adds the job's seconds of optimizer steps
    and of evaluation (``train_s``, ``eval_s``; NaN where the job made none), its threads and
    device, and the GEMM FLOPs of its steps. ``peak(device, threads)`` -> GFLOP/s (default
    ``measured_peak``) is asked once per (device, threads) of the jobs that trained, for their
    fraction of the matmul peak."""
    if len(paths) != len(labels):
        raise ValueError(f"{len(paths)} benchmark files but {len(labels)} labels")
    run_tables = list(run_tables) if run_tables is not None else [None] * len(paths)
    if len(run_tables) != len(paths):
        raise ValueError(f"{len(paths)} benchmark files but {len(run_tables)} run tables")
    rows = []
    for path, (rule, exp, job), run in zip(paths, labels, run_tables):
        b = pd.read_csv(path, sep="\t").iloc[-1]  # one line per --benchmark-repeats; the last
        prov = tables.read_provenance(run) if run is not None else {}
        flops = _num(prov.get("train_flops"))
        rows.append(
            {
                "rule": rule,
                "experiment": exp,
                "job": job,
                "seconds": float(b["s"]),
                "cpu_seconds": _num(b.get("cpu_time")),
                "max_rss_mb": _num(b.get("max_rss")),
                "mean_load": _num(b.get("mean_load")),
                "train_s": _num(prov.get("train_s")),
                "eval_s": _num(prov.get("eval_s")),
                "threads": _num(prov.get("threads")),
                "device": prov.get("device") if isinstance(prov.get("device"), str) else None,
                "train_gflop": flops / 1e9,
            }
        )
    df = pd.DataFrame(rows).reindex(columns=list(JOBS_SCHEMA.columns))
    df = df.astype({c: "float64" for c in JOBS_SCHEMA.columns if JOBS_SCHEMA.columns[c] == "float"})
    _add_peak_fraction(df, peak or measured_peak, log)
    tables.write_table(df, out, JOBS_SCHEMA, {"kind": "snakemake job benchmarks"})
    spent = df[["train_s", "eval_s"]].sum()
    log(
        f"{len(df)} job benchmarks -> {out} ({df['seconds'].sum():.0f} s of jobs, of which "
        f"{spent['train_s']:.0f} s optimizer steps and {spent['eval_s']:.0f} s evaluating)"
    )
    return df


def _add_peak_fraction(df: pd.DataFrame, peak: Callable[[str, int], float], log: Log) -> None:
    """Fill gflops_per_s, peak_gflops and frac_of_peak of the rows whose optimizer steps
    made FLOPs (in place); the peak of each (device, threads) is asked for once."""
    df["gflops_per_s"] = df["train_gflop"] / df["train_s"].where(df["train_s"] > 0)
    trained = df["gflops_per_s"].notna() & df["threads"].notna() & df["device"].notna()
    peaks: dict[tuple[str, int], float] = {}
    for dev, threads in sorted(set(zip(df.loc[trained, "device"], df.loc[trained, "threads"]))):
        peaks[(dev, int(threads))] = float(peak(dev, int(threads)))
        log(
            f"float32 matmul peak on {dev}, {int(threads)} threads: {peaks[(dev, int(threads))]:.1f} GFLOP/s"
        )
    df["peak_gflops"] = [
        peaks.get((d, int(t)), math.nan) if ok else math.nan
        for d, t, ok in zip(df["device"], df["threads"], trained)
    ]
    df["frac_of_peak"] = df["gflops_per_s"] / df["peak_gflops"]


def measured_peak(device: str, threads: int) -> float:
    """The float32 matmul peak of ``device`` at ``threads`` torch threads, measured now
    (``device.matmul_peak_gflops``, a second or so); NaN where this process cannot use the
    device (a CUDA job's table collected on a machine without one)."""
    import torch

    from .device import matmul_peak_gflops

    if device.startswith("cuda") and not torch.cuda.is_available():
        return math.nan
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return matmul_peak_gflops(torch.device(device))
    finally:
        torch.set_num_threads(old)


def _num(v: Any) -> float:
    """Snakemake writes '-' where it could not measure."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


# ----------------------------------------------------------------------------- all claims


def collect_claims(
    claim_paths: Sequence[PathLike],
    parquet_out: PathLike,
    markdown_out: PathLike,
    log: Log = print,
) -> pd.DataFrame:
    """Every experiment's claims table -> one claims table and its markdown."""
    from .claims import CLAIMS_SCHEMA, summary, tally, to_markdown

    df = pd.concat([tables.read_table(p, CLAIMS_SCHEMA) for p in claim_paths], ignore_index=True)
    tables.write_table(df, parquet_out, CLAIMS_SCHEMA, {"kind": "all claims"})
    atomic_write_text(markdown_out, to_markdown(df))
    log(f"{tally(df)} -> {parquet_out}, {markdown_out}")
    log(summary(df))
    return df


class SanityCheckFailed(RuntimeError):
    """A sanity check does not hold: the pipeline has a bug (whatever ``strict`` says)."""


def require_sanity(df: pd.DataFrame, source: PathLike) -> None:
    """Raise :class:`SanityCheckFailed` naming every sanity check of ``df`` that fails."""
    from .claims import failing_sanity

    bad = failing_sanity(df)
    if len(bad):
        names = "\n".join(
            f"  {r.claim}: {r.metric} = {r.value:.4g}, needs {r.comparison} {r.threshold:.4g}"
            for r in bad.itertuples(index=False)
        )
        raise SanityCheckFailed(
            f"{len(bad)} sanity check(s) of {source} fail: each follows from the mathematics of "
            f"its setup, so a failure is a bug of the pipeline, not a finding (the tables, "
            f"figures and claims files are kept):\n{names}"
        )


def write_manifest(
    claims_path: PathLike,
    figure_paths: Sequence[PathLike],
    manifest_out: PathLike,
    benchmarks: PathLike | None = None,
    log: Log = print,
) -> str:
    """The manifest: every figure with its claims and verdicts, the tally per tier and the
    time spent in jobs. Raises :class:`SanityCheckFailed` (and writes nothing) if a sanity
    check of ``claims_path`` fails."""
    from .claims import CLAIMS_SCHEMA, interval, summary, tally, verdict

    df = tables.read_table(claims_path, CLAIMS_SCHEMA)
    require_sanity(df, claims_path)
    lines = ["# overparam manifest: figure -> claims (tier, verdict)", ""]
    for fig in sorted(map(str, figure_paths)):
        lines.append(fig)
        if fig.endswith(".png"):
            for r in df[df["figure"] == fig].itertuples(index=False):
                val = "NaN" if math.isnan(r.value) else f"{r.value:.4g}"
                lines.append(
                    f"  {r.claim} [{r.tier}]: {verdict(r)} ({r.metric} = {val}, {interval(r)}, "
                    f"needs {r.comparison} {r.threshold:g})"
                )
    lines += ["", summary(df)]
    if benchmarks is not None:
        lines += ["", *_time_lines(benchmarks)]
    text = "\n".join(lines) + "\n"
    atomic_write_text(manifest_out, text)
    log(f"manifest -> {manifest_out}: {tally(df)}")
    return text


def _time_lines(benchmarks: PathLike) -> list[str]:
    b = tables.read_table(benchmarks, JOBS_SCHEMA)
    per = b.groupby("experiment", sort=False).agg(
        jobs=("job", "size"),
        s=("seconds", "sum"),
        train=("train_s", lambda v: v.sum(min_count=1)),
        eval=("eval_s", lambda v: v.sum(min_count=1)),
    )
    lines = [f"time spent in jobs ({benchmarks}):"]
    for e, r in per.iterrows():
        line = f"  {e}: {int(r.jobs)} jobs, {r.s:.0f} s"
        if r.train > 0 or r.eval > 0:  # NaN (no training or evaluation) compares False
            tr, ev = np.nan_to_num([r.train, r.eval])
            line += f" (optimizer steps {tr:.0f} s, evaluation {ev:.0f} s"
            line += f": {ev / (tr + ev):.0%} of them)"
        lines.append(line)
    return lines


class ClaimsDoNotHold(RuntimeError):
    """Strict mode: at least one claim does not hold."""


def verdicts(claims_path: PathLike, parts: Sequence[PathLike] = (), update: str = "") -> str:
    """The console's closing lines: how many claims of ``claims_path`` hold and which do not.
    ``parts`` are the per-experiment claims files it is collected from: if one of them is
    newer (a partial build re-checked an experiment), the summary says the table is stale and
    how to ``update`` it (the workflow's command)."""
    from .claims import CLAIMS_SCHEMA, summary

    path = Path(claims_path)
    if not path.exists():
        return ""
    mtime = path.stat().st_mtime
    newer = [str(p) for p in parts if Path(p).exists() and Path(p).stat().st_mtime > mtime]
    head = f"claims ({path}):"
    if newer:
        head = f"claims ({path}; older than {', '.join(newer)}; {update or 'rebuild it'}):"
    return head + "\n" + summary(tables.read_table(path, CLAIMS_SCHEMA))


def require_all_hold(claims_path: PathLike, out: PathLike, log: Log = print) -> None:
    """Strict mode: raise :class:`ClaimsDoNotHold` naming every claim of ``claims_path`` that
    does not hold; otherwise write ``out`` (the verdict, for Snakemake to track)."""
    from .claims import CLAIMS_SCHEMA, summary

    df = tables.read_table(claims_path, CLAIMS_SCHEMA)
    text = summary(df)
    if not df["holds"].all():
        raise ClaimsDoNotHold(
            f"strict mode: not every claim holds ({claims_path}; the tables, figures and "
            f"claims files are kept)\n{text}"
        )
    atomic_write_text(out, text + "\n")
    log(text)


# ----------------------------------------------------------------------------- HTML report


def description(experiment: str) -> str:
    """The experiment's ``caption.rst`` (what its figure plots, which paper and figure), or a
    line saying it has none."""
    path = experiments.get(experiment).caption_path()
    if not path.exists():
        return f"(No description: {path} is missing.)"
    return path.read_text()


def report_pages(
    claims: pd.DataFrame,
    config: Mapping[str, Any],
    seeds: Mapping[str, str],
    captions_out: PathLike,
    pages_dir: PathLike,
    all_claims_out: PathLike,
    config_out: PathLike,
    landing_out: PathLike | None = None,
    landing_template: PathLike | None = None,
    log: Log = print,
) -> None:
    """What ``snakemake --report`` shows besides the figures: per experiment of ``claims`` a
    claims page ``<pages_dir>/<experiment>_claims.html``, every claim on one page, the
    config as YAML, and the figures' captions (one Jinja template, see
    :func:`overparam.report.captions_template`). ``seeds``: {experiment: how many seeds its
    figure shows, in words}, one entry per experiment of the build. ``landing_out``: the
    report's opening page, ``landing_template`` (the workflow's description) with the verdicts
    inserted first."""
    from . import report

    out = Path(pages_dir)
    out.mkdir(parents=True, exist_ok=True)
    captions = {}
    scale = ", ".join(sorted(set(claims["scale"])))
    for exp, n_seeds in seeds.items():
        df = claims[claims["experiment"] == exp]
        text = description(exp)
        atomic_write_text(out / f"{exp}_claims.html", report.experiment_page(exp, df, text))
        captions[exp] = report.caption(text, df, n_seeds, scale)
    atomic_write_text(captions_out, report.captions_template(captions))
    atomic_write_text(all_claims_out, report.all_claims_page(claims))
    atomic_write_text(config_out, report.config_page(config))
    if landing_out is not None and landing_template is not None:
        template = Path(landing_template).read_text()
        atomic_write_text(landing_out, report.landing_page(claims, template))
    log(f"report pages of {len(captions)} experiments -> {out}, {all_claims_out}, {config_out}")
