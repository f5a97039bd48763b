"""Reliability of the pipeline (issue 5), through the real `snakemake` command.

Kill and resume, determinism, bad config, divergence, corrupted intermediates and
parameter-tracked reruns. The pipelines here run only a small optimization_ease section
(the Snakefile runs only the experiments whose section is in the config), written to tmp_path;
the dry runs after config edits plan against the shared full run of the .test config
(``pipeline_run``).
"""

import base64
import copy
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
import yaml

from overparam import resume, tables
from overparam.claims import CLAIMS_SCHEMA
from overparam.experiments import get

from ..conftest import ROOT, TEST_CONFIG, job_counts, snakemake, validated

pytestmark = pytest.mark.e2e

# Two widths, one thread each, each its own job (no bundle). 500 epochs of 10 steps: each
# training job lasts a second or more, long enough to be killed in the middle.
MINIMAL = {
    "scale": "test",
    "device": "cpu",
    "threads": 1,
    "bundles": False,
    "optimization_ease": {
        "n": 100,
        "d": 10,
        "widths": [16, 64],
        "seeds": [0, 1],
        "lr": 0.01,
        "batch_size": 10,
        "epochs": 500,
        "eval_every": 50,
        "loss_threshold": 0.05,
        "loss_floor": 1.0e-8,
    },
}
RUNS = "results/optimization_ease/runs"
BENCHMARKS = "results/benchmarks/jobs.parquet"
OE_METRICS = get("optimization_ease").metrics_schema


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def with_value(cfg: dict, key: str, value) -> dict:
    """A deep copy of ``cfg`` with the dotted ``key`` set to ``value``."""
    out = copy.deepcopy(cfg)
    *parents, last = key.split(".")
    d = out
    for k in parents:
        d = d[k]
    d[last] = value
    return out


def content(path: Path) -> bytes:
    """A parquet table's bytes without its metadata (provenance holds wall time and commit)."""
    t = pq.read_table(path)
    buf = io.BytesIO()
    pq.write_table(t.replace_schema_metadata(None), buf)
    return buf.getvalue()


def result_tables(wd: Path) -> dict[str, bytes]:
    """Every table and text output of a run, byte for byte, except what measures time: of the
    job benchmarks table only its (rule, experiment, job) rows, of the manifest everything but
    the seconds each experiment's jobs took (and their split into optimizer steps and
    evaluation)."""
    out = {str(p.relative_to(wd)): content(p) for p in sorted((wd / "results").rglob("*.parquet"))}
    out[BENCHMARKS] = content_without_timings(wd / BENCHMARKS)
    out["results/claims.md"] = (wd / "results/claims.md").read_bytes()
    manifest = (wd / "figures/all").read_text()
    assert "time spent in jobs" in manifest
    timed = r"(?m)^(  \S+: \d+ jobs), \d+ s( \(optimizer steps .*\))?$"
    out["figures/all"] = re.sub(timed, r"\1", manifest).encode()
    return out


def content_without_timings(path: Path) -> bytes:
    """The job benchmarks table's rows (rule, experiment, job), in order."""
    t = pq.read_table(path, columns=["rule", "experiment", "job"])
    buf = io.BytesIO()
    pq.write_table(t.replace_schema_metadata(None), buf)
    return buf.getvalue()


def run_pipeline(wd: Path, cfg_path: Path, *args, **kw):
    return snakemake(wd, *args, configfile=cfg_path, **kw)


@pytest.fixture(scope="module")
def minimal_config(tmp_path_factory) -> Path:
    return write_config(tmp_path_factory.mktemp("cfg") / "minimal.yaml", MINIMAL)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, minimal_config) -> Path:
    """One uninterrupted run of the minimal config, from scratch."""
    wd = tmp_path_factory.mktemp("reference")
    run_pipeline(wd, minimal_config, "figures/all")
    return wd


# ----------------------------------------------------------------------------- determinism


def test_two_runs_from_scratch_give_identical_tables(reference_run, minimal_config, tmp_path):
    run_pipeline(tmp_path, minimal_config, "figures/all")
    a, b = result_tables(reference_run), result_tables(tmp_path)
    # runs, metrics + claims, all claims, job benchmarks, md + manifest
    assert set(a) == set(b) and len(a) == 2 + 2 + 1 + 1 + 2
    for name in a:
        assert a[name] == b[name], f"{name} differs between two runs of the same config"
    pa = tables.read_provenance(reference_run / "results/optimization_ease/metrics.parquet")
    pb = tables.read_provenance(tmp_path / "results/optimization_ease/metrics.parquet")
    assert pa["config_hash"] == pb["config_hash"]
    m = tables.read_table(tmp_path / "results/optimization_ease/metrics.parquet", OE_METRICS)
    assert len(m) == 2 * 2 * 11 and not m["diverged"].any()  # widths x seeds x recorded epochs


# ----------------------------------------------------------------------------- kill and resume


def _recorded(wd: Path, output: Path) -> bool:
    """Snakemake has finished the bookkeeping of ``output``: metadata written, no incomplete
    marker (both files are named by the urlsafe base64 of the path relative to ``wd``)."""
    name = base64.urlsafe_b64encode(str(output.relative_to(wd)).encode()).decode()
    meta = wd / ".snakemake" / "metadata" / name
    return meta.exists() and not (wd / ".snakemake" / "incomplete" / name).exists()


def _kill_when_second_job_trains(wd: Path, cfg_path: Path, timeout: float = 240.0) -> str:
    """Start `snakemake figures/all` with one core (jobs one after the other) and SIGKILL its
    process group once one run table is written and the next job's log shows training.
    Returns the name of the job killed in the middle."""
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(ROOT / "Snakefile"),
        "-d",
        str(wd),
        "--configfile",
        str(cfg_path),
        "--cores",
        "1",
        "figures/all",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            # a table counts as done once Snakemake has recorded it (its metadata written and
            # its incomplete marker gone), so the kill cannot fall into that bookkeeping
            done = {p.stem for p in (wd / RUNS).glob("*.parquet") if _recorded(wd, p)}
            for log in (wd / "logs/optimization_ease").glob("run_*.log"):
                job = log.stem.removeprefix("run_")
                if done and job not in done and "epoch 0/" in log.read_text():
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
                    return job
            if proc.poll() is not None:
                raise AssertionError("snakemake finished before it could be killed")
            time.sleep(0.05)
        raise AssertionError("no training job showed progress in time")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def test_killed_run_resumes_and_matches_uninterrupted(reference_run, minimal_config, tmp_path):
    killed = _kill_when_second_job_trains(tmp_path, minimal_config)
    time.sleep(1.0)  # the job died with the group: nothing finishes the table later
    assert not (tmp_path / RUNS / f"{killed}.parquet").exists()  # no half-written table
    assert "done:" not in (tmp_path / f"logs/optimization_ease/run_{killed}.log").read_text()
    finished = sorted(p.stem for p in (tmp_path / RUNS).glob("*.parquet"))
    assert len(finished) == 1 and killed not in finished
    # SIGKILL leaves Snakemake's lock behind: the README says to unlock, then re-run.
    run_pipeline(tmp_path, minimal_config, "--unlock")
    plan = job_counts(run_pipeline(tmp_path, minimal_config, "-n", "figures/all").stdout)
    assert plan["train"] == 1  # only the killed job trains again; the finished one is kept
    run_pipeline(tmp_path, minimal_config, "figures/all")
    a, b = result_tables(reference_run), result_tables(tmp_path)
    assert set(a) == set(b)
    for name in a:
        assert a[name] == b[name], f"{name}: resumed run differs from the uninterrupted one"
    assert not list((tmp_path / "results").rglob("*.tmp"))


def test_sigkilled_training_job_resumes_from_its_checkpoint(
    reference_run, minimal_config, tmp_path, monkeypatch
):
    """A train job killed mid-training (SIGKILL right after its third epoch-end checkpoint,
    through the library's test hook) resumes from that checkpoint on the re-run: its log says
    from which epoch, and every table equals the uninterrupted run's."""
    every = ("--config", "checkpoint_every_s=1e-9")  # a checkpoint at every epoch end
    monkeypatch.setenv(resume.KILL_AFTER_ENV, "3")
    failed = run_pipeline(tmp_path, minimal_config, "figures/all", *every, check=False)
    assert failed.returncode != 0
    assert not list((tmp_path / RUNS).glob("*.parquet"))  # every train job died mid-run
    stores = sorted((tmp_path / RUNS).glob("*.ckpt"))
    assert stores and all(list(s.glob("state-*.pt")) for s in stores)
    monkeypatch.delenv(resume.KILL_AFTER_ENV)
    run_pipeline(tmp_path, minimal_config, "figures/all", *every)
    for store in stores:
        log = (tmp_path / f"logs/optimization_ease/run_{store.stem}.log").read_text()
        assert re.search(r"resume: training call \w+ continues from epoch 3 ", log), log
        assert not store.exists()  # removed once the table is written
    a, b = result_tables(reference_run), result_tables(tmp_path)
    assert set(a) == set(b)
    for name in a:
        assert a[name] == b[name], f"{name}: resumed run differs from the uninterrupted one"


# ----------------------------------------------------------------------------- bad config

BAD = [
    (
        "optimization_ease.widht",
        [10],
        r"'optimization_ease': unknown key\(s\) \['widht'\]; allowed keys: \[.*'widths'",
    ),
    ("optimization_ease.lr", "fast", r"'optimization_ease\.lr': 'fast' should be of type number"),
    ("optimization_ease.n", -5, r"'optimization_ease\.n': -5 is out of range \(must be >= 1\)"),
    (
        "optimization_ease.widths",
        [],
        r"'optimization_ease\.widths': list must have at least 2 item",
    ),
    # a fraction outside [0, 1): momentum is the bounded fraction this config has
    (
        "optimization_ease.momentum",
        1.5,
        r"'optimization_ease\.momentum': 1\.5 is out of range \(must be < 1\)",
    ),
    ("threads", "two", r"'threads': 'two' should be of type integer"),
    pytest.param(
        "device",
        "cuda",
        r"'device': 'cuda' was requested but no CUDA.*allowed values: auto, cpu, cuda",
        marks=pytest.mark.skipif(torch.cuda.is_available(), reason="machine has CUDA"),
    ),
]


@pytest.mark.parametrize(
    "key,value,message",
    BAD,
    ids=[
        "unknown_key",
        "wrong_type",
        "negative_size",
        "empty_widths",
        "fraction_above_1",
        "threads_type",
        "cuda_without_gpu",
    ],
)
def test_bad_config_is_one_clear_error_before_any_job(tmp_path, key, value, message):
    cfg = write_config(tmp_path / "bad.yaml", with_value(MINIMAL, key, value))
    wd = tmp_path / "wd"
    out = run_pipeline(wd, cfg, "figures/all", check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert len(re.findall(message, text)) == 1, text
    assert text.count("config key '") == 1, text  # one error, for the one bad key
    assert "rule train" not in text and "rule solve" not in text, text
    assert ": train job " not in text and ": solve job " not in text, text  # the rules' messages
    assert "Traceback" not in text, text
    assert not (wd / "results").exists() and not (wd / "logs").exists()  # no job started


# ----------------------------------------------------------------------------- divergence


def test_diverged_runs_are_rows_and_claims_say_so(tmp_path):
    cfg = with_value(MINIMAL, "optimization_ease.lr", 100.0)  # SGD blows up at once
    cfg = with_value(cfg, "optimization_ease.epochs", 20)
    run_pipeline(tmp_path, write_config(tmp_path / "div.yaml", cfg), "figures/all")
    m = tables.read_table(tmp_path / "results/optimization_ease/metrics.parquet", OE_METRICS)
    assert m["diverged"].any()
    runs = m.groupby(["width", "seed"])
    assert runs.ngroups == 4  # every (width, seed) has rows: none dropped
    assert m.loc[m["diverged"], "train_loss"].isna().all()
    assert m.loc[m["diverged"], "test_loss"].isna().all()
    c = tables.read_table(tmp_path / "results/claims.parquet", CLAIMS_SCHEMA).set_index("claim")
    for name in ("epochs_decrease", "final_loss_decreases"):
        row = c.loc[f"optimization_ease.{name}"]
        assert np.isnan(row["value"]) and not row["holds"]
        assert (
            "4 of 4 runs diverged (width, seed): (16, 0), (16, 1), (64, 0), (64, 1)" in row["note"]
        )
    assert (tmp_path / "figures/optimization_ease.png").stat().st_size > 0
    manifest = (tmp_path / "figures/all").read_text()
    assert (
        "optimization_ease.epochs_decrease [extension]: DOES NOT HOLD (adjacent width pairs"
        in manifest
    )
    assert "does not decrease = NaN" in manifest


# ----------------------------------------------------------------------------- corrupted input


@pytest.fixture
def reference_copy(reference_run, tmp_path) -> Path:
    wd = tmp_path / "wd"
    shutil.copytree(reference_run, wd)  # copy2: modification times are kept
    return wd


def test_truncated_run_table_names_the_file(reference_copy, minimal_config):
    p = reference_copy / RUNS / "w16.parquet"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    out = run_pipeline(reference_copy, minimal_config, "figures/all", check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert f"{RUNS}/w16.parquet: not a readable parquet table" in text, text[-3000:]
    assert "delete it and rebuild it with" in text


def test_foreign_run_table_names_file_and_column(reference_copy, minimal_config):
    p = reference_copy / RUNS / "w16.parquet"
    df = pd.read_parquet(p).drop(columns=["test_loss"])
    df.to_parquet(p)
    out = run_pipeline(reference_copy, minimal_config, "figures/all", check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert (
        f"{RUNS}/w16.parquet: table 'optimization_ease.runs' is missing column(s) ['test_loss']"
    ) in text, text[-3000:]


def test_deleting_one_run_table_reruns_only_that_job(reference_copy, minimal_config):
    (reference_copy / RUNS / "w64.parquet").unlink()
    # Snakemake does not rebuild a deleted intermediate whose consumers are up to date (the
    # metrics table still holds its rows, so nothing stale is mixed in) ...
    out = run_pipeline(reference_copy, minimal_config, "-n", "figures/all")
    assert "Nothing to be done" in out.stdout + out.stderr
    # ... naming it as a target re-runs that one job and everything downstream of it
    plan = job_counts(
        run_pipeline(
            reference_copy, minimal_config, "-n", f"{RUNS}/w64.parquet", "figures/all"
        ).stdout
    )
    assert plan == {
        "aggregate": 1,
        "benchmarks": 1,
        "check": 1,
        "claims": 1,
        "figure": 1,
        "manifest": 1,
        "train": 1,
        "total": 7,
    }


def test_corrupted_table_deleted_is_regenerated(reference_copy, minimal_config):
    """The error's advice works: after deleting the bad table, `snakemake <table> figures/all`
    rebuilds it and the steps that read it, nothing else."""
    p = reference_copy / RUNS / "w16.parquet"
    p.write_bytes(p.read_bytes()[:100])
    out = run_pipeline(reference_copy, minimal_config, "figures/all", check=False)
    assert out.returncode != 0
    advice = f"delete it and rebuild it with `snakemake {RUNS}/w16.parquet figures/all`"
    assert advice in out.stdout + out.stderr
    p.unlink()
    plan = job_counts(
        run_pipeline(
            reference_copy, minimal_config, "-n", f"{RUNS}/w16.parquet", "figures/all"
        ).stdout
    )
    assert plan == {
        "aggregate": 1,
        "benchmarks": 1,
        "check": 1,
        "claims": 1,
        "figure": 1,
        "manifest": 1,
        "train": 1,
        "total": 7,
    }


# ----------------------------------------------------------------------------- params tracked

TEST_CFG = yaml.safe_load(TEST_CONFIG.read_text())
DOWNSTREAM = {"aggregate": 1, "check": 1, "figure": 1, "benchmarks": 1, "claims": 1, "manifest": 1}


def _dry_run_with(pipeline_run, tmp_path, key, value) -> tuple[dict[str, int], str]:
    """The plan (job counts) and the dry run's output after setting ``key`` to ``value`` in a
    copy of the .test config."""
    path = write_config(tmp_path / "changed.yaml", with_value(TEST_CFG, key, value))
    out = snakemake(pipeline_run, "-n", "figures/all", configfile=path).stdout
    return job_counts(out), out


def planned_jobs(out: str, rule: str) -> set[str]:
    """'<experiment>/<job>' of every job of rule ``rule`` (train or solve) a dry run plans,
    from the rules' messages."""
    return {f"{e}/{j}" for e, j in re.findall(rf"(?m)^Job \d+: (\w+): {rule} job (\S+)$", out)}


def jobs_of(exp: str, prefix: str) -> set[str]:
    """'<exp>/<job>' of the .test config's jobs of ``exp`` whose id starts with ``prefix``."""
    jobs = get(exp).jobs(validated(".test/config.yaml")[exp])
    return {f"{exp}/{j}" for j in jobs if j.startswith(prefix)}


# the .test config's optimization_ease sweep jobs (not the demo's): the ones that read its lr
SWEEP = jobs_of("optimization_ease", "w")


def test_changing_one_experiment_reruns_only_its_jobs(pipeline_run, tmp_path):
    plan, out = _dry_run_with(pipeline_run, tmp_path, "optimization_ease.lr", 0.02)
    # the optimization_ease training jobs only, and what reads them; the other experiments'
    # jobs and steps are kept
    assert plan == {**DOWNSTREAM, "train": len(SWEEP), "total": len(SWEEP) + 6}
    assert planned_jobs(out, "train") == SWEEP
    # the reason names the field that changed, in each re-run job (a bundle too)
    assert out.count("before: 'lr=0.01' now: 'lr=0.02'") == len(SWEEP)


def test_changing_a_threshold_rechecks_without_training(pipeline_run, tmp_path):
    thr = {"benign_slope": {"threshold": -0.3, "reason": "a test"}}
    plan, out = _dry_run_with(pipeline_run, tmp_path, "benign_overfitting.claim_thresholds", thr)
    # the figure draws from the same section (benign_overfitting's shows a threshold), so
    # it is redrawn; no train, solve or aggregate job (the job benchmarks table is collected
    # again: the check and figure jobs write new benchmark files)
    assert plan == {
        "check": 1,
        "claims": 1,
        "figure": 1,
        "benchmarks": 1,
        "manifest": 1,
        "total": 5,
    }
    # check and figure re-run because their params (the section) changed: before and now
    assert "Params have changed since last execution" in out
    assert "'claim_thresholds': {'benign_slope': {'reason': 'a test', 'threshold': -0.3}}" in out


def test_adding_a_width_plans_one_new_training_job(pipeline_run, tmp_path):
    """The real DAG: one more width of the double_descent MLP is one new `train` job (and the
    steps that read it); the panels that do not depend on it (linear, random_features) and
    the other widths are kept, the cached MNIST-1D is not regenerated."""
    widths = TEST_CFG["double_descent"]["mlp"]["widths"]
    new = 32
    assert new not in widths
    plan, out = _dry_run_with(pipeline_run, tmp_path, "double_descent.mlp.widths", [*widths, new])
    assert plan == {**DOWNSTREAM, "train": 1, "total": 7}
    assert planned_jobs(out, "train") == {f"double_descent/mlp_h{new}"}
    missing = (
        rf"(?m)^Reason: Missing output files: .*results/double_descent/runs/mlp_h{new}\.parquet"
    )
    assert re.search(missing, out), out


def test_changing_the_mlp_learning_rate_reruns_exactly_the_mlp_jobs(pipeline_run, tmp_path):
    mlp = TEST_CFG["double_descent"]["mlp"]
    lr = mlp["lr"]
    plan, out = _dry_run_with(pipeline_run, tmp_path, "double_descent.mlp.lr", 2 * lr)
    jobs = jobs_of("double_descent", "mlp")  # every width, some of them in a bundle
    # every MLP width trains again; linear and random_features (solve) do not re-run
    assert plan == {**DOWNSTREAM, "train": len(jobs), "total": len(jobs) + 6}
    assert "solve" not in plan
    assert planned_jobs(out, "train") == jobs
    assert out.count(f"before: 'lr={lr}' now: 'lr={2 * lr}'") == len(jobs)


def test_nested_override_on_the_command_line(pipeline_run):
    """`--config 'optimization_ease={lr: 0.02}'` changes one key of the section (the rest of
    it comes from the config file) and re-runs exactly the optimization_ease training jobs."""
    out = snakemake(
        pipeline_run, "-n", "figures/all", "--config", "optimization_ease={lr: 0.02}"
    ).stdout
    plan = job_counts(out)
    assert plan == {**DOWNSTREAM, "train": len(SWEEP), "total": len(SWEEP) + 6}
    assert planned_jobs(out, "train") == SWEEP
    assert out.count("before: 'lr=0.01' now: 'lr=0.02'") == len(SWEEP)


def test_reordered_config_is_a_noop(pipeline_run, tmp_path):
    cfg = yaml.safe_load(TEST_CONFIG.read_text())
    path = tmp_path / "same.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=True))  # same values, keys in another order
    assert list(yaml.safe_load(path.read_text())["optimization_ease"]) != list(
        cfg["optimization_ease"]
    )
    out = snakemake(pipeline_run, "-n", "figures/all", configfile=path)
    assert "Nothing to be done" in out.stdout + out.stderr
