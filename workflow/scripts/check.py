"""Snakemake script: metrics.parquet -> results/{exp}/claims.parquet."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

from overparam.steps import check, logging_to

sm = snakemake  # noqa: F821 -- injected by Snakemake
with logging_to(sm.log[0]) as log:
    check(sm.wildcards.exp, sm.params.cfg, sm.input[0], sm.output[0], sm.params.scale, log=log)
