"""The experiment contract: registry, job specs, and what planning imports."""

import subprocess
import sys
from dataclasses import dataclass

import pytest

from overparam import experiments
from overparam.experiments import Experiment, JobSpec

from ..conftest import ROOT

BUILT_IN = {
    "benign_overfitting",
    "optimization_ease",
    "double_descent",
    "lottery_ticket",
    "mode_connectivity",
    "lazy_training",
    "implicit_bias",
    "random_labels",
    "width_vs_depth",
    "flat_minima",
}


def test_every_folder_is_a_registered_experiment():
    assert BUILT_IN <= set(experiments.names())
    for name in experiments.names():
        e = experiments.get(name)
        assert isinstance(e, Experiment) and e.name == name
        frag = e.schema_fragment()
        assert frag["type"] == "object" and frag["additionalProperties"] is False


def test_unknown_experiment_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown experiment 'nope'; known: "):
        experiments.get("nope")


def test_register_needs_the_folder_name():
    class Elsewhere(Experiment):
        name = "not_a_folder"

    with pytest.raises(TypeError, match="must set `name` to its folder's name"):
        experiments.register(Elsewhere)


@dataclass(frozen=True)
class _Job(JobSpec):
    k: int
    seeds: tuple[int, ...] = (0, 1)

    @property
    def id(self):
        return f"k{self.k % 2}"


class _Twins(Experiment):
    name = "twins"

    def specs(self, cfg):
        return [_Job(1), _Job(3)]

    run_schema = run = check = plot = None  # type: ignore[assignment]


def test_job_ids_must_be_unique():
    with pytest.raises(ValueError, match="two jobs share the id 'k1'"):
        _Twins().jobs({})


def test_spec_params_are_plain_data():
    assert _Job(2).params() == {"k": 2, "seeds": [0, 1]}
    assert _Job(2).inputs() == {} and not _Job(2).trains


def test_planning_imports_neither_torch_nor_matplotlib():
    """What the Snakemake head process does: validate the config and list every job."""
    code = f"""
import sys, yaml
sys.path.insert(0, {str(ROOT / "src")!r})
from overparam import config, experiments
cfg = yaml.safe_load(open({str(ROOT / "config" / "config.yaml")!r}))
config.validate(cfg, {str(ROOT / "workflow" / "schemas" / "config.schema.yaml")!r})
jobs = {{n: experiments.get(n).jobs(cfg[n]) for n in experiments.names() if n in cfg}}
assert sum(map(len, jobs.values())) > 10
print(sorted(m for m in ("torch", "matplotlib", "seaborn") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_seed_summary_counts_the_specs_seeds():
    import yaml

    from overparam import config

    from ..conftest import BASE_SCHEMA, TEST_CONFIG

    cfg = yaml.safe_load(TEST_CONFIG.read_text())
    config.validate(cfg, BASE_SCHEMA)
    bo = cfg["benign_overfitting"]
    assert experiments.get("benign_overfitting").seed_summary(bo) == f"{len(bo['seeds'])} seeds"
    lt = cfg["lottery_ticket"]
    assert experiments.get("lottery_ticket").seed_summary(lt) == f"{len(lt['seeds'])} seeds"
    dd = dict(cfg["double_descent"], seeds=[0, 1, 2, 3])
    dd["linear"] = dict(dd["linear"], num_seeds=7)
    dd["random_features"] = dict(dd["random_features"], num_seeds=5)
    dd["random_fourier"] = dict(dd["random_fourier"], num_seeds=6)
    assert (
        experiments.get("double_descent").seed_summary(dd) == "4 to 7 seeds, depending on the panel"
    )
