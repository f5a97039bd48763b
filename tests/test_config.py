import copy
from pathlib import Path

import pytest
import torch
import yaml

from overparam import experiments
from overparam.config import ConfigError, validate

from .conftest import BASE_SCHEMA, SHIPPED, shipped_config

ROOT = Path(__file__).resolve().parents[1]


def load(name="config/config.yaml"):
    return shipped_config(name) if name in SHIPPED else yaml.safe_load((ROOT / name).read_text())


@pytest.mark.parametrize("name", ["config/config.yaml", "config/paper.yaml", ".test/config.yaml"])
def test_shipped_configs_are_valid(name):
    cfg = validate(load(name), BASE_SCHEMA)
    assert cfg["benign_overfitting"]["families"]["spiked_bulk"]["signal_norm2"] == 1.0  # default


def test_defaults_are_filled():
    cfg = load()
    del cfg["threads"]
    del cfg["optimization_ease"]["momentum"]
    validate(cfg, BASE_SCHEMA)
    assert cfg["threads"] == 2 and cfg["optimization_ease"]["momentum"] == 0.0


def bad(mutate):
    cfg = copy.deepcopy(load())
    mutate(cfg)
    with pytest.raises(ConfigError) as e:
        validate(cfg, BASE_SCHEMA)
    return str(e.value)


def test_unknown_key_named_with_allowed_keys():
    msg = bad(lambda c: c["optimization_ease"].__setitem__("widht", [1]))
    assert "optimization_ease" in msg and "widht" in msg and "widths" in msg


def test_unknown_top_level_key():
    assert "'bogus'" in bad(lambda c: c.__setitem__("bogus", 1))


def test_wrong_type_named():
    msg = bad(lambda c: c["optimization_ease"].__setitem__("lr", "fast"))
    assert "optimization_ease.lr" in msg and "number" in msg


def test_negative_size_named():
    msg = bad(lambda c: c["optimization_ease"].__setitem__("n", -5))
    assert "optimization_ease.n" in msg and "-5" in msg


def test_empty_width_list_named():
    msg = bad(lambda c: c["optimization_ease"].__setitem__("widths", []))
    assert "optimization_ease.widths" in msg and "at least 2" in msg


def test_bad_enum_lists_allowed_values():
    msg = bad(lambda c: c.__setitem__("device", "tpu"))
    assert "device" in msg and "auto" in msg and "cuda" in msg


@pytest.mark.skipif(torch.cuda.is_available(), reason="machine has CUDA")
def test_cuda_without_gpu_is_a_clear_error():
    msg = bad(lambda c: c.__setitem__("device", "cuda"))
    assert "device" in msg and "no CUDA device" in msg


def test_semantic_checks():
    assert "demo.p" in bad(lambda c: c["benign_overfitting"]["demo"].__setitem__("p", 50))
    msg = bad(lambda c: c["optimization_ease"].__setitem__("batch_size", 1000))
    assert "batch_size" in msg


def test_a_scale_threshold_names_a_defined_claim_and_its_reason():
    ok = load()
    ok["optimization_ease"]["claim_thresholds"] = {
        "epochs_decrease": {"threshold": 1, "reason": "ties are likely at this scale"}
    }
    validate(ok, BASE_SCHEMA)
    typo = bad(lambda c: c["optimization_ease"].__setitem__(
        "claim_thresholds", {"epochs_decrase": {"threshold": 1, "reason": "r"}}))  # fmt: skip
    assert "optimization_ease.claim_thresholds" in typo and "epochs_decrase" in typo
    unexplained = bad(lambda c: c["optimization_ease"].__setitem__(
        "claim_thresholds", {"epochs_decrease": {"threshold": 1}}))  # fmt: skip
    assert "reason" in unexplained


def test_paper_config_is_an_overlay_of_the_quick_one():
    """config/paper.yaml holds only what differs from config/config.yaml; merged over it (as
    `--configfile` does) it gives the paper settings of before it became an overlay
    (tests/fixtures), except the intended differences listed here."""
    overlay = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    quick = load("config/config.yaml")
    merged = validate(shipped_config("config/paper.yaml"), BASE_SCHEMA)
    before = validate(yaml.safe_load((ROOT / "tests/fixtures/paper_full_2026-12-01.yaml").read_text()), BASE_SCHEMA)  # fmt: skip
    # intended: the experiments whose quick section sets threads: 1 say threads: 4 (the
    # paper scale's global value, which they used before) explicitly
    intended = {"lazy_training.threads", "random_labels.threads", "flat_minima.threads"}
    for key in intended:
        exp, k = key.split(".")
        assert merged[exp][k] == before["threads"] == 4
        del merged[exp][k]
    assert merged == before

    # nothing in the overlay repeats the quick scale
    def repeats(o, q, path=""):
        for k, v in o.items():
            if isinstance(v, dict) and isinstance(q.get(k), dict):
                yield from repeats(v, q[k], f"{path}{k}.")
            elif k in q and q[k] == v:
                yield path + k

    assert list(repeats(overlay, quick)) == []


def _claim_keys_outside_definitions(node, where=""):
    """Every key path of a config that states a claim (a claims section, a statement, a
    threshold outside claim_thresholds)."""
    if isinstance(node, dict):
        for k, v in node.items():
            path = f"{where}{k}"
            if k in ("claims", "statement", "comparison", "source", "tier"):
                yield path
            elif k == "threshold" and where.split(".")[-3:-2] != ["claim_thresholds"]:
                yield path
            yield from _claim_keys_outside_definitions(v, f"{path}.")


@pytest.mark.parametrize("path", ["config/config.yaml", "config/paper.yaml", ".test/config.yaml"])
def test_configs_define_no_claims(path):
    """Claims live in the experiments' claims.yaml: no config has a claims section, a claim's
    statement or a threshold outside a declared claim_thresholds entry."""
    text = (ROOT / path).read_text()
    assert list(_claim_keys_outside_definitions(yaml.safe_load(text))) == []
    for name in experiments.names():
        for key, d in experiments.get(name).definitions().items():
            assert d.statement not in text, f"{path} repeats the statement of {name}.{key}"


def test_the_claims_check_of_configs_can_fail():
    cfg = {"a": {"claims": {}}, "b": {"x": {"threshold": 1}},
           "c": {"claim_thresholds": {"k": {"threshold": 1, "reason": "r"}}}}  # fmt: skip
    assert list(_claim_keys_outside_definitions(cfg)) == ["a.claims", "b.x.threshold"]


def test_scale_is_one_of_the_named_scales():
    msg = bad(lambda c: c.__setitem__("scale", "huge"))
    assert "config key 'scale': 'huge' is not one of the allowed values" in msg
    assert "'custom'" in msg


def test_command_line_strings_are_read_as_yaml_where_the_schema_wants_numbers():
    """`snakemake --config 'optimization_ease={lr: 0.02, widths: [8, 16]}'` passes the nested
    values as strings."""
    cfg = load()
    cfg["optimization_ease"].update(lr="0.02", widths=["8", "16"], epochs="30")
    cfg["double_descent"]["linear"]["gamma_max"] = "5"
    validate(cfg, BASE_SCHEMA)
    oe = cfg["optimization_ease"]
    assert oe["lr"] == 0.02 and oe["widths"] == [8, 16] and oe["epochs"] == 30
    assert cfg["double_descent"]["linear"]["gamma_max"] == 5
    assert cfg["scale"] == "quick"  # strings the schema wants stay strings


def test_command_line_string_that_is_no_number_still_names_the_key():
    msg = bad(lambda c: c["optimization_ease"].__setitem__("lr", "0.0.2"))
    assert "config key 'optimization_ease.lr': '0.0.2' should be of type number" in msg


def test_each_experiment_adds_its_own_problems():
    msg = bad(lambda c: c["lottery_ticket"].__setitem__("val_size", 10**6))
    assert "config key 'lottery_ticket.val_size'" in msg
    msg = bad(lambda c: c["double_descent"]["linear"].__setitem__("gamma_max", 0.9))
    assert "config key 'double_descent.linear'" in msg


# ------------------------------------------------------------------- scheduler resources


def test_job_resources_have_global_defaults():
    cfg = load()
    for key in ("mem_mb", "runtime"):
        cfg.pop(key, None)
    validate(cfg, BASE_SCHEMA)
    assert cfg["mem_mb"] == 2000 and cfg["runtime"] == 60
    assert "mem_mb" not in cfg["benign_overfitting"]  # an experiment falls back to the global


def test_every_experiment_takes_job_resources():
    """threads, mem_mb and runtime are accepted in every experiment's section, also where its
    own schema.yaml does not list them (benign_overfitting, optimization_ease)."""
    cfg = load()
    for name in ("benign_overfitting", "optimization_ease", "lazy_training"):
        cfg[name].update(threads=3, mem_mb=500, runtime=5)
    validate(cfg, BASE_SCHEMA)
    assert cfg["benign_overfitting"]["mem_mb"] == 500


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("mem_mb", 0, "'benign_overfitting.mem_mb': 0 is out of range (must be >= 1)"),
        ("runtime", 1.5, "'benign_overfitting.runtime': 1.5 should be of type integer"),
        ("threads", 0, "'benign_overfitting.threads': 0 is out of range (must be >= 1)"),
    ],
)
def test_bad_job_resources_named(key, value, message):
    assert message in bad(lambda c: c["benign_overfitting"].__setitem__(key, value))


def test_bad_global_runtime_named():
    assert "'runtime': -1 is out of range" in bad(lambda c: c.__setitem__("runtime", -1))
