"""Snakemake script: train or solve one job of one experiment -> its run table."""

import sys
from pathlib import Path

ROOT = Path(snakemake.scriptdir).resolve().parents[1]  # this checkout: run its library
sys.path.insert(0, str(ROOT / "src"))

from overparam.steps import logging_to, run_job  # noqa: E402

sm = snakemake
with logging_to(sm.log[0]) as log:
    run_job(
        sm.wildcards.exp,
        sm.config[sm.wildcards.exp],
        sm.wildcards.job,
        sm.output[0],
        device=sm.params.device,
        threads=sm.threads,
        inputs=dict(sm.input.items()),
        repo=ROOT,
        log=log,
    )
