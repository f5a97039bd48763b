"""Snakemake script: metrics.parquet -> the experiment's figure (png and pdf)."""

import sys
from pathlib import Path

ROOT = Path(snakemake.scriptdir).resolve().parents[1]  # this checkout: run its library
sys.path.insert(0, str(ROOT / "src"))

from overparam.steps import figure, logging_to  # noqa: E402

sm = snakemake
with logging_to(sm.log[0], rebuild="figures/all") as log:
    figure(sm.wildcards.exp, sm.params.cfg, sm.input.metrics, sm.output.png, sm.output.pdf, log=log)
