"""Snakemake script: train or solve one job of one experiment -> its run table."""

import os
import sys
from pathlib import Path

# Idle OpenMP workers sleep instead of spinning: on a machine whose cores are shared (other
# jobs, other builds) spinning workers of a multi-threaded job took the cores from each other
# and from their neighbours (benchmarks/thread_policy.py: two 2-thread jobs side by side ran
# ~40x slower with the default policy, not with this one). Read once, when torch loads its
# OpenMP runtime, so it must be set before the import below; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
        # seconds between mid-training checkpoints (not a param: changing it re-runs nothing)
        checkpoint_every_s=float(sm.config["checkpoint_every_s"]),
        code_key=" ".join(str(v) for k, v in sm.params.items() if k.startswith("code_") and v),
        bundles=bool(sm.config["bundles"]),
    )
