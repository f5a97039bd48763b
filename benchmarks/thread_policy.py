"""Training jobs side by side: OpenMP wait policy and thread counts under contention.

    python benchmarks/thread_policy.py [--out results/benchmarks/thread_policy.parquet]

Runs the same small training job (K = 8 MLPs 40-64-64-10 on MNIST-1D, SGD with momentum,
as ``train_throughput.py``) as separate processes, alone and ``--jobs`` at a time, for each
combination of torch threads per job and ``OMP_WAIT_POLICY`` (unset = the OpenMP runtime's
default, which spins idle workers for a while before sleeping; ``passive`` sleeps at once).
The policy must be in the environment before torch starts, hence one process per job.
Records each job's seconds of optimizer steps; ``slowdown`` divides the mean seconds of a
setting by the mean seconds of the same job alone with one thread and the default policy
(measured in the same run). On a machine shared with other work, compare rows of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import pandas as pd

from overparam.io import atomic_path

JOB = """
import json, sys, time, torch
from overparam.data import mnist1d
from overparam.models import MLPSpec, init_mlp_ensemble
from overparam.train import TrainConfig, train_ensemble
threads, epochs = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
data = mnist1d(num_samples=5000, train_split=0.8, seed=0)
spec = MLPSpec(40, (64, 64), 10)
seeds = list(range(8))
cfg = TrainConfig(epochs=epochs, batch_size=128, lr=0.05, momentum=0.9, eval_every=epochs)
r = train_ensemble(spec, init_mlp_ensemble(spec, seeds), data, cfg, seeds)
print(json.dumps({"train_s": r.train_s, "wall_s": r.wall_s}))
"""


def run_batch(jobs: int, threads: int, policy: str | None, epochs: int) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    t = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", JOB, str(threads), str(epochs)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(jobs)
    ]
    outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    span = time.perf_counter() - t
    return [dict(jobs=jobs, threads=threads, policy=policy or "default", batch_wall_s=span, **o)
            for o in outs]  # fmt: skip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="results/benchmarks/thread_policy.parquet")
    ap.add_argument("--jobs", type=int, default=2, help="jobs side by side")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    rows = []
    for rep in range(args.repeats):  # interleaved, so slow phases of the machine hit all
        for threads in args.threads:
            for policy in (None, "passive"):
                for jobs in (1, args.jobs):
                    for r in run_batch(jobs, threads, policy, args.epochs):
                        rows.append({**r, "repeat": rep})
                        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    df["cpu_count"] = os.cpu_count()
    df["load_avg_1min"] = os.getloadavg()[0]
    summary = df.groupby(["threads", "policy", "jobs"], as_index=False)["train_s"].mean()
    ref = summary.query("threads == 1 and policy == 'default' and jobs == 1")["train_s"].iloc[0]
    summary["slowdown"] = summary["train_s"] / ref
    with atomic_path(args.out) as tmp:
        df.to_parquet(tmp, index=False)
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
