"""Snakemake script: claims.parquet + the figures + the job benchmarks -> the manifest
figures/all; a failing sanity check fails here (every other output is written by then)."""

import sys
from pathlib import Path

ROOT = Path(snakemake.scriptdir).resolve().parents[1]  # this checkout: run its library
sys.path.insert(0, str(ROOT / "src"))

from overparam.steps import logging_to, write_manifest  # noqa: E402

sm = snakemake
with logging_to(sm.log[0], rebuild="figures/all") as log:
    write_manifest(
        sm.input.claims,
        list(sm.input.figures),
        sm.output[0],
        benchmarks=sm.input.benchmarks,
        log=log,
    )
