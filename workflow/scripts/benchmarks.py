"""Snakemake script: every job's benchmark file -> one table of time and memory per job."""

import sys
from pathlib import Path

ROOT = Path(snakemake.scriptdir).resolve().parents[1]  # this checkout: run its library
sys.path.insert(0, str(ROOT / "src"))

from overparam.steps import collect_benchmarks, logging_to  # noqa: E402

sm = snakemake
with logging_to(sm.log[0]) as log:
    labels = [sm.params.labels[str(path)] for path in sm.input]
    collect_benchmarks(list(sm.input), labels, sm.output[0], log=log)
