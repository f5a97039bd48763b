"""overparam.timing: the ledger that splits a job's time into optimizer steps and evaluation."""

import math

import numpy as np
import pytest
import torch

from overparam import timing
from overparam.models import MLPSpec, init_mlp_ensemble
from overparam.train import TrainConfig, evaluate, train_ensemble


def test_ledger_charges_every_open_block_and_only_while_open():
    timing.charge("train", 5.0)  # no ledger open: goes nowhere
    with timing.ledger() as outer:
        timing.charge("train", 1.0)
        with timing.ledger() as inner:
            assert timing.recording()
            timing.charge("eval", 0.25)
        timing.charge("eval", 0.5)
    assert not timing.recording()
    assert (outer.train_s, outer.eval_s, outer.train_calls, outer.eval_calls) == (1.0, 0.75, 1, 2)
    assert (inner.train_s, inner.eval_s, inner.train_calls, inner.eval_calls) == (0.0, 0.25, 0, 1)
    assert outer.eval_share == pytest.approx(0.75 / 1.75)
    assert math.isnan(timing.Ledger().eval_share)
    with pytest.raises(ValueError, match="kind must be 'train' or 'eval'"):
        timing.charge("steps", 1.0)


def test_train_ensemble_and_evaluate_charge_the_ledger():
    """Seconds of optimizer steps equal TrainResult.train_s; every evaluate call (the trainer's
    per-epoch passes and the caller's own) is counted as evaluation, and the trainer's
    evaluation time is also in TrainResult.eval_s."""
    spec = MLPSpec(in_dim=5, hidden=(8,), out_dim=3)
    g = np.random.default_rng(0)
    x, y = g.normal(size=(64, 5)).astype(np.float32), g.integers(0, 3, 64)
    params = init_mlp_ensemble(spec, [0, 1])
    cfg = TrainConfig(epochs=3, batch_size=16, lr=0.1)
    with timing.ledger() as spent:
        res = train_ensemble(spec, params, {"x": x, "y": y, "x_test": x, "y_test": y}, cfg, [0, 1])
        assert spent.eval_calls == 2 * 4  # train and test set at epochs 0..3
        evaluate(spec, res.params, torch.as_tensor(x), torch.as_tensor(y), "ce", None)
    assert spent.train_calls == 1 and spent.train_s == res.train_s > 0
    assert spent.eval_calls == 9 and 0 < spent.eval_s
    assert 0 < res.eval_s and res.eval_s + res.train_s <= res.wall_s
    # GEMM FLOPs: 2 members x 64 samples x 3 epochs, each (5*8 + 8*3) MACs: forward and weight
    # gradients 2 FLOPs per MAC each, input gradients of the second layer only
    per_sample = 4 * (5 * 8 + 8 * 3) + 2 * (8 * 3)
    assert spec.gemm_flops_per_sample == per_sample
    assert res.flops == 2 * 64 * 3 * per_sample == spent.train_flops


def test_only_optimizer_steps_are_charged_flops():
    with timing.ledger() as spent:
        timing.charge("train", 1.0, flops=10.0)
        timing.charge("train", 1.0, flops=5.0)
        with pytest.raises(ValueError, match="only optimizer steps"):
            timing.charge("eval", 1.0, flops=1.0)
    assert spent.train_flops == 15.0 and spent.eval_calls == 0
