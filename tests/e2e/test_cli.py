"""The audit command on the results of the real DAG (the shared .test run): every table reads
with its documented schema, every claim is explained from a non-empty set of rows, and
every declared row selection names a claim the run produced."""

import math
import os
import subprocess
import sys

import pytest

from overparam import audit, experiments
from overparam.experiments import CheckContext

from ..conftest import ROOT, validated

pytestmark = pytest.mark.e2e


def overparam(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "overparam.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_every_table_has_its_documented_schema(pipeline_run):
    paths = sorted((pipeline_run / "results").rglob("*.parquet"))
    assert len(paths) > 20
    for path in paths:
        t = audit.load(path)
        assert t.schema is not None, path
        assert t.problem == "", t.problem
        assert set(t.frame.columns) <= set(t.schema.doc), path


def test_every_claim_is_explained_from_its_rows(pipeline_run):
    res = pipeline_run / "results"
    claims = audit.load_claims(res)
    declared = 0
    for row in claims.to_dict("records"):
        rows = audit.claim_rows(res, row)
        assert len(rows.frame) > 0, (row["claim"], rows.query)
        if rows.query is not None:
            declared += 1
            assert len(rows.frame) <= len(rows.metrics.frame)
    # every claim declares its rows, except those that read the whole metrics table
    whole = {"random_labels.memorises", "flat_minima.sharpness_follows_lr_over_b",
             "flat_minima.accuracy_follows_lr_over_b"}  # fmt: skip
    assert whole <= set(claims["claim"])
    assert declared == len(claims) - len(whole)
    # and declares no row selection for a claim that does not exist
    for exp in sorted(set(claims["experiment"])):
        cfg = audit.load(res / exp / "metrics.parquet").provenance["config"]
        keys = {f"{exp}.{k}" for k in experiments.get(exp).claim_rows(cfg)}
        assert keys <= set(claims["claim"]), keys - set(claims["claim"])


# measured columns of each experiment's metrics table (not the keys its claims group by)
MEASURED = {
    "benign_overfitting": ["excess_risk", "train_mse", "test_mse", "null_mse"],
    "optimization_ease": ["train_loss", "test_loss"],
    "double_descent": ["test_mse", "test_error", "norm", "excess_risk", "train_error",
                       "train_mse", "train_loss", "test_loss"],
    "lottery_ticket": ["test_acc_at_stop", "stop_step", "val_loss_at_stop", "max_test_acc"],
    "mode_connectivity": ["train_loss", "test_loss", "train_err", "test_err"],
    "lazy_training": ["value"],
    "implicit_bias": ["loss", "norm", "rel_dist", "angle", "kkt", "ref_norm"],
    "random_labels": ["train_acc", "test_acc", "fit_epoch", "train_loss", "test_loss"],
    "width_vs_depth": ["train_loss", "test_loss", "train_acc", "test_acc"],
    "flat_minima": ["value"],
}  # fmt: skip


def test_rows_outside_a_claims_selection_do_not_change_it(pipeline_run):
    """The declared rows are exact: perturbing every measured value outside a claim's rows
    leaves its value as it was."""
    res = pipeline_run / "results"
    cfg = validated(".test/config.yaml")  # as the workflow's check jobs get it
    ctx = CheckContext(scale="test", figure="f", resamples=1)
    for row in audit.load_claims(res).to_dict("records"):
        exp = row["experiment"]
        if exp not in MEASURED:
            continue
        rows = audit.claim_rows(res, row)
        m = rows.metrics.frame.copy()
        other = ~m.index.isin(rows.frame.index)
        for c in MEASURED[exp]:
            m.loc[other, c] = m.loc[other, c] * (0.37 if m[c].dtype.kind == "f" else 3) + 1
        got = {c.claim: c.value for c in experiments.get(exp).check(m, cfg[exp], ctx)}
        v, want = got[row["claim"]], row["value"]
        assert v == want or (math.isnan(v) and math.isnan(want)) or math.isclose(v, want), (
            row["claim"], rows.query, want, v)  # fmt: skip


def test_the_commands_on_a_real_run(pipeline_run):
    claims = overparam("claims", cwd=pipeline_run)
    assert claims.returncode == 0, claims.stderr
    n = len(audit.load_claims(pipeline_run / "results"))
    assert len(claims.stdout.splitlines()) == n + 2
    first = claims.stdout.splitlines()[2].split()[0]
    explain = overparam("explain", first, cwd=pipeline_run)
    assert explain.returncode == 0, explain.stderr
    assert "computed from results/" in explain.stdout
    diff = overparam("diff", "results", "results", cwd=pipeline_run)
    assert diff.returncode == 0, diff.stderr
    assert "changed: 0" in diff.stdout and "recorded config is the same" in diff.stdout


def test_the_audit_imports_no_torch_or_plotting(pipeline_run):
    """Auditing is quick: no command imports torch or matplotlib (explaining every claim
    imports every experiment's claims.py)."""
    from .test_imports import _heavy_modules

    code = f"""
import os, sys
sys.path.insert(0, {str(ROOT / "src")!r})
os.chdir({str(pipeline_run)!r})
from overparam import audit, cli
for claim in audit.load_claims("results")["claim"]:
    assert cli.main(["explain", claim, "--head", "0"]) == 0
assert cli.main(["show", "results/lottery_ticket/metrics.parquet"]) == 0
assert cli.main(["diff", "results", "results"]) == 0
"""
    assert _heavy_modules(code) == []
