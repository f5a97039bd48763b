import copy
from pathlib import Path

import pytest
import torch
import yaml

from overparam.config import ConfigError, validate

ROOT = Path(__file__).resolve().parents[1]


def load(name="config/config.yaml"):
    return yaml.safe_load((ROOT / name).read_text())


@pytest.mark.parametrize("name", ["config/config.yaml", "config/paper.yaml", ".test/config.yaml"])
def test_shipped_configs_are_valid(name):
    cfg = validate(load(name))
    assert cfg["benign_overfitting"]["families"]["spiked_bulk"]["signal_norm2"] == 1.0  # default


def test_defaults_are_filled():
    cfg = load()
    del cfg["threads"]
    del cfg["optimization_ease"]["momentum"]
    validate(cfg)
    assert cfg["threads"] == 2 and cfg["optimization_ease"]["momentum"] == 0.0


def bad(mutate):
    cfg = copy.deepcopy(load())
    mutate(cfg)
    with pytest.raises(ConfigError) as e:
        validate(cfg)
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


def test_claim_needs_threshold():
    msg = bad(lambda c: c["optimization_ease"]["claims"]["epochs_decrease"].pop("threshold"))
    assert "threshold" in msg
