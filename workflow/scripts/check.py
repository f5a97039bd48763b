"""Snakemake script: metrics.parquet -> the experiment's claims table."""

import sys
from pathlib import Path

ROOT = Path(snakemake.scriptdir).resolve().parents[1]  # this checkout: run its library
sys.path.insert(0, str(ROOT / "src"))

from overparam.steps import check, logging_to  # noqa: E402

sm = snakemake
with logging_to(sm.log[0], rebuild="figures/all") as log:
    check(
        sm.wildcards.exp,
        sm.params.cfg,
        sm.input.metrics,
        sm.output[0],
        sm.params.scale,
        sm.params.figure,
        bootstrap=sm.params.bootstrap,
        log=log,
    )
