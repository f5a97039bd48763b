"""The IMP engine (overparam.lottery): rounds, rewinding, controls, early stopping, retraining."""

import dataclasses

import numpy as np
import pytest
import torch

from overparam import lottery
from overparam.models import MLPSpec, init_mlp_ensemble
from overparam.prune import Mask, magnitude_prune
from overparam.train import TrainConfig

SPEC = MLPSpec(in_dim=8, hidden=(20, 16), out_dim=3)
TC = TrainConfig(
    epochs=4,
    batch_size=16,
    lr=0.01,
    optimizer="adam",
    loss="ce",
    eval_every=4,
    checkpoint_steps=(0, 10, 20, 32),
)  # 128 samples / 16 = 8 steps x 4 epochs


def toy(seed=0):
    """Three Gaussian clusters in 8-d: 128 training, 64 validation and 64 test samples."""
    g = np.random.default_rng(seed)
    centers = g.standard_normal((3, 8)) * 1.5
    out = {}
    for name, n in (("", 128), ("_val", 64), ("_test", 64)):
        y = g.integers(0, 3, n)
        out["x" + name] = (centers[y] + g.standard_normal((n, 8))).astype(np.float32)
        out["y" + name] = y.astype(np.int64)
    return out


DATA = toy()


@pytest.fixture(scope="module")
def rounds():
    sched = lottery.Schedule(rounds=2, rate_hidden=0.2, rate_output=0.1, rewind_step=5)
    return list(lottery.iterative_magnitude_pruning(SPEC, DATA, TC, [0, 1], sched))


def test_control_seeds():
    assert lottery.control_seeds(lottery.REINIT_SEED_OFFSET, 3, [0, 7]) == [1_003_000, 1_003_007]
    assert lottery.control_seeds(lottery.RANDOM_MASK_OFFSET, 1, [2]) == [2_001_002]


def test_with_checkpoint_adds_a_step_once():
    assert lottery.with_checkpoint(TC, 5).checkpoint_steps == (0, 5, 10, 20, 32)
    assert lottery.with_checkpoint(TC, 10).checkpoint_steps == (0, 10, 20, 32)


def test_train_round_stops_at_the_minimum_validation_loss():
    init = init_mlp_ensemble(SPEC, [0, 1])
    mask = Mask.full(SPEC, 2)
    stats, res = lottery.train_round(SPEC, init, mask, DATA, TC, [0, 1], "cpu")
    assert res.steps == 32 and sorted(res.checkpoints) == [0, 10, 20, 32]
    assert set(stats["stop_step"]) <= {0, 10, 20, 32} and (stats["total_steps"] == 32).all()
    assert (stats["max_test_acc"] >= stats["test_acc_at_stop"]).all()
    assert (stats["test_acc_at_stop"] > 0.5).all() and not stats["diverged"].any()
    # the stop step's validation loss is the smallest over the checkpoints
    from overparam.train import evaluate

    xv, yv = torch.as_tensor(DATA["x_val"]), torch.as_tensor(DATA["y_val"])
    losses = np.stack(
        [evaluate(SPEC, res.checkpoints[s], xv, yv, "ce")[0].numpy() for s in (0, 10, 20, 32)]
    )
    np.testing.assert_allclose(stats["val_loss_at_stop"], losses.min(0), rtol=1e-6)
    assert stats["stop_step"].tolist() == [[0, 10, 20, 32][i] for i in losses.argmin(0)]


def test_rounds_members_and_seeds(rounds):
    assert [r.round for r in rounds] == [0, 1, 2]
    assert rounds[0].variant == ["dense"] * 2 and rounds[0].init_seed == [0, 1]
    r = rounds[2]
    assert r.variant == ["ticket"] * 2 + ["reinit"] * 2 + ["random"] * 2
    assert r.seed == [0, 1] * 3
    assert r.init_seed == [0, 1, 1_002_000, 1_002_001, 0, 1]
    assert r.mask.K == 6 and all(len(v) == 6 for v in r.stats.values())
    assert (r.stats["total_steps"] == 32).all() and r.wall_s > 0


def test_rounds_masks_follow_the_schedule_and_the_controls(rounds):
    dense = rounds[0].mask
    assert (dense.remaining()[0] == 1.0).all()
    for r in rounds[1:]:
        frac, per_layer = r.mask.remaining()
        np.testing.assert_allclose(per_layer[:, 0], 0.8**r.round, atol=1 / 160)
        np.testing.assert_allclose(per_layer[:, 2], 0.9**r.round, atol=1 / 48)
        ticket, reinit, random = (r.mask.select(range(i, i + 2)) for i in (0, 2, 4))
        assert all(torch.equal(a, b) for a, b in zip(ticket.weights, reinit.weights))
        np.testing.assert_array_equal(random.kept(), ticket.kept())
        assert not all(torch.equal(a, b) for a, b in zip(ticket.weights, random.weights))
    t1, t2 = (rounds[j].mask.select([0, 1]) for j in (1, 2))
    assert all(not (b & ~a).any() for a, b in zip(t1.weights, t2.weights))  # nested


def test_random_control_mask_is_drawn_from_its_seeded_generators(rounds):
    from overparam.prune import randomly_prune

    ticket = rounds[1].mask.select([0, 1])
    gens = [
        torch.Generator().manual_seed(s)
        for s in lottery.control_seeds(lottery.RANDOM_MASK_OFFSET, 1, [0, 1])
    ]
    expect = randomly_prune(ticket, gens)
    got = rounds[1].mask.select([4, 5])
    assert all(torch.equal(a, b) for a, b in zip(expect.weights, got.weights))


def test_first_ticket_is_the_magnitude_mask_of_the_dense_run():
    sched = lottery.Schedule(rounds=1)
    r0, r1 = lottery.iterative_magnitude_pruning(SPEC, DATA, TC, [3], sched)
    res = lottery.train_round(
        SPEC, init_mlp_ensemble(SPEC, [3]), Mask.full(SPEC, 1), DATA, TC, [3], "cpu"
    )[1]
    expect = magnitude_prune(res.params, Mask.full(SPEC, 1), 1)
    assert all(torch.equal(a, b) for a, b in zip(expect.weights, r1.mask.select([0]).weights))
    assert r0.stats["val_loss_at_stop"][0] == pytest.approx(
        lottery.retrain(SPEC, DATA, TC, Mask.full(SPEC, 1), variant="dense", init_seed=3, seed=3)[
            "val_loss_at_stop"
        ],
        rel=1e-6,
    )


@pytest.mark.parametrize("round_,member", [(1, 0), (2, 1), (2, 3), (2, 5)])
def test_retrain_reproduces_a_member(rounds, round_, member):
    r = rounds[round_]
    again = lottery.retrain(
        SPEC,
        DATA,
        TC,
        r.mask.select([member]),
        variant=r.variant[member],
        init_seed=r.init_seed[member],
        seed=r.seed[member],
        rewind_step=5,
    )
    assert again["stop_step"] == r.stats["stop_step"][member]
    assert again["test_acc_at_stop"] == pytest.approx(r.stats["test_acc_at_stop"][member], abs=0.02)
    assert again["val_loss_at_stop"] == pytest.approx(r.stats["val_loss_at_stop"][member], rel=1e-4)


def test_rewinding_matters(rounds):
    r = rounds[2]
    at_init = lottery.retrain(
        SPEC, DATA, TC, r.mask.select([0]), variant="ticket", init_seed=0, seed=0, rewind_step=0
    )
    assert at_init["val_loss_at_stop"] != pytest.approx(r.stats["val_loss_at_stop"][0], rel=1e-4)


def test_rewind_step_beyond_the_run_is_an_error():
    with pytest.raises(ValueError, match="rewind step 33 is beyond the 32 steps"):
        next(
            lottery.iterative_magnitude_pruning(
                SPEC, DATA, TC, [0], lottery.Schedule(rounds=1, rewind_step=33)
            )
        )


def test_retrain_rejects_an_unknown_variant():
    with pytest.raises(ValueError, match="variant must be one of"):
        lottery.retrain(SPEC, DATA, TC, Mask.full(SPEC, 1), variant="winner", init_seed=0, seed=0)


def test_schedule_is_a_value():
    s = lottery.Schedule(rounds=3)
    assert dataclasses.replace(s, rewind_step=0) == s
    assert (s.rate_hidden, s.rate_output, s.pruning) == (0.2, 0.1, "layerwise")


def test_variants_agree_with_the_experiment():
    from overparam.experiments.lottery_ticket import VARIANTS

    assert VARIANTS == lottery.VARIANTS
