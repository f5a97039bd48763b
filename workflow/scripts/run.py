"""Snakemake script: train/fit one job of one experiment -> results/{exp}/runs/{job}.parquet."""
from overparam.steps import logging_to, run_job

sm = snakemake  # noqa: F821 -- injected by Snakemake
with logging_to(sm.log[0]) as log:
    run_job(sm.wildcards.exp, sm.params.cfg, sm.wildcards.job, sm.output[0],
            device=sm.params.device, threads=sm.threads, log=log)
