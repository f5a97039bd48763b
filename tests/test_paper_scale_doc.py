"""docs/make_paper_scale.py: the paper-scale document is computed from a run's tables."""

import importlib.util

import pandas as pd
import pytest

from overparam import tables
from overparam.claims import CLAIMS_SCHEMA
from overparam.config import validate

from .conftest import BASE_SCHEMA, ROOT, shipped_config

spec = importlib.util.spec_from_file_location("mps", ROOT / "docs" / "make_paper_scale.py")
mps = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mps)


@pytest.fixture(scope="module")
def cfg():
    return validate(shipped_config("config/paper.yaml"), BASE_SCHEMA)


def _claim(claim, value, holds, lo, hi, v3=True):
    """A claims row; ``v3=False``: as a run before claims v3 wrote it (no tier, published)."""
    exp = claim.split(".")[0]
    row = {c: None for c in CLAIMS_SCHEMA.columns}
    row.update(tier="replication", published=f"published {claim}")
    if not v3:
        del row["tier"], row["published"]
    row.update(claim=claim, experiment=exp, source="s", statement="st", metric="m",
               comparison="<=", threshold=1.0, figure=f"{exp}.png", scale="paper", note="",
               value=value, n_seeds=5, ci_low=lo, ci_high=hi, holds=holds,
               confident=holds and hi <= 1.0)  # fmt: skip
    return row


def _write_claims(root, rows):
    df = pd.DataFrame(rows)
    for exp, part in df.groupby("experiment"):
        (root / "results" / exp).mkdir(parents=True, exist_ok=True)
        part.to_parquet(root / "results" / exp / "claims.parquet")


def test_document_from_a_partial_run(tmp_path, cfg):
    run, quick = tmp_path / "paper", tmp_path / "quick"
    bench = run / "results" / "benchmarks" / "jobs" / "benign_overfitting"
    bench.mkdir(parents=True)
    tsv = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    (bench / "solve_demo.tsv").write_text(tsv + "12.0\t0:00:12\t300.5\t1\t1\t1\t0\t0\t95.0\t11.5\n")
    (bench / "solve_isotropic.tsv").write_text(
        tsv + "30.0\t0:00:30\t900.0\t1\t1\t1\t0\t0\t99\t29\n"
    )
    # the paper run predates claims v3: its tiers and published numbers come from the quick run
    _write_claims(run, [_claim("benign_overfitting.benign_slope", -0.5, True, -0.6, -0.4, False),
                        _claim("double_descent.mlp_peak_height", 0.5, False, 0.2, 2.0, False)])  # fmt: skip
    _write_claims(quick, [_claim("benign_overfitting.benign_slope", 2.0, False, 1.5, 2.5),
                          _claim("double_descent.mlp_peak_height", 0.5, False, 0.2, 2.0)])  # fmt: skip
    runs = run / "results" / "benign_overfitting" / "runs"
    runs.mkdir(parents=True)
    schema = tables.Schema(name="t", columns={"x": "float"})
    for job, commit in (("demo", "feedface0011"), ("isotropic", "deadbeef9999")):
        tables.write_table(pd.DataFrame({"x": [1.0]}), runs / f"{job}.parquet", schema,
                           {"git_commit": commit})  # fmt: skip
    text = mps.render(run, quick, cfg, "abc123", "2026-11-25")
    # time: two of the four benign-overfitting jobs measured (42 s, peak 900 MB)
    jobs = mps.job_times(run, "benign_overfitting", cfg)
    assert jobs["s"].sum() == 42.0 and jobs["max_rss_mb"].max() == 900.0
    extra, missing, unknown = mps.estimate(jobs)
    # the demo is a kind of its own; the two missing sweep families cost what the measured
    # sweep family (isotropic: 29 CPU seconds) cost
    assert missing == 2 and unknown == 0 and extra == 2 * 29.0
    line = next(ln for ln in text.splitlines() if ln.startswith("| benign_overfitting |"))
    assert "2 / 4" in line and "0m 42s" in line and "0m 40s" in line and "900 MB" in line
    assert "for 2 jobs" in line and "97%" in line
    # the commits that wrote the run tables (a run resumed or merged across commits)
    assert line.endswith("| `deadbeef99`, `feedface00` |")
    assert next(ln for ln in text.splitlines() if ln.startswith("| lottery_ticket |")).endswith(
        "| - | - | - |"
    )
    # claims: tier, value, interval, verdict, the published number, quick verdict
    slope = next(ln for ln in text.splitlines() if "`benign_overfitting.benign_slope`" in ln)
    assert "-0.5" in slope and "[-0.6, -0.4] over 5 seeds" in slope and "**differs**" in slope
    peak = next(ln for ln in text.splitlines() if "`double_descent.mlp_peak_height`" in ln)
    assert "DOES NOT HOLD" in peak and "published double_descent.mlp_peak_height" in peak
    assert "| replication |" in peak and "differs" not in peak
    assert all(ln.count(" | ") == 6 for ln in text.splitlines() if ln.startswith("| `"))
    assert "Tally: replications: 1 of 2 hold (1 confidently)." in text
    assert "abc123" in text and "2026-11-25" in text
    assert "lottery_ticket" in text.split("did not run at paper scale:")[1]


def test_missing_jobs_are_extrapolated_from_their_kind():
    nan = float("nan")
    jobs = pd.DataFrame({"job": ["a", "b", "c", "d"], "kind": ["X", "X", "X", "Y"],
                         "s": [10.0, 20.0, nan, nan], "cpu_s": [8.0, 12.0, nan, nan]})  # fmt: skip
    extra, missing, unknown = mps.estimate(jobs)
    assert (extra, missing, unknown) == (10.0, 2, 1)  # c as the mean of its kind; d unknown
    assert mps.estimate(jobs.iloc[:2]) == (0.0, 0, 0)


def test_job_times_of_bundles_measured_whole_or_by_part(tmp_path, cfg):
    """A bundle that ran is one row; one that did not, but whose parts ran as jobs of their
    own (a run before bundles, or with bundles: false), is its parts' rows."""
    bench = tmp_path / "results" / "benchmarks" / "jobs" / "width_vs_depth"
    bench.mkdir(parents=True)
    tsv = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    row = "10.0\t0:00:10\t300.0\t1\t1\t1\t0\t0\t95.0\t9.5\n"
    (bench / "train_b20000.tsv").write_text(tsv + row)
    for d in cfg["width_vs_depth"]["depths"]:
        (bench / f"train_b40000_d{d}.tsv").write_text(tsv + row)
    (bench / "train_b80000_d1.tsv").write_text(tsv + row)  # one part only: the bundle is missing
    jobs = mps.job_times(tmp_path, "width_vs_depth", cfg).set_index("job")
    assert jobs.loc["b20000", "kind"] == "Bundle[DepthJob]" and jobs.loc["b20000", "s"] == 10.0
    depths = cfg["width_vs_depth"]["depths"]
    assert [f"b40000_d{d}" for d in depths] == [j for j in jobs.index if j.startswith("b40000")]
    assert (jobs.loc[[f"b40000_d{d}" for d in depths], "kind"] == "DepthJob").all()
    assert "b80000" in jobs.index and pd.isna(jobs.loc["b80000", "s"])
