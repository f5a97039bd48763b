"""Snakemake script: metrics.parquet -> figures/{exp}.png and .pdf."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

from overparam.steps import figure, logging_to

sm = snakemake  # noqa: F821 -- injected by Snakemake
with logging_to(sm.log[0]) as log:
    figure(sm.wildcards.exp, sm.params.cfg, sm.input[0], sm.output.png, sm.output.pdf, log=log)
