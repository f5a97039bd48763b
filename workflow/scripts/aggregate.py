"""Snakemake script: one experiment's run tables -> metrics.parquet + provenance.json."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

from overparam.steps import aggregate, logging_to

sm = snakemake  # noqa: F821 -- injected by Snakemake
with logging_to(sm.log[0]) as log:
    aggregate(sm.wildcards.exp, sm.params.cfg, list(sm.input), sm.output.metrics,
              sm.output.provenance, log=log)
