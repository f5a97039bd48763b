"""Snakemake script: every job's benchmark file -> one table of time and memory per job."""

import sys
from pathlib import Path

ROOT = Path(snakemake.scriptdir).resolve().parents[1]  # this checkout: run its library
sys.path.insert(0, str(ROOT / "src"))

from overparam.steps import collect_benchmarks, logging_to  # noqa: E402

sm = snakemake
with logging_to(sm.log[0]) as log:
    paths = [str(p) for p in sm.input.bench]
    labels = [sm.params.labels[p] for p in paths]
    runs = [sm.params.run_tables.get(p) for p in paths]
    collect_benchmarks(paths, labels, sm.output[0], log=log, run_tables=runs)
