"""Snakemake script: one experiment's run tables -> metrics.parquet + provenance.json."""

import sys
from pathlib import Path

ROOT = Path(snakemake.scriptdir).resolve().parents[1]  # this checkout: run its library
sys.path.insert(0, str(ROOT / "src"))

from overparam.steps import aggregate, logging_to  # noqa: E402

sm = snakemake
with logging_to(sm.log[0], rebuild="figures/all") as log:
    aggregate(
        sm.wildcards.exp,
        sm.params.cfg,
        list(sm.input),
        sm.output.metrics,
        sm.output.provenance,
        repo=ROOT,
        log=log,
    )
