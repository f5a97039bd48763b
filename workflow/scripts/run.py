"""Snakemake script: train/fit one job of one experiment -> results/{exp}/runs/{job}.parquet."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

from overparam.steps import logging_to, run_job

sm = snakemake  # noqa: F821 -- injected by Snakemake
with logging_to(sm.log[0]) as log:
    run_job(sm.wildcards.exp, sm.params.cfg, sm.wildcards.job, sm.output[0],
            device=sm.params.device, threads=sm.threads, log=log)
