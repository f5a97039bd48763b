"""Snakemake script: every experiment's claims -> results/claims.{parquet,md}, figures/all."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

from overparam.steps import collect_claims, logging_to

sm = snakemake  # noqa: F821 -- injected by Snakemake
with logging_to(sm.log[0]) as log:
    collect_claims(list(sm.input.claims), list(sm.input.figures), sm.output.parquet,
                   sm.output.markdown, sm.output.manifest, log=log)
