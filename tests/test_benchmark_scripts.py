"""The benchmark scripts run and write the table the README's numbers come from (tiny sizes:
this checks the measurement, not the machine)."""

import importlib.util
import math
from pathlib import Path

import pandas as pd
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_train_throughput_table(tmp_path):
    out = tmp_path / "tp.parquet"
    threads = torch.get_num_threads()
    try:
        rc = _load("train_throughput").main(
            ["--quick", "--widths", "8", "--k", "3", "--epochs", "1", "--threads", "1", "2",
             "--out", str(out)]
        )  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    assert rc == 0
    both = pd.read_parquet(out)
    assert sorted(both.groupby("threads").size().items()) == [(1, 4), (2, 4)]  # modes x threads
    df = both[both.threads == 1].set_index("mode")
    assert set(df.index) == {"batched", "func", "loop", "loop_nn"}
    assert (df["samples_per_s"] > 0).all() and (df["step_ms"] > 0).all()
    # a step's GEMM time at the measured peak is part of the step, the rest is overhead
    assert ((df["gemm_ms"] > 0) & (df["gemm_ms"] < df["step_ms"])).all()
    assert df["overhead_ms"].add(df["gemm_ms"]).sub(df["step_ms"]).abs().max() < 1e-9
    assert 0 < df.loc["batched", "eval_share"] < 1 and math.isnan(df.loc["loop", "eval_share"])
    nn = df.loc["loop_nn", "samples_per_s"]
    assert math.isclose(df.loc["batched", "speedup_vs_nn"], df.loc["batched", "samples_per_s"] / nn)


def test_job_startup_table(tmp_path):
    out = tmp_path / "startup.parquet"
    rc = _load("job_startup").main(
        ["--repeats", "1", "--kinds", "python", "overparam", "--snakemake-jobs", "2",
         "--out", str(out)]
    )  # fmt: skip
    assert rc == 0
    df = pd.read_parquet(out).set_index("kind")
    assert list(df.index) == ["python", "overparam", "snakemake_job"]
    assert (df["seconds"] > 0).all() and (df["cpu_s"] > 0).all()
    # the library's imports (pandas, numpy) cost more than the bare interpreter
    assert df.loc["overparam", "seconds"] > df.loc["python", "seconds"]
    assert df.loc["snakemake_job", "script_s"] > 0
