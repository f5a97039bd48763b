"""The `overparam` audit command through its real entry point (`python -m overparam.cli`, the
function `[project.scripts]` names), on small results folders built here: claims, show, diff,
explain, and one clear line on stderr for every kind of bad input."""

import json
import os
import subprocess
import sys
import tomllib

import numpy as np
import pandas as pd
import pytest

from overparam import audit, tables
from overparam.claims import CLAIMS_SCHEMA, Estimate, claims_frame, make_claim
from overparam.experiments import get

from .claimdefs import definition
from .conftest import ROOT

LAZY = get("lazy_training")
CFG = {"widths": [16, 64], "seeds": [0, 1], "lr": 1.0, "steps": 30}


def run(*args, cwd=None):
    """`overparam ARGS` as a user runs it: a fresh interpreter importing this checkout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-m", "overparam.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def failed(out, *words):
    """Exit 1, nothing on stdout, one line on stderr naming ``words``, no traceback."""
    assert out.returncode == 1, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("overparam: error: "), out.stderr
    assert "Traceback" not in out.stderr
    for w in words:
        assert w in lines[0], lines[0]


def spec(comparison, threshold, tier="replication"):
    return definition(comparison, threshold, source="Paper 2020", statement="it shrinks",
                      metric="slope", tier=tier)  # fmt: skip


def claim(key, value, lo, hi, comparison="<", threshold=0.0, n_seeds=2, exp="lazy_training",
          tier="replication"):  # fmt: skip
    return make_claim(
        spec(comparison, threshold, tier),
        claim=key,
        experiment=exp,
        estimate=Estimate(value, n_seeds, lo, hi),
        figure=f"figures/{exp}.png",
        scale="test",
    )


def lazy_metrics(kr_gap_64=0.1) -> pd.DataFrame:
    rows = []
    for regime in ("ntk", "scaled"):
        for w in CFG["widths"]:
            for seed in CFG["seeds"]:
                for q, v in (("ntk_change", 1 / w), ("kr_gap", kr_gap_64 * 64 / w)):
                    rows.append({"regime": regime, "width": w, "output_scale": 1.0, "lr": 1.0,
                                 "seed": seed, "quantity": q, "value": v + seed * 1e-3})  # fmt: skip
    return pd.DataFrame(rows)


def results(tmp, claims, cfg=CFG, kr_gap_64=0.1, figure=True):
    """A results folder: claims.parquet, lazy_training's metrics (provenance: ``cfg``) and
    one run table; the figure file when ``figure``."""
    res = tmp / "results"
    tables.write_table(claims_frame(claims), res / "claims.parquet", CLAIMS_SCHEMA, {})
    m = lazy_metrics(kr_gap_64)
    prov = tables.provenance(cfg, seeds=cfg["seeds"], experiment="lazy_training", repo=ROOT)
    tables.write_table(m, res / "lazy_training" / "metrics.parquet", LAZY.metrics_schema, prov)
    run_prov = tables.provenance({"width": 16}, seeds=[0, 1], experiment="lazy_training")
    tables.write_table(
        m[m["width"] == 16], res / "lazy_training/runs/w16.parquet", LAZY.run_schema, run_prov
    )
    if figure:
        (tmp / "figures").mkdir(parents=True, exist_ok=True)
        (tmp / "figures/lazy_training.png").write_bytes(b"png")
    return res


CLAIMS_A = [
    claim("ntk_change_vanishes", -1.0, -1.1, -0.9, threshold=-0.4),  # holds, confident
    claim("kernel_regression_match", 0.1, 0.09, 0.11, threshold=0.05),  # does not hold
    claim(
        "scaled_leaves_lazy", -0.3, -0.5, 0.1, comparison=">", threshold=-0.5, tier="extension"
    ),  # not confident  # fmt: skip
]


@pytest.fixture
def res(tmp_path):
    return results(tmp_path, CLAIMS_A)


# ----------------------------------------------------------------------------- entry point


def test_console_script_resolves_to_main():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, attr = scripts["overparam"].partition(":")
    import importlib

    from overparam import cli

    assert getattr(importlib.import_module(module), attr) is cli.main


def test_no_command_is_a_usage_error():
    out = run()
    assert out.returncode == 2 and "usage: overparam" in out.stderr


# ----------------------------------------------------------------------------- claims


def test_claims_lists_verdicts_values_and_intervals(res):
    out = run("claims", "--results", res)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"{res / 'claims.parquet'}: replications: 1 of 2 hold (1 confidently)" \
        " · extensions: 1 of 1 hold (0 confidently)"  # fmt: skip
    assert lines[1].split() == ["claim", "tier", "verdict", "value", "95%", "interval", "test"]
    body = {ln.split()[0]: ln for ln in lines[2:]}
    assert set(body) == {c.claim for c in CLAIMS_A}
    kr = body["lazy_training.kernel_regression_match"]
    assert "DOES NOT HOLD" in kr and "0.1" in kr and "[0.09, 0.11] over 2 seeds" in kr
    assert "needs < 0.05" in kr
    assert (
        "holds (not confident: CI crosses the threshold)"
        in body["lazy_training.scaled_leaves_lazy"]
    )
    assert "holds (confident)" in body["lazy_training.ntk_change_vanishes"]


def test_claims_failing_and_experiment_filters(res):
    out = run("claims", "--results", res, "--failing", "--experiment", "lazy_training")
    assert out.returncode == 3, out.stderr  # a replication fails
    assert [ln.split()[0] for ln in out.stdout.splitlines()[2:]] == [
        "lazy_training.kernel_regression_match"
    ]


def test_claims_tier_filter(res):
    out = run("claims", "--results", res, "--tier", "extension")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].endswith(": extensions: 1 of 1 hold (0 confidently)")
    assert [ln.split()[:2] for ln in lines[2:]] == [
        ["lazy_training.scaled_leaves_lazy", "extension"]
    ]
    out = run("claims", "--results", res, "--tier", "sanity")
    assert out.returncode == 0 and out.stdout.splitlines()[1:] == ["(no claims)"]
    assert run("claims", "--results", res, "--tier", "nope").returncode == 2


def test_claims_of_a_partial_build_are_collected_from_the_experiments(tmp_path):
    res = tmp_path / "results"
    tables.write_table(claims_frame(CLAIMS_A[:1]), res / "lazy_training/claims.parquet",
                       CLAIMS_SCHEMA, {})  # fmt: skip
    out = run("claims", "--results", res)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"{res}/*/claims.parquet: replications: 1 of 1 hold")


def test_claims_bad_input(res, tmp_path):
    failed(run("claims", "--results", res, "--experiment", "nope"), "unknown experiment 'nope'")
    failed(run("claims", "--results", res, "--experiment", "double_descent"), "no claims of")
    failed(run("claims", "--results", tmp_path / "nowhere"), "no such results folder")
    (tmp_path / "empty").mkdir()
    failed(run("claims", "--results", tmp_path / "empty"), "no claims.parquet")


# ----------------------------------------------------------------------------- show


def test_show_documents_every_column_and_the_provenance(res):
    out = run("show", res / "lazy_training/metrics.parquet")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.splitlines()[0].endswith("table 'lazy_training.runs', 16 rows x 7 columns")
    for col, meaning in LAZY.metrics_schema.doc.items():
        assert any(ln.split()[:1] == [col] and meaning in ln for ln in text.splitlines()), col
    prov = tables.read_provenance(res / "lazy_training/metrics.parquet")
    assert f"config_hash: {prov['config_hash']}" in text
    assert f"git_commit: {prov['git_commit']}" in text
    assert "versions: " in text and " python 3." in text and "widths: [16, 64]" in text
    assert "rows: 16 of 16 (first 10):" in text


def test_show_where_head_and_sections(res):
    path = res / "lazy_training/metrics.parquet"
    out = run("show", path, "--where", "quantity == 'kr_gap' and width == 64", "--head", "1")
    assert out.returncode == 0, out.stderr
    assert "rows where quantity == 'kr_gap' and width == 64: 4 of 16 (first 1):" in out.stdout
    assert out.stdout.rstrip().splitlines()[-1].split()[:2] == ["ntk", "64"]
    only = run("show", path, "--columns").stdout
    assert "\ncolumns:\n" in only and "\nprovenance:\n" not in only and "\nrows" not in only
    prov = run("show", path, "--provenance").stdout
    assert "\nprovenance:\n" in prov and "\ncolumns:\n" not in prov


def test_show_a_table_it_has_no_schema_for(tmp_path):
    pd.DataFrame({"x": [1, 2]}).to_parquet(tmp_path / "foreign.parquet")
    out = run("show", tmp_path / "foreign.parquet")
    assert out.returncode == 0, out.stderr
    assert "table 'unknown schema', 2 rows x 1 columns" in out.stdout
    assert "(none recorded)" in out.stdout


def test_show_warns_when_a_table_breaks_its_schema(res):
    path = res / "lazy_training/runs/w16.parquet"
    df = tables.read_table(path).assign(value=np.nan)  # not nullable
    tables.write_table(df, path, tables.Schema("lazy_training.runs", {"value": "float"},
                       nullable=frozenset({"value"}), extra_ok=True))  # fmt: skip
    out = run("show", path, "--columns")
    assert out.returncode == 0
    assert out.stderr.startswith("warning: ") and "'value'" in out.stderr


def test_show_bad_input(res, tmp_path):
    path = res / "lazy_training/metrics.parquet"
    failed(run("show", path, "--where", "nosuch > 1"), "bad query 'nosuch > 1'")
    failed(run("show", path, "--where", "width >"), "bad query")
    failed(run("show", tmp_path / "missing.parquet"), "does not exist")
    (tmp_path / "notes.txt").write_text("not a table")
    failed(run("show", tmp_path / "notes.txt"), "not a readable parquet table")
    failed(run("show", res), "is a folder")


def test_schema_for_a_table_found_from_its_path(tmp_path):
    runs = tmp_path / "results/lazy_training/runs/w16.parquet"
    assert audit.schema_for(runs, {}) is LAZY.run_schema
    metrics = tmp_path / "results/double_descent/metrics.parquet"
    assert audit.schema_for(metrics, {}) is get("double_descent").metrics_schema
    assert audit.schema_for(tmp_path / "x/claims.parquet", {}) is CLAIMS_SCHEMA
    assert audit.schema_for(tmp_path / "x.parquet", {"schema": "claims"}) is CLAIMS_SCHEMA
    assert audit.schema_for(tmp_path / "x.parquet", {}) is None


# ----------------------------------------------------------------------------- diff


def test_diff_reports_verdicts_values_tests_membership_and_config(tmp_path):
    a = results(tmp_path / "a", CLAIMS_A)
    b_claims = [
        claim("ntk_change_vanishes", -1.05, -1.2, -0.95, threshold=-0.4),  # within: unchanged
        claim("kernel_regression_match", 0.04, 0.03, 0.05, threshold=0.05),  # verdict + value
        claim("linearisation_gap_vanishes", -0.6, -0.7, -0.5, threshold=-0.4),  # only in B
    ]
    b = results(tmp_path / "b", b_claims, cfg={**CFG, "lr": 0.5, "widths": [16, 64, 256]})
    out = run("diff", a, b)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "claims in both: 2; changed: 1" in text
    assert "  lazy_training.kernel_regression_match (verdict, value beyond interval)" in text
    assert "    A: DOES NOT HOLD, 0.1 [0.09, 0.11] over 2 seeds, needs < 0.05" in text
    assert "    B: holds (not confident: CI crosses the threshold), 0.04" in text
    assert "only in A: 1\n  lazy_training.scaled_leaves_lazy" in text
    assert "only in B: 1\n  lazy_training.linearisation_gap_vanishes" in text
    assert "config of lazy_training differs" in text
    assert "  lr: 1.0 -> 0.5" in text and "  widths: [16, 64] -> [16, 64, 256]" in text
    # within both intervals: not a change, but listed
    assert "within their intervals: 1\n  lazy_training.ntk_change_vanishes: -1 -> -1.05\n" in text


def test_diff_of_a_run_with_itself_and_single_seed_claims(tmp_path):
    a = results(tmp_path / "a", CLAIMS_A)
    out = run("diff", a, a)
    assert out.returncode == 0, out.stderr
    assert "changed: 0" in out.stdout and "recorded config is the same" in out.stdout
    # one seed: no interval, so any change of the value is beyond it; a changed threshold too
    one = [claim("ntk_change_vanishes", -1.0, np.nan, np.nan, threshold=-0.4, n_seeds=1)]
    moved = [claim("ntk_change_vanishes", -0.99, np.nan, np.nan, threshold=-0.5, n_seeds=1)]
    changes = audit.claim_changes(claims_frame(one), claims_frame(moved))
    assert changes["changes"].tolist() == ["value beyond interval, test"]
    assert audit.claim_changes(claims_frame(one), claims_frame(one)).empty


def test_diff_bad_input(res, tmp_path):
    failed(run("diff", res, tmp_path / "nowhere"), "no such results folder")


# ----------------------------------------------------------------------------- explain


def test_explain_shows_the_claim_its_rows_and_figure(res):
    out = run("explain", "lazy_training.kernel_regression_match", "--results", res)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for line in (
        "  tier:       replication",
        "  source:     Paper 2020",
        "  statement:  it shrinks",
        "  metric:     slope",
        "  test:       holds iff value < 0.05",
        "  basis:      project choice: a test value",
        "  protocol:   the source's setup (test)",
        "  deviations: none",
        "  published:  none reported",
        "  value:      0.1",
        "  interval:   [0.09, 0.11] over 2 seeds",
        "  verdict:    DOES NOT HOLD",
        f"  figure:     {res.parent / 'figures/lazy_training.png'}",
    ):
        assert line in text.splitlines(), line
    # lazy_training declares: the ntk regime's kernel-regression gap at the widest width
    assert '  2 of 16 rows, where regime == "ntk" and quantity == "kr_gap" and width == ' \
        "width.max()" in text  # fmt: skip
    rows = text.splitlines()[-2:]
    assert [r.split()[:2] for r in rows] == [["ntk", "64"], ["ntk", "64"]]
    assert [r.split()[-2] for r in rows] == ["kr_gap", "kr_gap"]


def test_explain_without_declared_rows_uses_the_whole_table(tmp_path):
    res = results(tmp_path, [claim("something_new", 1.0, 0.5, 1.5)], figure=False)
    out = run("explain", "lazy_training.something_new", "--results", res, "--head", "3")
    assert out.returncode == 0, out.stderr
    assert "the whole metrics table, 16 rows (no narrower selection is declared" in out.stdout
    assert "figures/lazy_training.png (not built)" in out.stdout
    assert "first 3 (--head N for more):" in out.stdout


def test_explain_bad_input(res):
    failed(run("explain", "lazy_training.nope", "--results", res), "unknown claim")
    near = run("explain", "kernel_regression", "--results", res)
    failed(near, "did you mean lazy_training.kernel_regression_match")
    (res / "lazy_training/metrics.parquet").unlink()
    failed(run("explain", "lazy_training.kernel_regression_match", "--results", res),
           "metrics.parquet: table file does not exist")  # fmt: skip


def test_claims_failing_exits_3_when_a_replication_or_sanity_check_fails(res):
    out = run("claims", "--results", res, "--failing")
    assert out.returncode == 3, out.stderr  # kernel_regression_match, a replication, fails
    assert "lazy_training.kernel_regression_match" in out.stdout
    # an extension that does not hold is a result: no failure exit
    assert run("claims", "--results", res, "--failing", "--tier", "extension").returncode == 0
    assert run("claims", "--results", res).returncode == 0  # without --failing: a listing


def test_json_output_is_machine_readable(res):
    out = run("claims", "--results", res, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["tally"].startswith("replications: 1 of 2 hold")
    rows = {r["claim"]: r for r in data["claims"]}
    assert rows["lazy_training.kernel_regression_match"]["holds"] is False
    assert rows["lazy_training.scaled_leaves_lazy"]["tier"] == "extension"
    out = run("explain", "lazy_training.kernel_regression_match", "--results", res, "--json")
    e = json.loads(out.stdout)
    assert e["claim"]["value"] == 0.1 and e["rows"] == 2 and len(e["head"]) == 2
    assert e["query"].startswith('regime == "ntk"')
    out = run("show", str(res / "lazy_training" / "metrics.parquet"), "--json", "--head", "3")
    s = json.loads(out.stdout)
    assert s["schema"] == "lazy_training.runs" and len(s["head"]) == 3
    assert s["columns"]["width"]["meaning"] and s["provenance"]["config"]


def test_version():
    out = run("--version")
    assert out.returncode == 0 and out.stdout.startswith("overparam ")
