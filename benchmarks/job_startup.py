"""What one job's start-up costs: a fresh interpreter and the imports a job makes before its
work, per kind of job, and Snakemake's own cost per job.

    python benchmarks/job_startup.py [--repeats 5] [--out results/benchmarks/job_startup.parquet]

Each kind below is a fresh ``python -c`` process, timed from its start to its exit (the
median over ``--repeats``, interleaved so a slow phase of the machine hits every kind; wall
``seconds`` and ``cpu_s``, its user + system seconds, the closer one on a busy machine):

- ``python``: the interpreter alone;
- ``pandas``, ``torch``: one import each (``torch`` is what a train job adds to a solve job);
- ``overparam``: ``overparam.steps`` (pandas, numpy, the library): what every step imports;
- ``solve_job``: that, an experiment's planning (``jobs(cfg)`` of ``config/config.yaml``, what
  ``run_job`` does first) and its run module, for ``--solve-experiment``;
- ``train_job``: the same for ``--train-experiment`` plus torch and the device check.

``snakemake_job`` runs a workflow of ``--snakemake-jobs`` no-op ``script:`` jobs and of one
such job (one core each, in a temporary folder): ``seconds`` is the extra wall time of the
workflow per job, what Snakemake adds to each job's own time (scheduling, the job's
bookkeeping, the interpreter and preamble of its script; ``cpu_s`` the same in CPU seconds);
``script_s``, the mean of the jobs' benchmark files, the part that a job's benchmark seconds
contain. A bundle of n specs
saves n - 1 of these start-ups (``train_job`` + ``snakemake_job`` for training jobs).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pandas as pd

from overparam.io import atomic_path

ROOT = Path(__file__).resolve().parents[1]

PLAN = """
import yaml
from overparam import experiments
from overparam.config import validate
from overparam.steps import run_job
cfg = validate(yaml.safe_load(open({config!r})), {schema!r})
e = experiments.get({exp!r})
e.jobs(cfg[{exp!r}])
e._sibling("run", "run")
"""

CODE = {
    "python": "pass",
    "pandas": "import pandas",
    "torch": "import torch",
    "overparam": "from overparam.steps import run_job",
    "solve_job": PLAN,
    "train_job": PLAN + "import torch\nfrom overparam.device import resolve_device\n"
    "resolve_device('auto')\n",
}

SNAKEFILE = """
rule all:
    input: expand("out/{{i}}.txt", i=range({n}))

rule noop:
    output: "out/{{i}}.txt"
    benchmark: "bench/{{i}}.tsv"
    script: "noop.py"
"""


def timed(cmd: list[str], **kw) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system of the process and its children) of ``cmd``.
    On a busy machine the CPU seconds are the closer to what it costs alone."""
    r0, t = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, **kw)
    wall, r1 = time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def snakemake_run(n: int) -> tuple[float, float, float]:
    """(wall and CPU seconds of a workflow of ``n`` no-op script jobs, their mean benchmark
    seconds)."""
    with tempfile.TemporaryDirectory() as d:
        wd = Path(d)
        (wd / "Snakefile").write_text(SNAKEFILE.format(n=n))
        (wd / "noop.py").write_text("open(snakemake.output[0], 'w').close()\n")
        cmd = [sys.executable, "-m", "snakemake", "-s", str(wd / "Snakefile"), "-d", str(wd),
               "--cores", "1", "--quiet"]  # fmt: skip
        wall, cpu = timed(cmd, cwd=wd)
        script = [float(pd.read_csv(p, sep="\t")["s"].iloc[-1]) for p in wd.glob("bench/*.tsv")]
    return wall, cpu, statistics.fmean(script)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="results/benchmarks/job_startup.parquet")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--kinds", nargs="+", default=list(CODE), choices=list(CODE))
    ap.add_argument("--train-experiment", default="width_vs_depth")
    ap.add_argument("--solve-experiment", default="benign_overfitting")
    ap.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    ap.add_argument("--snakemake-jobs", type=int, default=8, help="0: skip Snakemake")
    args = ap.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_WAIT_POLICY": "PASSIVE"}
    schema = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")
    exp = {"solve_job": args.solve_experiment, "train_job": args.train_experiment}
    code = {
        k: textwrap.dedent(CODE[k]).format(config=args.config, schema=schema, exp=exp.get(k))
        for k in args.kinds
    }
    rows = []
    for rep in range(args.repeats):
        for kind in args.kinds:
            wall, cpu = timed([sys.executable, "-c", code[kind]], env=env)
            rows.append({"kind": kind, "experiment": exp.get(kind, ""), "repeat": rep,
                         "seconds": wall, "cpu_s": cpu, "script_s": float("nan")})  # fmt: skip
        if args.snakemake_jobs > 1:
            many, many_cpu, script = snakemake_run(args.snakemake_jobs)
            one, one_cpu, _ = snakemake_run(1)
            n = args.snakemake_jobs - 1
            rows.append({"kind": "snakemake_job", "experiment": "", "repeat": rep,
                         "seconds": (many - one) / n, "cpu_s": (many_cpu - one_cpu) / n,
                         "script_s": script})  # fmt: skip
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    df["cpu_count"] = os.cpu_count()
    df["load_avg_1min"] = os.getloadavg()[0]
    with atomic_path(args.out) as tmp:
        df.to_parquet(tmp, index=False)
    summary = df.groupby("kind", sort=False)[["seconds", "cpu_s", "script_s"]].median()
    print(summary.to_string(float_format=lambda v: f"{v:.3g}"))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
