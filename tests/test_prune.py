"""Pruning masks (overparam.prune): the Mask class, magnitude pruning, the two controls."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from overparam import prune
from overparam.models import MLPSpec, init_mlp_ensemble, param_shapes, weight_indices
from overparam.prune import Mask, magnitude_prune, randomly_prune, randomly_reinitialize
from overparam.train import TrainConfig, train_ensemble

SPEC = MLPSpec(in_dim=8, hidden=(20, 16), out_dim=3)
SIZES = [20 * 8, 16 * 20, 3 * 16]


def toy(n=120, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(3, 8, generator=g) * 2
    y = torch.randint(0, 3, (n,), generator=g)
    return {"x": centers[y] + torch.randn(n, 8, generator=g), "y": y}


def equal(a: Mask, b: Mask) -> bool:
    return all((x is None and y is None) or torch.equal(x, y) for x, y in zip(a.layers, b.layers))


# ----------------------------------------------------------------------------- the Mask class


def test_full_mask_shape_and_reading():
    m = Mask.full(SPEC, 2)
    assert m.K == 2 and m.sizes == SIZES and len(m.layers) == len(param_shapes(SPEC))
    assert [i for i, t in enumerate(m.layers) if t is not None] == weight_indices(SPEC)
    assert all(t.dtype == torch.bool and t.all() for t in m.weights)
    np.testing.assert_array_equal(m.kept(), [SIZES, SIZES])
    frac, per_layer = m.remaining()
    assert frac.tolist() == [1.0, 1.0] and per_layer.shape == (2, 3) and (per_layer == 1).all()


def test_mask_without_biases():
    spec = MLPSpec(in_dim=4, hidden=(5,), out_dim=2, bias=False)
    m = Mask.full(spec, 1)
    assert all(t is not None for t in m.layers) and m.sizes == [20, 10]


def test_mask_rejects_wrong_shapes():
    layers = list(Mask.full(SPEC, 2).layers)
    with pytest.raises(ValueError, match="has 6 entries, got 5"):
        Mask(SPEC, tuple(layers[:5]))
    layers[2] = torch.ones(2, 16, 21, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"mask entry 2: expected \(2, 16, 20\)"):
        Mask(SPEC, tuple(layers))
    layers = list(Mask.full(SPEC, 2).layers)
    layers[1] = torch.ones(2, 20, dtype=torch.bool)  # a bias is never masked
    with pytest.raises(ValueError, match="mask entry 1: expected None"):
        Mask(SPEC, tuple(layers))


def test_remaining_and_kept_count_each_member_and_layer():
    m = Mask.full(SPEC, 2)
    m.layers[0][1, :10] = False  # member 1 loses 10 rows x 8 inputs of layer 1
    m.layers[4][0, 0, :4] = False  # member 0 loses 4 output weights
    np.testing.assert_array_equal(m.kept(), [[160, 320, 44], [80, 320, 48]])
    frac, per_layer = m.remaining()
    np.testing.assert_allclose(frac, [524 / 528, 448 / 528])
    np.testing.assert_allclose(per_layer, [[1, 1, 44 / 48], [0.5, 1, 1]])


def test_select_and_concat():
    params = init_mlp_ensemble(SPEC, [0, 1, 2])
    m = magnitude_prune(params, Mask.full(SPEC, 3), 2)
    a, b = m.select([2]), m.select([0, 1])
    assert a.K == 1 and b.K == 2 and equal(a, m.select(range(2, 3)))
    back = Mask.concat(b, a)
    assert equal(back, m)
    with pytest.raises(ValueError, match="different networks"):
        Mask.concat(m, Mask.full(MLPSpec(in_dim=8, hidden=(20, 15), out_dim=3), 1))
    # the params helpers behind them
    assert torch.equal(prune.select_members(params, [1])[0], params[0][1:2])
    assert torch.equal(prune.concat_members(params, params)[1], torch.cat([params[1]] * 2))


def test_apply_zeroes_the_pruned_weights_only():
    init = init_mlp_ensemble(SPEC, [5, 6])
    keep = copy.deepcopy(init)
    mask = magnitude_prune([p * 3 + 1 for p in init], Mask.full(SPEC, 2), 2)
    rew = mask.apply(init)
    for i, (r, p, m) in enumerate(zip(rew, init, mask.layers)):
        assert torch.equal(p, keep[i])  # the saved values are not modified
        if m is None:
            assert torch.equal(r, p) and r is not p
        else:
            assert torch.equal(r[m], p[m]) and (r[~m] == 0).all()
    # what the trainer starts from (checkpoint 0) is exactly the rewound init
    res = train_ensemble(
        SPEC,
        rew,
        toy(),
        TrainConfig(epochs=1, batch_size=32, lr=0.1, checkpoint_steps=(0,)),
        [5, 6],
        masks=mask.layers,
    )
    assert all(torch.equal(a, b) for a, b in zip(res.checkpoints[0], rew))


def test_pack_format_is_fixed():
    """Big-endian bits of the weight matrices, row-major, in layer order: the stored tables'
    format (a change breaks every saved mask)."""
    spec = MLPSpec(in_dim=2, hidden=(3,), out_dim=1)  # weights: 3x2 then 1x3 = 9 bits
    m = Mask.full(spec, 2)
    m.layers[0][1] = torch.tensor([[1, 0], [0, 1], [1, 1]], dtype=torch.bool)
    m.layers[2][1] = torch.tensor([[0, 1, 0]], dtype=torch.bool)
    assert m.pack(0) == b"\xff\x80"
    assert m.pack(1) == bytes([0b10011101, 0b00000000])
    assert equal(Mask.unpack(spec, m.pack(1)), m.select([1]))


def test_pack_unpack_roundtrip():
    masks = magnitude_prune(init_mlp_ensemble(SPEC, [0, 1]), Mask.full(SPEC, 2), 4)
    blob = masks.pack(1)
    assert isinstance(blob, bytes) and len(blob) == -(-(160 + 320 + 48) // 8)
    back = Mask.unpack(SPEC, blob)
    assert back.K == 1 and equal(back, masks.select([1]))
    with pytest.raises(ValueError, match="bytes"):
        Mask.unpack(SPEC, blob[:-1])


# ----------------------------------------------------------------------------- magnitude pruning


def test_masks_follow_the_schedule_per_layer_and_are_nested():
    params = init_mlp_ensemble(SPEC, [0, 1])
    masks = Mask.full(SPEC, 2)
    for j in range(1, 9):
        # fresh random "trained" weights every round: survivors must still only shrink
        params = [
            p + 0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(j))
            for p in params
        ]
        new = magnitude_prune(params, masks, j, 0.2, 0.1)
        total, per_layer = new.remaining()
        expect = np.array([0.8**j, 0.8**j, 0.9**j])
        assert np.abs(per_layer - expect).max() <= 1.0 / min(SIZES) + 1e-12, (j, per_layer)
        np.testing.assert_allclose(total, (per_layer * SIZES).sum(1) / sum(SIZES))
        for a, b in zip(new.weights, masks.weights):
            assert not (a & ~b).any()  # a pruned weight never comes back
        masks = new
    assert all(masks.layers[i] is None for i in range(6) if i not in weight_indices(SPEC))


def test_magnitude_prune_keeps_the_largest_survivors():
    params = init_mlp_ensemble(SPEC, [3])
    m1 = magnitude_prune(params, Mask.full(SPEC, 1), 1)
    for i in weight_indices(SPEC):
        w = params[i].abs()
        assert w[m1.layers[i]].min() >= w[~m1.layers[i]].max()


def test_global_pruning_counts_all_weights_together():
    params = init_mlp_ensemble(SPEC, [0])
    params[0] = params[0].abs() + 10  # every first-layer weight outranks every other weight
    masks = Mask.full(SPEC, 1)
    for j in range(1, 5):
        masks = magnitude_prune(params, masks, j, 0.2, 0.1, pruning="global")
    total, per_layer = masks.remaining()
    assert total[0] == pytest.approx(round(528 * 0.8**4) / 528)
    assert per_layer[0, 0] == 1.0 and per_layer[0, 1] < 0.8**4


def test_unknown_pruning_and_bad_rates_are_errors():
    params = init_mlp_ensemble(SPEC, [0])
    with pytest.raises(ValueError, match="pruning must be one of"):
        magnitude_prune(params, Mask.full(SPEC, 1), 1, pruning="random")
    with pytest.raises(ValueError, match="pruning rates must be in"):
        magnitude_prune(params, Mask.full(SPEC, 1), 1, rate_hidden=1.0)


def test_pruned_weights_stay_exactly_zero_through_training():
    seeds = [0, 1]
    init = init_mlp_ensemble(SPEC, seeds)
    mask = magnitude_prune(init, Mask.full(SPEC, 2), 3)
    cfg = TrainConfig(
        epochs=5,
        batch_size=16,
        lr=0.01,
        optimizer="adam",
        weight_decay=1e-3,
        checkpoint_steps=(0, 7, 30),
    )
    res = train_ensemble(SPEC, init, toy(), cfg, seeds, masks=mask.layers)
    assert not res.diverged.any()
    for params in [res.params, *res.checkpoints.values()]:
        for i in weight_indices(SPEC):
            m = mask.layers[i]
            assert (params[i][~m] == 0).all()
            assert (params[i][m] != 0).all()  # survivors do train (and are not zeroed)
    moved = (res.params[0] - init[0]).abs()[mask.layers[0]]
    assert moved.max() > 1e-3


# ----------------------------------------------------------------------------- the controls


def test_randomly_prune_keeps_each_members_per_layer_counts():
    ticket = magnitude_prune(init_mlp_ensemble(SPEC, [0, 1]), Mask.full(SPEC, 2), 5)
    ticket.layers[4][1, :2] = False  # members with different counts
    gens = [torch.Generator().manual_seed(s) for s in (10, 11)]
    rnd = randomly_prune(ticket, gens)
    assert isinstance(rnd, Mask) and rnd.spec == SPEC and rnd.K == 2
    np.testing.assert_array_equal(rnd.kept(), ticket.kept())
    assert not equal(rnd, ticket)  # other positions
    again = randomly_prune(ticket, [torch.Generator().manual_seed(s) for s in (10, 11)])
    assert equal(rnd, again)  # reproducible from the seeds
    other = randomly_prune(ticket, [torch.Generator().manual_seed(s) for s in (10, 12)])
    assert torch.equal(other.layers[0][0], rnd.layers[0][0])  # member k uses generator k only
    assert not torch.equal(other.layers[0][1], rnd.layers[0][1])


def test_randomly_prune_draws_one_permutation_per_layer():
    ticket = magnitude_prune(init_mlp_ensemble(SPEC, [0]), Mask.full(SPEC, 1), 2)
    g = torch.Generator().manual_seed(7)
    counts = ticket.kept()[0]
    expect = []
    for n, c, shape in zip(SIZES, counts, [(20, 8), (16, 20), (3, 16)]):
        m = torch.zeros(n, dtype=torch.bool)
        m[torch.randperm(n, generator=g)[:c]] = True
        expect.append(m.reshape(1, *shape))
    rnd = randomly_prune(ticket, [torch.Generator().manual_seed(7)])
    assert all(torch.equal(a, b) for a, b in zip(rnd.weights, expect))
    with pytest.raises(ValueError, match="2 generators for a mask of 1 members"):
        randomly_prune(ticket, [g, g])


def test_randomly_reinitialize_is_a_fresh_init_from_its_seeds():
    fresh = randomly_reinitialize(SPEC, [1_001_000, 1_001_001])
    expect = init_mlp_ensemble(SPEC, [1_001_000, 1_001_001])
    assert all(torch.equal(a, b) for a, b in zip(fresh, expect))
    orig = init_mlp_ensemble(SPEC, [0, 1])
    assert not torch.equal(fresh[0], orig[0])
    mask = magnitude_prune(orig, Mask.full(SPEC, 2), 3)
    control = mask.apply(fresh)  # same mask, other values
    assert all((c[~m] == 0).all() for c, m in zip(control, mask.layers) if m is not None)
