"""The pipeline steps as functions (no Snakemake): device resolution, provenance, benchmarks."""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import torch

from overparam import resume, steps, tables
from overparam.experiments import Experiment, JobSpec


@dataclass(frozen=True)
class _Net(JobSpec):
    trains: ClassVar[bool] = True
    width: int

    @property
    def id(self):
        return f"net{self.width}"


@dataclass(frozen=True)
class _Solve(JobSpec):
    seeds: tuple[int, ...]

    @property
    def id(self):
        return "solve"


class _Stub(Experiment):
    name = "stub"
    run_schema = tables.Schema(name="stub", columns={"x": "float"})
    seen: dict = {}

    def specs(self, cfg):
        return [_Net(8), _Solve((3, 4))]

    def run(self, job, ctx):
        self.seen[job.id] = (job, ctx.device, ctx.threads)
        self.seen[f"store_{job.id}"] = resume.current()  # the job's checkpoint store
        return pd.DataFrame({"x": [1.0]})

    check = plot = None  # type: ignore[assignment]


@pytest.fixture
def stub(monkeypatch):
    e = _Stub()
    monkeypatch.setitem(steps.experiments._REGISTRY, "stub", e)
    return e


def test_run_job_passes_the_spec_and_resolves_the_device_only_for_training(tmp_path, stub):
    for job in ("net8", "solve"):
        steps.run_job(
            "stub",
            {},
            job,
            tmp_path / f"{job}.parquet",
            device="auto",
            threads=2,
            log=lambda m: None,
        )
    expect = "cuda" if torch.cuda.is_available() else "cpu"
    assert stub.seen["net8"] == (_Net(8), expect, 2)
    assert stub.seen["solve"][:2] == (_Solve((3, 4)), "cpu")
    net = tables.read_provenance(tmp_path / "net8.parquet")
    assert net["device"] == expect and net["config"] == {"width": 8}
    solve = tables.read_provenance(tmp_path / "solve.parquet")
    assert solve["device"] == "cpu" and solve["seeds"] == [3, 4]
    assert solve["library"].endswith("overparam") and solve["job"] == "solve"


def test_train_jobs_get_a_checkpoint_store_removed_with_the_table(tmp_path, stub):
    for job in ("net8", "solve"):
        out = tmp_path / f"{job}.parquet"
        steps.run_job("stub", {}, job, out, checkpoint_every_s=60.0, log=lambda m: None)
        assert out.exists() and not out.with_suffix(".ckpt").exists()
    store = stub.seen["store_net8"]
    assert store is not None and store.root == tmp_path / "net8.ckpt" and store.every_s == 60.0
    assert stub.seen["store_solve"] is None  # closed forms do not checkpoint
    steps.run_job("stub", {}, "net8", tmp_path / "n.parquet", log=lambda m: None)
    assert stub.seen["store_net8"] is None  # checkpoint_every_s 0: off


def test_unknown_job_names_the_jobs(tmp_path, stub):
    with pytest.raises(KeyError, match=r"stub has no job 'net9'; its jobs: \['net8', 'solve'\]"):
        steps.run_job("stub", {}, "net9", tmp_path / "x.parquet", log=lambda m: None)


def test_collect_benchmarks(tmp_path):
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    a.write_text(header + "12.5\t0:00:12\t300.2\t1\t1\t1\t0\t0\t95.0\t11.9\n")
    b.write_text(header + "0.4\t0:00:00\t-\t-\t-\t-\t-\t-\t-\t-\n")
    df = steps.collect_benchmarks(
        [a, b],
        [("train", "e", "w8"), ("figure", "e", "")],
        tmp_path / "jobs.parquet",
        log=lambda m: None,
    )
    assert df["seconds"].tolist() == [12.5, 0.4]
    assert df.loc[0, "max_rss_mb"] == 300.2 and np.isnan(df.loc[1, "max_rss_mb"])
    back = tables.read_table(tmp_path / "jobs.parquet", steps.JOBS_SCHEMA)
    assert back["rule"].tolist() == ["train", "figure"]
    assert df[["train_s", "eval_s"]].isna().all().all()  # no run tables given
    with pytest.raises(ValueError, match="2 benchmark files but 1 labels"):
        steps.collect_benchmarks([a, b], [("x", "e", "")], tmp_path / "j.parquet")


def test_collect_benchmarks_reads_train_and_eval_seconds(tmp_path, stub):
    """A job's seconds of optimizer steps and of evaluation go from the run table's
    provenance (written by run_job) into the jobs table; jobs without them read NaN."""
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    for f in (a, b):
        f.write_text(header + "3.0\t0:00:03\t1\t1\t1\t1\t0\t0\t90\t2.9\n")
    run = tmp_path / "run.parquet"
    schema = tables.Schema(name="t", columns={"x": "float"})
    tables.write_table(pd.DataFrame({"x": [1.0]}), run, schema, {"train_s": 2.25, "eval_s": 0.5})
    df = steps.collect_benchmarks(
        [a, b], [("train", "e", "j"), ("figure", "e", "")], tmp_path / "jobs.parquet",
        log=lambda m: None, run_tables=[run, None],
    )  # fmt: skip
    assert df.loc[0, ["train_s", "eval_s"]].tolist() == [2.25, 0.5]
    assert df.loc[1, ["train_s", "eval_s"]].isna().all()
    assert df[["train_gflop", "peak_gflops", "frac_of_peak"]].isna().all().all()  # no FLOPs
    with pytest.raises(ValueError, match="2 benchmark files but 1 run tables"):
        steps.collect_benchmarks([a, b], [("x", "e", "")] * 2, tmp_path / "j.parquet",
                                 run_tables=[run])  # fmt: skip


def test_collect_benchmarks_fraction_of_peak(tmp_path):
    """A trained job's GEMM rate (train_flops / train_s) over the peak of its (device,
    threads), each peak asked for once; jobs that made no FLOPs have none."""
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    bench, runs = [], []
    schema = tables.Schema(name="t", columns={"x": "float"})
    provs = [
        {"train_s": 2.0, "train_flops": 8e10, "threads": 1, "device": "cpu"},  # 40 GFLOP/s
        {"train_s": 4.0, "train_flops": 8e10, "threads": 1, "device": "cpu"},  # 20
        {"train_s": 1.0, "train_flops": 9e10, "threads": 2, "device": "cpu"},  # 90
        {"train_s": None, "train_flops": None, "threads": 1, "device": "cpu"},  # solve job
    ]
    for i, prov in enumerate(provs):
        bench.append(tmp_path / f"{i}.tsv")
        bench[-1].write_text(header + "3.0\t0:00:03\t1\t1\t1\t1\t0\t0\t90\t2.9\n")
        runs.append(tmp_path / f"{i}.parquet")
        tables.write_table(pd.DataFrame({"x": [1.0]}), runs[-1], schema, prov)
    asked = []

    def peak(device, threads):
        asked.append((device, threads))
        return {1: 80.0, 2: 150.0}[threads]

    df = steps.collect_benchmarks(
        bench, [("train", "e", str(i)) for i in range(4)], tmp_path / "jobs.parquet",
        log=lambda m: None, run_tables=runs, peak=peak,
    )  # fmt: skip
    assert sorted(asked) == [("cpu", 1), ("cpu", 2)]
    assert df["gflops_per_s"].tolist()[:3] == [40.0, 20.0, 90.0]
    assert df["frac_of_peak"].tolist()[:3] == [0.5, 0.25, 0.6]
    assert df.loc[3, ["train_gflop", "gflops_per_s", "peak_gflops", "frac_of_peak"]].isna().all()
    back = tables.read_table(tmp_path / "jobs.parquet", steps.JOBS_SCHEMA)
    assert back["frac_of_peak"].tolist()[:3] == [0.5, 0.25, 0.6]
