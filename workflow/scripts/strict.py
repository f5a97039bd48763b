"""Snakemake script: fail unless every claim of claims.parquet holds (strict mode)."""

import sys
from pathlib import Path

ROOT = Path(snakemake.scriptdir).resolve().parents[1]  # this checkout: run its library
sys.path.insert(0, str(ROOT / "src"))

from overparam.steps import logging_to, require_all_hold  # noqa: E402

sm = snakemake
with logging_to(sm.log[0]) as log:
    require_all_hold(sm.input[0], sm.output[0], log=log)
