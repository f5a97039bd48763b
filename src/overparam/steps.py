"""The pipeline's steps as plain functions of paths and config (the workflow scripts call
these; tests call them directly). Each step reads tables, calls an experiment module, and
writes its outputs atomically."""

from __future__ import annotations

import contextlib
import json
import sys
import time
import traceback
from pathlib import Path

import pandas as pd

from . import experiments, tables
from .claims import CLAIMS_SCHEMA, claims_frame, to_markdown


@contextlib.contextmanager
def logging_to(path):
    """Send this step's stdout and stderr to the rule's log file (line-buffered), and also
    keep them on the console when it is a terminal."""
    if path is None:
        yield print
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", buffering=1) as f:
        old_out, old_err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = f
        try:
            def log(msg: str) -> None:
                stamp = time.strftime("%H:%M:%S")
                print(f"{stamp} {msg}", file=f, flush=True)

            yield log
        except BaseException:
            # the traceback goes into the log too: Snakemake shows failed jobs' logs, and an
            # empty log for a failed step says nothing
            traceback.print_exc(file=f)
            raise
        finally:
            sys.stdout, sys.stderr = old_out, old_err


def run_job(exp: str, cfg: dict, job: str, out, device: str = "auto", threads: int = 1,
            log=print) -> pd.DataFrame:
    mod = experiments.load(exp)
    # the device a job computes on: resolved once here for jobs that train with torch; the
    # others (closed forms, numpy solvers) run on the CPU whatever the config says
    trains = getattr(mod, "job_trains", lambda cfg, job: getattr(mod, "TRAINS", False))(cfg, job)
    if trains:
        from .train import resolve_device  # torch only where a step needs it

        dev = resolve_device(device)
    else:
        dev = "cpu"
    t0 = time.perf_counter()
    log(f"[{exp}/{job}] start (device={dev}, threads={threads})")
    df = mod.run(cfg, job, device=dev, threads=threads, log=log)
    wall = time.perf_counter() - t0
    tables.write_table(df, out, mod.RUN_SCHEMA,
                       tables.provenance(cfg, seeds=cfg.get("seeds"), device=str(dev), wall_s=wall,
                                         experiment=exp, job=job))
    log(f"[{exp}/{job}] done: {len(df)} rows in {wall:.1f}s -> {out}")
    return df


def aggregate(exp: str, cfg: dict, run_paths: list, out, provenance_out, log=print) -> pd.DataFrame:
    mod = experiments.load(exp)
    frames = [tables.read_table(p, mod.RUN_SCHEMA) for p in run_paths]
    metrics = mod.aggregate(frames, cfg)
    runs = {Path(p).stem: tables.read_provenance(p) for p in run_paths}
    prov = tables.provenance(cfg, seeds=cfg.get("seeds"), experiment=exp,
                             device=sorted({str(r.get("device")) for r in runs.values()}),
                             wall_s=sum(float(r.get("wall_s") or 0) for r in runs.values()))
    prov["runs"] = {k: {"wall_s": v.get("wall_s"), "device": v.get("device"),
                        "config_hash": v.get("config_hash")} for k, v in runs.items()}
    tables.write_table(metrics, out, mod.METRICS_SCHEMA, prov)
    tables.atomic_write_text(provenance_out, json.dumps(prov, indent=2, sort_keys=True, default=str))
    log(f"[{exp}] aggregated {len(frames)} run tables -> {len(metrics)} rows")
    return metrics


def figure(exp: str, cfg: dict, metrics_path, png, pdf, log=print) -> None:
    mod = experiments.load(exp)
    mod.plot(tables.read_table(metrics_path, mod.METRICS_SCHEMA), cfg, png, pdf)
    log(f"[{exp}] figure -> {png}, {pdf}")


def check(exp: str, cfg: dict, metrics_path, out, scale: str, log=print) -> pd.DataFrame:
    mod = experiments.load(exp)
    claims = mod.check(tables.read_table(metrics_path, mod.METRICS_SCHEMA), cfg, scale)
    df = claims_frame(claims)
    tables.write_table(df, out, CLAIMS_SCHEMA, {"experiment": exp, "scale": scale})
    for c in claims:
        log(f"[{exp}] {c.claim}: {c.metric} = {c.value:.4g} ({c.comparison} {c.threshold:g}) "
            f"-> {'holds' if c.holds else 'DOES NOT HOLD'}")
    return df


def collect_claims(claim_paths: list, figure_paths: list, parquet_out, markdown_out, manifest_out,
                   log=print) -> pd.DataFrame:
    df = pd.concat([tables.read_table(p, CLAIMS_SCHEMA) for p in claim_paths], ignore_index=True)
    tables.write_table(df, parquet_out, CLAIMS_SCHEMA, {"kind": "all claims"})
    tables.atomic_write_text(markdown_out, to_markdown(df))
    lines = ["# overparam manifest: figure -> claims (verdict)", ""]
    for fig in sorted(figure_paths):
        lines.append(fig)
        if str(fig).endswith(".png"):
            for r in df[df["figure"] == str(fig)].itertuples(index=False):
                val = "NaN" if r.value != r.value else f"{r.value:.4g}"
                lines.append(f"  {r.claim}: {'holds' if r.holds else 'DOES NOT HOLD'} "
                             f"({r.metric} = {val}, needs {r.comparison} {r.threshold:g})")
    held = int(df["holds"].sum())
    lines += ["", f"{held}/{len(df)} claims hold"]
    tables.atomic_write_text(manifest_out, "\n".join(lines) + "\n")
    log(f"{held}/{len(df)} claims hold -> {parquet_out}, {markdown_out}, {manifest_out}")
    return df
