"""Planning the DAG, aggregating and checking claims never import torch (nor plotting, where
they draw nothing): only training jobs pay for it."""

import json
import subprocess
import sys

import pytest

from ..conftest import ROOT, TEST_CONFIG

pytestmark = pytest.mark.e2e
HEAVY = ("torch", "matplotlib", "seaborn")


def _heavy_modules(code: str) -> list[str]:
    probe = f"\nimport sys\nprint('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    out = subprocess.run([sys.executable, "-c", code + probe], capture_output=True, text=True)
    line = next((x for x in out.stdout.splitlines() if x.startswith("HEAVY ")), None)
    assert out.returncode == 0 and line, out.stdout[-3000:] + out.stderr[-3000:]
    return json.loads(line[len("HEAVY ") :].replace("'", '"'))


def test_the_snakemake_head_process_plans_without_torch(tmp_path):
    args = ["-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "--configfile", str(TEST_CONFIG)]
    code = f"""
from snakemake.cli import main
try:
    main({[*args, "-n", "figures/all", "--cores", "1"]!r})
except SystemExit as e:
    assert not e.code, e.code
"""
    assert _heavy_modules(code) == []


def test_aggregate_and_check_steps_run_without_torch_or_plotting(pipeline_run, tmp_path):
    code = f"""
import sys, glob, yaml
sys.path.insert(0, {str(ROOT / "src")!r})
from overparam import config, steps
cfg = config.validate(yaml.safe_load(open({str(TEST_CONFIG)!r})),
                      {str(ROOT / "workflow/schemas/config.schema.yaml")!r})
for exp in ("benign_overfitting", "optimization_ease", "double_descent", "lottery_ticket",
            "mode_connectivity", "lazy_training", "implicit_bias", "random_labels",
            "flat_minima", "width_vs_depth"):
    runs = sorted(glob.glob(f"{pipeline_run}/results/{{exp}}/runs/*.parquet"))
    m = f"{tmp_path}/{{exp}}_metrics.parquet"
    steps.aggregate(exp, cfg[exp], runs, m, f"{tmp_path}/{{exp}}.json", log=lambda s: None)
    steps.check(exp, cfg[exp], m, f"{tmp_path}/{{exp}}_claims.parquet", "test",
                f"figures/{{exp}}.png", log=lambda s: None)
"""
    assert _heavy_modules(code) == []
