"""Bundles (experiments.base.Bundle): several specs of one experiment run as one job. Planning
(ids, order, params, inputs, errors), running (a bundle's table is its parts' tables as each
ran alone, torch's global random state included) and resuming an interrupted bundle (the
finished parts are read back, the rest run)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pandas as pd
import pytest
import torch

from overparam import experiments, resume, steps, tables
from overparam.data import MNIST1D
from overparam.experiments import Bundle, Experiment, JobSpec, RunContext

from .conftest import validated

TOY = "toy_bundles"
SCHEMA = tables.Schema(
    name="toy_bundles.runs",
    columns={"k": "int", "seed": "int", "draw": "float"},
    doc={"k": "the part", "seed": "its seed", "draw": "a draw of torch's global generator"},
)


@dataclass(frozen=True)
class _Part(JobSpec):
    trains: ClassVar[bool] = True
    k: int
    seeds: tuple[int, ...] = (0,)
    group: str | None = "g"

    @property
    def id(self) -> str:
        return f"k{self.k}"

    @property
    def bundle(self) -> str | None:
        return self.group


@dataclass(frozen=True)
class _Solve(JobSpec):
    k: int
    data: MNIST1D | None = None

    @property
    def id(self) -> str:
        return f"s{self.k}"

    @property
    def bundle(self) -> str:
        return "g"


class _Toy(Experiment):
    """Parts from cfg["parts"]: (k, bundle key); cfg["fail"]: the part k that raises once."""

    name = TOY
    sort_by = ()
    runs: ClassVar[list[int]] = []

    def specs(self, cfg):
        seeds = tuple(cfg.get("seeds", (0,)))
        return [_Part(k, seeds, group) for k, group in cfg["parts"]]

    @property
    def run_schema(self):
        return SCHEMA

    def run(self, job, ctx):
        self.runs.append(job.k)
        if job.k == self.__dict__.get("fail"):
            del self.fail  # once
            raise KeyboardInterrupt("interrupted")
        draws = torch.rand(2 * len(job.seeds)).tolist()  # the global generator, unseeded
        return pd.DataFrame(
            {
                "k": [job.k] * len(draws),
                "seed": [s for s in job.seeds for _ in range(2)],
                "draw": draws,
            }
        )


@pytest.fixture
def toy(monkeypatch):
    e = _Toy()
    e.runs = []
    monkeypatch.setitem(experiments._REGISTRY, TOY, e)
    return e


def _run(cfg, job_id, out, seed=7, **kw):
    torch.manual_seed(seed)
    return steps.run_job(TOY, cfg, job_id, out, device="cpu", log=lambda m: None, **kw)


# ----------------------------------------------------------------------------- planning


def test_jobs_group_specs_by_key_in_order(toy):
    cfg = {"parts": [(1, None), (2, "g"), (3, "h"), (4, "g"), (5, None)]}
    jobs = toy.jobs(cfg)
    assert list(jobs) == ["k1", "g", "h", "k5"]  # a bundle where its first part is
    assert [p.id for p in jobs["g"].parts] == ["k2", "k4"]
    assert jobs["g"].id == "g" and jobs["g"].trains and isinstance(jobs["h"], Bundle)
    assert list(toy.parts(cfg)) == ["k1", "k2", "k3", "k4", "k5"]
    assert jobs["g"].params() == {
        "parts": {"k2": _Part(2).params(), "k4": _Part(4, group="g").params()}
    }
    assert jobs == toy.jobs(cfg)  # specs are values: the same config plans the same jobs


def test_bundle_ids_may_not_be_job_ids(toy):
    with pytest.raises(ValueError, match=r"bundle id\(s\) \['k1'\] are also ids of jobs"):
        toy.jobs({"parts": [(1, None), (2, "k1")]})


def test_bundle_may_not_mix_train_and_solve_jobs():
    with pytest.raises(ValueError, match="mixes jobs that train and jobs that do not"):
        Bundle("g", (_Part(1), _Solve(2)))


def test_bundle_inputs_are_its_parts_datasets_and_must_agree():
    a, b = MNIST1D(1000, 0.8, 1), MNIST1D(1000, 0.8, 2)
    assert Bundle("g", (_Solve(1, a), _Solve(2, a), _Solve(3))).inputs() == {"data": a}
    with pytest.raises(ValueError, match="parts read different datasets as 'data'"):
        Bundle("g", (_Solve(1, a), _Solve(2, b)))


def test_shipped_bundles_plan_as_before():
    """Every experiment of the test config: its jobs' parts are its specs, in order, each
    once (bundling changes which process runs a spec, never which specs run)."""
    cfg = validated(".test/config.yaml")
    for name in experiments.names():
        if name not in cfg:
            continue
        e = experiments.get(name)
        jobs = e.jobs(cfg[name])
        flat = [p for j in jobs.values() for p in (j.parts if isinstance(j, Bundle) else (j,))]
        assert flat == list(e.specs(cfg[name])), name


# ----------------------------------------------------------------------------- running


def test_bundle_table_is_its_parts_tables_run_alone(toy, tmp_path):
    alone = {"parts": [(1, None), (2, None), (3, None)], "seeds": (4, 5)}
    together = {"parts": [(1, "g"), (2, "g"), (3, "g")], "seeds": (4, 5)}
    parts = [_run(alone, f"k{k}", tmp_path / f"k{k}.parquet") for k in (1, 2, 3)]
    bundle = _run(together, "g", tmp_path / "g.parquet")
    pd.testing.assert_frame_equal(bundle, pd.concat(parts, ignore_index=True))
    # each part saw torch's global generator as a job of its own does
    assert bundle.groupby("k")["draw"].apply(tuple).nunique() == 1
    back = tables.read_table(tmp_path / "g.parquet", SCHEMA)
    pd.testing.assert_frame_equal(back, bundle)
    prov = tables.read_provenance(tmp_path / "g.parquet")
    assert prov["job"] == "g" and prov["seeds"] == [4, 5]
    assert list(prov["parts"]) == ["k1", "k2", "k3"]
    assert all(p["rows"] == 4 and p["wall_s"] >= 0 for p in prov["parts"].values())


def test_shipped_bundle_equals_its_parts(tmp_path):
    """A real bundle (lazy_training's narrow widths, test config): its table through
    run_job equals its parts run one by one."""
    cfg = validated(".test/config.yaml")["lazy_training"]
    e = experiments.get("lazy_training")
    (job_id, bundle), *_ = [(k, j) for k, j in e.jobs(cfg).items() if isinstance(j, Bundle)]
    df = steps.run_job("lazy_training", cfg, job_id, tmp_path / "b.parquet", device="cpu",
                       log=lambda m: None)  # fmt: skip
    ctx = RunContext(device="cpu", threads=1, log=lambda m: None)
    alone = pd.concat([e.run(p, ctx) for p in bundle.parts], ignore_index=True)
    assert len(bundle.parts) > 1
    pd.testing.assert_frame_equal(df, alone)


# ----------------------------------------------------------------------------- resuming


def test_interrupted_bundle_resumes_from_its_finished_parts(toy, tmp_path):
    cfg = {"parts": [(1, "g"), (2, "g"), (3, "g")]}
    full = _run(cfg, "g", tmp_path / "full.parquet", checkpoint_every_s=1e-9)
    out = tmp_path / "g.parquet"
    toy.runs.clear()
    toy.fail = 3
    with pytest.raises(KeyboardInterrupt):
        _run(cfg, "g", out, checkpoint_every_s=1e-9)
    assert sorted(p.name.split("-")[1] for p in out.with_suffix(".ckpt").glob("part-*")) == [
        "k1",
        "k2",
    ]
    again = _run(cfg, "g", out, checkpoint_every_s=1e-9)
    assert toy.runs == [1, 2, 3, 3]  # k1 and k2 read back, k3 run again
    pd.testing.assert_frame_equal(again, full)
    assert not out.with_suffix(".ckpt").exists()  # removed once the table is written


def test_store_of_a_changed_bundle_is_not_resumed(toy, tmp_path):
    out = tmp_path / "g.parquet"
    toy.fail = 2
    with pytest.raises(KeyboardInterrupt):
        _run({"parts": [(1, "g"), (2, "g")]}, "g", out, checkpoint_every_s=1e-9)
    toy.runs.clear()
    _run({"parts": [(1, "g"), (2, "g")], "seeds": (9,)}, "g", out, checkpoint_every_s=1e-9)
    assert toy.runs == [1, 2]  # another config: its parts all run


def test_without_checkpoints_a_bundle_keeps_nothing(toy, tmp_path):
    out = tmp_path / "g.parquet"
    toy.fail = 2
    with pytest.raises(KeyboardInterrupt):
        _run({"parts": [(1, "g"), (2, "g")]}, "g", out, checkpoint_every_s=0.0)
    assert not out.with_suffix(".ckpt").exists()
    assert resume.load_table(None, "k1") is None


def test_rule_params_name_each_field_once(toy):
    """What Snakemake tracks of a bundle: its parts' ids and each field, one value where the
    parts agree (a changed lr reads lr=a -> lr=b), else the value of each part."""
    bundle = toy.jobs({"parts": [(1, "g"), (2, "g")], "seeds": (3,)})["g"]
    assert bundle.rule_params() == {
        "parts": ["k1", "k2"],
        "k": {"k1": 1, "k2": 2},
        "seeds": [3],
        "group": "g",
    }
    assert _Part(1).rule_params() == _Part(1).params()  # a spec alone: its params


def test_bundles_off_plans_every_spec_alone(toy):
    cfg = {"parts": [(1, "g"), (2, "g"), (3, None)]}
    assert toy.jobs(cfg, bundles=False) == toy.parts(cfg)
    assert list(toy.jobs(cfg)) == ["g", "k3"]
