"""Snakemake script: every experiment's claims -> claims.parquet, claims.md, and the pages and
captions of the HTML report."""

import sys
from pathlib import Path

ROOT = Path(snakemake.scriptdir).resolve().parents[1]  # this checkout: run its library
sys.path.insert(0, str(ROOT / "src"))

from overparam.steps import collect_claims, logging_to, report_pages  # noqa: E402

sm = snakemake
with logging_to(sm.log[0], rebuild="figures/all") as log:
    df = collect_claims(list(sm.input.claims), sm.output.parquet, sm.output.markdown, log=log)
    report_pages(
        df,
        sm.config,
        sm.params.seeds,
        captions_out=sm.output.captions,
        pages_dir=sm.output.pages,
        all_claims_out=sm.output.all_claims,
        config_out=sm.output.config,
        landing_out=sm.output.landing,
        landing_template=ROOT / "workflow" / "report" / "workflow.rst",
        log=log,
    )
