"""SLURM for real: a one-node cluster on this machine (tests/slurm/up.sh), the .test DAG run
through `--profile profiles/slurm`, and the scheduler's own records checked against the plan.

By default the DAG is the .test config's smallest experiment that has both a training job
(rule `train`) and a solving job (rule `solve`), chosen from the config, so every kind of
step goes through sbatch in about two minutes; the whole .test DAG (~45 jobs) takes several
times longer through the scheduler, since every job starts Snakemake twice (sbatch, then srun)
and status is polled. `OVERPARAM_SLURM_TARGETS="figures/all"` runs that instead.

Needs root and Debian's `slurm-wlm` and `munge` (.ci/run installs them); skipped otherwise,
saying how to enable it.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from overparam import experiments
from overparam.config import validate

from ..conftest import BASE_SCHEMA, ROOT, TEST_CONFIG, job_counts, snakemake

pytestmark = [pytest.mark.slurm, pytest.mark.e2e]

HERE = Path(__file__).resolve().parent
# the rules the workflow runs locally on a cluster (workflow/rules/claims.smk: localrules)
LOCAL_RULES = {"aggregate", "figure", "check", "benchmarks", "claims", "manifest", "strict"}
BINARIES = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol")
# the whole SLURM run must end within this many seconds, else the test fails (a hung
# scheduler or status check must not hang CI)
RUN_TIMEOUT = int(os.environ.get("OVERPARAM_SLURM_TIMEOUT", "600"))
HOW = (
    "as root: `apt-get install slurm-wlm munge` (.ci/run does it), then "
    "`python -m pytest tests/slurm`"
)


def _why_not() -> str | None:
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if missing:
        return f"SLURM binaries missing ({', '.join(missing)}); to run this test {HOW}"
    if os.geteuid() != 0:
        return f"the test cluster's slurmd must run as root; to run this test {HOW}"
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return 'snakemake-executor-plugin-slurm missing: pip install -e ".[slurm]"'
    return None


pytestmark.append(pytest.mark.skipif(_why_not() is not None, reason=str(_why_not())))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A running one-node cluster; yields the environment that reaches it. Stopped after the
    module (every job cancelled, then the daemons by their pid files)."""
    d = tmp_path_factory.mktemp("slurm")
    up = subprocess.run(
        ["bash", str(HERE / "up.sh"), str(d)], capture_output=True, text=True, timeout=120
    )
    if up.returncode == 3:  # the machine has a SLURM of its own
        subprocess.run(["bash", str(HERE / "down.sh"), str(d)], timeout=60)
        pytest.skip(up.stderr.strip())
    env = {**os.environ, "SLURM_CONF": str(d / "slurm.conf")}
    try:
        assert up.returncode == 0, f"up.sh failed:\n{up.stdout}\n{up.stderr}"
        yield env
    finally:
        ids = subprocess.run(
            ["squeue", "-h", "-o", "%i"], env=env, capture_output=True, text=True, timeout=30
        ).stdout.split()
        if ids:
            subprocess.run(["scancel", *ids], env=env, timeout=30)
        down = subprocess.run(
            ["bash", str(HERE / "down.sh"), str(d)], capture_output=True, text=True, timeout=60
        )
        assert down.returncode == 0, down.stderr


def default_targets() -> list[str]:
    """The figure and claims of the .test config's smallest experiment with both training and
    solving jobs (config order breaks ties), or OVERPARAM_SLURM_TARGETS."""
    if os.environ.get("OVERPARAM_SLURM_TARGETS"):
        return os.environ["OVERPARAM_SLURM_TARGETS"].split()
    cfg = validate(yaml.safe_load(TEST_CONFIG.read_text()), BASE_SCHEMA)
    sizes = {}
    for name in (e for e in cfg if e in experiments.names()):
        specs = experiments.get(name).jobs(cfg[name]).values()
        if {s.trains for s in specs} == {True, False}:
            sizes[name] = len(specs)
    assert sizes, "no experiment of .test/config.yaml has both train and solve jobs"
    exp = min(sizes, key=sizes.get)  # type: ignore[arg-type]
    return [f"figures/{exp}.png", f"results/{exp}/claims.parquet"]


def table_bytes(path: Path) -> bytes:
    """A parquet table's data without its metadata (provenance: wall time, host, commit); of
    the job benchmarks table only the job labels (the rest are measured times)."""
    t = pq.read_table(path)
    if path.name == "jobs.parquet" and path.parent.name == "benchmarks":
        t = t.select(["rule", "experiment", "job"])
    buf = io.BytesIO()
    pq.write_table(t.replace_schema_metadata(None), buf)
    return buf.getvalue()


def tables(wd: Path) -> dict[str, bytes]:
    return {str(p.relative_to(wd)): table_bytes(p) for p in sorted(wd.glob("results/**/*.parquet"))}


def job_resource(cfg, exp: str, key: str) -> int:
    return cfg[exp].get(key, cfg[key])


def time_limit(minutes: int) -> str:
    """A time limit as squeue prints it: [days-]hours:minutes:seconds, or minutes:seconds."""
    d, rest = divmod(minutes, 24 * 60)
    h, m = divmod(rest, 60)
    if d:
        return f"{d}-{h:02d}:{m:02d}:00"
    return f"{h}:{m:02d}:00" if h else f"{m}:00"


def scheduler_jobs(env, run_id: str) -> list[dict[str, str]]:
    """The jobs of one workflow run as slurmctld lists them (the plugin names every job of a
    run after its run id and puts the rule in the comment): id, state, comment, memory, time
    limit, cpus and the GPUs it asked for."""
    keys = ("id", "state", "comment", "mem", "timelimit", "cpus", "gpus")
    fields = "JobID,State,Comment,MinMemory,TimeLimit,NumCPUs,tres-per-job"
    out = subprocess.run(
        [
            "squeue",
            "--states=all",
            "--noheader",
            "--name",
            run_id,
            "-O",
            fields.replace(",", ":|,"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    rows = [line.split("|") for line in out.splitlines() if line.strip()]
    return [dict(zip(keys, (v.strip() for v in row))) for row in rows]


def test_dag_runs_through_slurm_and_matches_a_local_run(cluster, tmp_path):
    targets = default_targets()
    local, remote = tmp_path / "local", tmp_path / "slurm"
    snakemake(local, *targets)
    plan = job_counts(snakemake(remote, "-n", *targets).stdout)
    plan.pop("total")

    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(ROOT / "Snakefile"),
        "-d",
        str(remote),
        "--configfile",
        str(TEST_CONFIG),
        "--profile",
        str(ROOT / "profiles" / "slurm"),
        # the first status check after 2 s, not the profile's 20 (tiny jobs)
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--slurm-keep-successful-logs",
        *targets,
    ]
    try:
        out = subprocess.run(
            cmd, env=cluster, capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=remote.parent
        )
    except subprocess.TimeoutExpired as e:
        log = (e.stdout or b"")[-3000:] + (e.stderr or b"")[-5000:]
        pytest.fail(f"the SLURM run did not end within {RUN_TIMEOUT} s:\n{log!r}")
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-8000:]

    # the scheduler's records: one COMPLETED job per planned job of a submitted rule, per rule;
    # the small steps (localrules) ran in the Snakemake process, not as sbatch jobs
    run_id = re.search(r"SLURM run ID: (\S+)", text)
    assert run_id, text[-3000:]
    jobs = scheduler_jobs(cluster, run_id.group(1))
    assert {j["state"] for j in jobs} == {"COMPLETED"}, jobs
    rules = Counter(re.match(r"rule_(\w+?)(?:_wildcards_|$)", j["comment"]).group(1) for j in jobs)
    submitted = {r: n for r, n in plan.items() if r not in LOCAL_RULES}
    assert submitted and set(plan) & LOCAL_RULES, plan  # the target has both kinds
    assert dict(rules) == submitted, (dict(rules), plan)
    assert len(re.findall(r"has been submitted with SLURM jobid", text)) == sum(submitted.values())

    # training jobs asked for what the config gives them: threads, mem_mb and runtime of
    # their experiment, else the global ones
    cfg = validate(yaml.safe_load(TEST_CONFIG.read_text()), BASE_SCHEMA)
    asks = {
        (
            f"{job_resource(cfg, e, 'mem_mb')}M",
            time_limit(job_resource(cfg, e, "runtime")),
            str(job_resource(cfg, e, "threads")),
        )
        for e in cfg
        if e in experiments.names()
    }
    train = [j for j in jobs if j["comment"].startswith("rule_train_")]
    assert train, "no training job in the target"
    for j in train:
        assert (j["mem"], j["timelimit"], j["cpus"]) in asks, (j, asks)
    # the profile asks one GPU for each training job and none for the others (up.sh's node
    # has two GPUs in name only; the .test config trains on the CPU)
    assert {j["gpus"] for j in train} == {"gres:gpu:1"}, train
    assert {j["gpus"] for j in jobs if j not in train} == {"N/A"}, jobs

    # the same tables as the local run, byte for byte (data, not provenance metadata)
    a, b = tables(local), tables(remote)
    assert set(a) == set(b) and a, (sorted(a), sorted(b))
    for name in a:
        assert a[name] == b[name], f"{name}: the SLURM run's table differs from the local run's"


# A train job long enough to be interrupted: one width, 3000 epochs of 10 steps (~10 s)
REQUEUE_CONFIG = {
    "scale": "test",
    "device": "cpu",
    "threads": 1,
    "checkpoint_every_s": 1.0e-9,  # a checkpoint at every epoch end
    "bundles": False,  # w32 a job of its own
    "optimization_ease": {
        "n": 100, "d": 10, "widths": [16, 32], "seeds": [0, 1], "lr": 0.01, "batch_size": 10,
        "epochs": 3000, "eval_every": 100, "loss_threshold": 0.05, "loss_floor": 1.0e-8,
    },
}  # fmt: skip


def _squeue(env, *args) -> str:
    return subprocess.run(
        ["squeue", "-h", *args], env=env, capture_output=True, text=True, timeout=30, check=True
    ).stdout


def test_requeued_train_job_resumes_from_its_checkpoint(cluster, tmp_path):
    """SLURM requeues a running train job (`scontrol requeue`, what preemption does under
    the profile's `slurm-requeue`); the job's second start resumes from its checkpoint and the
    run's tables equal a local run's."""
    import time

    cfg = tmp_path / "requeue.yaml"
    cfg.write_text(yaml.safe_dump(REQUEUE_CONFIG, sort_keys=False))
    target = "results/optimization_ease/runs/w32.parquet"
    local, remote = tmp_path / "local", tmp_path / "slurm"
    snakemake(local, target, configfile=cfg)
    remote.mkdir()
    cmd = [
        sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(remote),
        "--configfile", str(cfg), "--profile", str(ROOT / "profiles" / "slurm"),
        "--slurm-init-seconds-before-status-checks", "2", "--slurm-keep-successful-logs", target,
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=cluster, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        store = remote / "results/optimization_ease/runs/w32.ckpt"
        t0 = time.monotonic()
        while not list(store.glob("state-*.pt")):
            assert proc.poll() is None, proc.stdout.read().decode()[-4000:]
            assert time.monotonic() - t0 < 180, "the train job saved no checkpoint in time"
            time.sleep(0.2)
        (job,) = [
            line.split()[0]
            for line in _squeue(cluster, "-o", "%i %T %k").splitlines()
            if "rule_train" in line and "RUNNING" in line
        ]
        subprocess.run(["scontrol", "requeue", job], env=cluster, check=True, timeout=30)
        # a requeued batch job is held back ~2 minutes before it may start again (SLURM's
        # requeue delay); let it start now
        for _ in range(50):
            if "PENDING" in _squeue(cluster, "-j", job, "-o", "%T"):
                break
            time.sleep(0.2)
        subprocess.run(["scontrol", "update", f"jobid={job}", "StartTime=now"], env=cluster,
                       check=True, timeout=30)  # fmt: skip
        out, _ = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = out.decode()
    assert proc.returncode == 0, text[-6000:]
    log = (remote / "logs/optimization_ease/run_w32.log").read_text()
    assert re.search(r"resume: training call \w+ continues from epoch \d+ ", log), log
    assert not store.exists()
    assert table_bytes(local / target) == table_bytes(remote / target)
