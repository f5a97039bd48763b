"""End-to-end: the real Snakemake DAG on the tiny .test config, asserting on values."""

import re
import shutil

import numpy as np
import pytest
import yaml

from overparam import tables
from overparam.claims import CLAIMS_SCHEMA, tally
from overparam.experiments import get, names

from ..conftest import TEST_CONFIG, job_counts, snakemake, validated

# the MNIST-1D files the .test config's double_descent, lottery_ticket and mode_connectivity
# read, and width_vs_depth's one-pass draw
MNIST1D_FILES = (
    "mnist1d_n4000_split0.25_seed42",
    "mnist1d_n1000_split0.8_seed42",
    "mnist1d_n3000_split0.8_seed42",
)

pytestmark = pytest.mark.e2e


def test_lint_is_clean(tmp_path):
    out = snakemake(tmp_path, "--lint", check=False)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "Lints for" not in text, text


def test_single_figure_builds_only_what_it_needs(tmp_path):
    one = job_counts(snakemake(tmp_path, "-n", "figures/benign_overfitting.png").stdout)
    # demo + 3 families (numpy: solve), one aggregate, one figure; no check, no manifest, no
    # benchmarks table, no other experiment
    assert one == {"solve": 4, "aggregate": 1, "figure": 1, "total": 6}
    full = job_counts(snakemake(tmp_path, "-n", "figures/all").stdout)
    # solve: benign_overfitting's 4 + double_descent's linear, random_features and
    # random_fourier + implicit_bias's least squares and 2 logistic dimensions;
    # train, small specs bundled into one job (JobSpec.bundle): optimization_ease's narrow
    # sweep and its 2 narrow demo families + double_descent's narrow MLPs and its widest
    # + lottery's 2 jobs + mode_connectivity's demo with its narrow width, its wider width
    # and stability + lazy_training's narrow widths + implicit_bias's networks (its least
    # squares and logistic jobs: solve) + random_labels' 1 width + flat_minima's 3 (fixed and
    # scaled lr, edge of stability) + width_vs_depth's fits of one budget and its one-pass job
    assert full["solve"] == 4 + 3 + 3
    assert full["train"] == 3 + 2 + 2 + 3 + 1 + 1 + 1 + 3 + 2
    assert full["claims"] == 1 and full["check"] == 10 and full["benchmarks"] == 1


def test_outputs_exist(pipeline_run):
    for f in [
        "figures/all",
        "results/claims.parquet",
        "results/claims.md",
        "results/benchmarks/jobs.parquet",
        "figures/benign_overfitting.png",
        "figures/benign_overfitting.pdf",
        "figures/optimization_ease.png",
        "figures/optimization_ease.pdf",
        "results/benign_overfitting/provenance.json",
    ]:
        assert (pipeline_run / f).stat().st_size > 0, f


def test_claims_table(pipeline_run):
    df = tables.read_table(pipeline_run / "results/claims.parquet", CLAIMS_SCHEMA)
    assert set(df["experiment"]) == {
        "benign_overfitting",
        "optimization_ease",
        "double_descent",
        "lottery_ticket",
        "mode_connectivity",
        "lazy_training",
        "implicit_bias",
        "random_labels",
        "flat_minima",
        "width_vs_depth",
    }
    assert (df["scale"] == "test").all()
    assert df["claim"].is_unique
    by = df.set_index("claim")
    # benign overfitting reproduces even at this tiny scale (n <= 400, 3 seeds)
    for c in [
        "demo_interpolates",
        "demo_excess_small",
        "demo_beats_isotropic",
        "spiked_bulk.slope",
        "spiked_bulk.vanishes",
        "isotropic.does_not_vanish",
        "power_decay.does_not_vanish",
    ]:
        assert by.loc[f"benign_overfitting.{c}", "holds"], by.loc[f"benign_overfitting.{c}"]
    assert by.loc["benign_overfitting.spiked_bulk.slope", "value"] < -0.3
    assert by.loc["benign_overfitting.isotropic.does_not_vanish", "value"] == pytest.approx(
        1.5, rel=0.15
    )
    manifest = (pipeline_run / "figures/all").read_text()
    assert "figures/benign_overfitting.png" in manifest
    assert tally(df) in manifest and "sanity checks: all" in manifest
    assert "benign_overfitting.demo_interpolates [sanity]: holds" in manifest
    md = (pipeline_run / "results/claims.md").read_text()
    assert "benign_overfitting.spiked_bulk.slope" in md


def test_every_claim_has_an_interval_over_its_seeds(pipeline_run):
    df = tables.read_table(pipeline_run / "results/claims.parquet", CLAIMS_SCHEMA)
    cfg = yaml.safe_load(TEST_CONFIG.read_text())
    seeds = {
        "benign_overfitting": len(cfg["benign_overfitting"]["seeds"]),
        "optimization_ease": len(cfg["optimization_ease"]["seeds"]),
        "lottery_ticket": len(cfg["lottery_ticket"]["seeds"]),
    }
    # the reference demo of mode_connectivity is one pair, as written: one seed, no interval
    one_pair = {"mode_connectivity.demo_linearly_connected"}
    for r in df.itertuples():
        if r.experiment in seeds:
            assert r.n_seeds == seeds[r.experiment], r
        if r.claim in one_pair:
            assert r.n_seeds == 1 and np.isnan(r.ci_low), r
            continue
        assert r.n_seeds >= 2, r  # every other claim of the test config is computed from seeds
        if not np.isnan(r.value) and not np.isnan(r.ci_low):
            assert r.ci_low <= r.value <= r.ci_high, r
        assert r.confident <= r.holds, r
    dd = df[df["experiment"] == "double_descent"].set_index("claim")
    assert dd.loc["double_descent.linear_peak_at_one", "n_seeds"] == int(
        cfg["double_descent"]["linear"]["num_seeds"]
    )
    assert dd.loc["double_descent.mlp_second_descent", "n_seeds"] == len(
        cfg["double_descent"]["seeds"]
    )
    # the intervals are real: at least one claim has a non-degenerate one
    assert (df["ci_high"] - df["ci_low"] > 0).any()


def test_benign_tables(pipeline_run):
    m = tables.read_table(
        pipeline_run / "results/benign_overfitting/metrics.parquet",
        get("benign_overfitting").metrics_schema,
    )
    written = m["family"].str.startswith("demo_as_written")
    assert set(m["family"]) == {
        "demo",
        "demo_isotropic",
        "spiked_bulk",
        "isotropic",
        "power_decay",
        "demo_as_written",
        "demo_as_written_same_w",
    }
    # seeds x (demo + its isotropic comparison + families x n), plus the demo as written
    assert len(m) == 3 * (2 + 3 * 4) + 2
    assert (m.loc[~written, "train_mse"] < 1e-8).all()  # every seeded fit interpolates
    # the reference code as written cannot: its centred design has rank n - 1
    assert (m.loc[written, "gram_rank"] == 99).all()
    assert (m.loc[written, "train_mse"] > 0.05).all()
    spiked = m[m["family"] == "spiked_bulk"].groupby("n").first()
    assert (spiked["k_star"] == 5).all()
    np.testing.assert_allclose(spiked["R_k_star"], np.ceil(spiked.index.to_numpy() ** 1.5))
    iso = m[m["family"] == "isotropic"]
    np.testing.assert_allclose(iso["theory_excess_risk"], 0.5 + 1.0)  # r^2/2 + sigma^2/(2-1)
    assert (iso["p"] == 2 * iso["n"]).all()


def test_optimization_tables(pipeline_run):
    m = tables.read_table(
        pipeline_run / "results/optimization_ease/metrics.parquet",
        get("optimization_ease").metrics_schema,
    )
    assert not m["diverged"].any()
    ext, demo = m[m["setup"] == "extension"], m[m["setup"] == "demo"]
    assert len(ext) + len(demo) == len(m)
    assert sorted(ext["width"].unique()) == [10, 100]
    assert sorted(ext["seed"].unique()) == [0, 1]
    last = ext[ext["epoch"] == ext["epoch"].max()].groupby("width")["train_loss"].median()
    first = ext[ext["epoch"] == 0].groupby("width")["train_loss"].median()
    assert (last < first).all()  # training made progress at every width
    assert last[100] < last[10]
    # the demo: every epoch recorded, for each parametrization, width and seed
    runs = demo.groupby(["parametrization", "width", "seed"])["epoch"].agg(["size", "max"])
    assert len(runs) == 2 * 2 * 2 and (runs["size"] == 101).all() and (runs["max"] == 100).all()
    d = demo.groupby(["parametrization", "width"])
    progress = d.apply(lambda g: g.loc[g.epoch == 100, "train_loss"].median(), include_groups=False)
    start = d.apply(lambda g: g.loc[g.epoch == 0, "train_loss"].median(), include_groups=False)
    assert (progress < start).all()


def test_benchmarks_table(pipeline_run):
    """One row per job of the DAG (the benchmarks and claims jobs themselves excepted), named
    by its rule, experiment and job id: train for the jobs whose spec trains, else solve."""
    b = tables.read_table(pipeline_run / "results/benchmarks/jobs.parquet")
    cfg = validated(".test/config.yaml")
    experiments = [e for e in cfg if e in names()]
    expected = []
    for e in experiments:
        for job_id, spec in get(e).jobs(cfg[e]).items():
            expected.append(("train" if spec.trains else "solve", e, job_id))
        expected += [(step, e, "") for step in ("aggregate", "figure", "check")]
    expected += [("mnist1d", "data", stem) for stem in sorted(MNIST1D_FILES)]
    assert sorted(zip(b["rule"], b["experiment"], b["job"])) == sorted(expected)
    assert b["rule"].value_counts().to_dict() == {
        "solve": 10,  # benign_overfitting 4, double_descent 3, implicit_bias 3
        # optimization_ease 3 (bundles: its widths, its demo's two parametrizations),
        # double_descent 2 (a bundle of two widths, one width), lottery_ticket 2,
        # mode_connectivity 3 (a bundle of the demo and a width, a width, stability),
        # lazy_training 1 (a bundle of its widths), implicit_bias 1 (networks),
        # random_labels 1 (width), flat_minima 3 (fixed and scaled lr, edge of stability),
        # width_vs_depth 2 (a bundle of its budget's depths, one pass)
        "train": 18,
        "aggregate": 10,
        "figure": 10,
        "check": 10,
        "mnist1d": 3,
    }
    assert (b["seconds"] > 0).all()
    # jobs that train with train_ensemble: seconds of optimizer steps and of evaluation (from
    # their run tables' provenance), within the job's own time; the others (lazy training's
    # and implicit bias's own loops, solve and bookkeeping jobs) have none
    train = b[b["train_s"].notna()]
    assert set(train["experiment"]) == {
        "optimization_ease", "double_descent", "lottery_ticket", "mode_connectivity",
        "random_labels", "width_vs_depth", "flat_minima",
    }  # fmt: skip
    assert (train["rule"] == "train").all() and b.loc[b["eval_s"].notna(), "train_s"].notna().all()
    assert (train["train_s"] > 0).all() and (train["eval_s"] > 0).all()
    assert (train["train_s"] + train["eval_s"] <= train["seconds"]).all()
    # their GEMM FLOPs and the fraction of the measured matmul peak the steps reached (a
    # fraction over 1 would mean the FLOPs are overcounted or the peak mismeasured); the jobs
    # that made no train_ensemble steps have none
    assert (train["train_gflop"] > 0).all() and (train["device"] == "cpu").all()
    assert train["frac_of_peak"].between(0, 1.2).all() and (train["peak_gflops"] > 0).all()
    assert b.loc[b["train_s"].isna(), ["train_gflop", "frac_of_peak"]].isna().all().all()
    assert (
        b.loc[b["rule"].isin(["aggregate", "figure", "check"]), ["train_s", "eval_s"]]
        .isna()
        .all()
        .all()
    )
    manifest = (pipeline_run / "figures/all").read_text()
    for e in experiments:
        n = int((b["experiment"] == e).sum())
        split = r" \(optimizer steps \d+ s, evaluation \d+ s: \d+% of them\)"
        trains = e in set(train["experiment"])
        assert re.search(rf"(?m)^  {e}: {n} jobs, \d+ s{split if trains else ''}$", manifest), (
            manifest
        )


def test_rerun_is_a_noop(pipeline_run):
    out = snakemake(pipeline_run, "-n", "figures/all")
    assert "Nothing to be done" in out.stdout + out.stderr


def test_default_target_is_figures_all(tmp_path):
    counts = job_counts(snakemake(tmp_path, "-n").stdout)
    assert counts["claims"] == 1 and counts["check"] == 10, counts


def test_every_run_ends_with_the_verdicts(pipeline_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(pipeline_run, run, symlinks=True)
    df = tables.read_table(run / "results/claims.parquet", CLAIMS_SCHEMA)
    out = snakemake(run, "figures/all", "--forcerun", "claims")
    text = out.stdout + out.stderr
    assert tally(df) in text, text
    for claim in df.loc[~df["holds"], "claim"]:
        assert f"  {claim} (" in text


def test_strict_mode_fails_on_a_claim_that_does_not_hold_and_keeps_results(pipeline_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(pipeline_run, run, symlinks=True)
    cfg = yaml.safe_load(TEST_CONFIG.read_text())
    cfg["strict"] = True
    # an impossible threshold: the excess risk cannot fall like n^-10 over the sweep
    cfg["benign_overfitting"]["claim_thresholds"] = {
        "benign_slope": {"threshold": -10.0, "reason": "a test: impossible"}
    }
    path = tmp_path / "strict.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    out = snakemake(run, configfile=path, check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert "strict mode: not every claim holds" in text
    assert "benign_overfitting.spiked_bulk.slope (log-log slope" in text
    df = tables.read_table(run / "results/claims.parquet", CLAIMS_SCHEMA)
    assert not df.set_index("claim").loc["benign_overfitting.spiked_bulk.slope", "holds"]
    assert (run / "figures/all").exists() and not (run / "results/claims.verified").exists()
    # a threshold is not a job parameter: nothing was trained or solved again
    counts = job_counts(text)
    assert counts["strict"] == 1 and "train" not in counts and "solve" not in counts, counts


def test_report_captions_say_how_many_seeds(pipeline_run, tmp_path):
    report = tmp_path / "report.html"
    snakemake(pipeline_run, "--report", str(report))
    html = report.read_text()
    cfg = yaml.safe_load(TEST_CONFIG.read_text())
    n_bo = len(cfg["benign_overfitting"]["seeds"])
    assert f"from {n_bo} seeds: points and bands show the spread over seeds" in html
    dd = cfg["double_descent"]
    lo = min(len(dd["seeds"]), dd["linear"]["num_seeds"], dd["random_features"]["num_seeds"])
    hi = max(len(dd["seeds"]), dd["linear"]["num_seeds"], dd["random_features"]["num_seeds"])
    assert f"from {lo} to {hi} seeds, depending on the panel" in html
