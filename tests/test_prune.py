"""Pruning masks (overparam.prune) and the lottery-ticket experiment's pieces."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from overparam import prune
from overparam.experiments import lottery_ticket as lt
from overparam.models import MLPSpec, init_mlp_ensemble, weight_indices
from overparam.train import TrainConfig, train_ensemble

SPEC = MLPSpec(in_dim=8, hidden=(20, 16), out_dim=3)


def toy(n=120, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(3, 8, generator=g) * 2
    y = torch.randint(0, 3, (n,), generator=g)
    return {"x": centers[y] + torch.randn(n, 8, generator=g), "y": y}


def test_masks_follow_the_schedule_per_layer_and_are_nested():
    params = init_mlp_ensemble(SPEC, [0, 1])
    masks = prune.full_masks(SPEC, 2)
    sizes = [20 * 8, 16 * 20, 3 * 16]
    for j in range(1, 9):
        # fresh random "trained" weights every round: survivors must still only shrink
        params = [p + 0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(j))
                  for p in params]
        new = prune.magnitude_prune(SPEC, params, masks, j, 0.2, 0.1)
        total, per_layer = prune.remaining(SPEC, new)
        expect = np.array([0.8 ** j, 0.8 ** j, 0.9 ** j])
        assert np.abs(per_layer - expect).max() <= 1.0 / min(sizes) + 1e-12, (j, per_layer)
        np.testing.assert_allclose(total, (per_layer * sizes).sum(1) / sum(sizes))
        for i in weight_indices(SPEC):
            assert not (new[i] & ~masks[i]).any()  # a pruned weight never comes back
        masks = new
    assert all(masks[i] is None for i in range(len(masks)) if i not in weight_indices(SPEC))


def test_magnitude_prune_keeps_the_largest_survivors():
    params = init_mlp_ensemble(SPEC, [3])
    m1 = prune.magnitude_prune(SPEC, params, prune.full_masks(SPEC, 1), 1)
    for i in weight_indices(SPEC):
        w = params[i].abs()
        assert w[m1[i]].min() >= w[~m1[i]].max()


def test_global_pruning_counts_all_weights_together():
    params = init_mlp_ensemble(SPEC, [0])
    params[0] = params[0].abs() + 10  # every first-layer weight outranks every other weight
    masks = prune.full_masks(SPEC, 1)
    for j in range(1, 5):
        masks = prune.magnitude_prune(SPEC, params, masks, j, 0.2, 0.1, pruning="global")
    total, per_layer = prune.remaining(SPEC, masks)
    assert total[0] == pytest.approx(round(528 * 0.8 ** 4) / 528)
    assert per_layer[0, 0] == 1.0 and per_layer[0, 1] < 0.8 ** 4


def test_random_masks_have_the_requested_counts():
    counts = [[10, 50, 7], [160, 1, 48]]
    gens = [torch.Generator().manual_seed(s) for s in (0, 1)]
    m = prune.random_masks(SPEC, counts, gens)
    kept = [[int(m[i][k].sum()) for i in weight_indices(SPEC)] for k in range(2)]
    assert kept == counts
    again = prune.random_masks(SPEC, counts, [torch.Generator().manual_seed(s) for s in (0, 1)])
    assert all(torch.equal(a, b) for a, b in zip(m, again) if a is not None)


def test_pruned_weights_stay_exactly_zero_through_training():
    seeds = [0, 1]
    init = init_mlp_ensemble(SPEC, seeds)
    masks = prune.magnitude_prune(SPEC, init, prune.full_masks(SPEC, 2), 3)
    cfg = TrainConfig(epochs=5, batch_size=16, lr=0.01, optimizer="adam", weight_decay=1e-3,
                      checkpoint_steps=(0, 7, 30))
    res = train_ensemble(SPEC, init, toy(), cfg, seeds, masks=masks)
    assert not res.diverged.any()
    for params in [res.params, *res.checkpoints.values()]:
        for i in weight_indices(SPEC):
            assert (params[i][~masks[i]] == 0).all()
            assert (params[i][masks[i]] != 0).all()  # survivors do train (and are not zeroed)
    moved = (res.params[0] - init[0]).abs()[masks[0]]
    assert moved.max() > 1e-3


def test_rewind_restores_the_saved_values_exactly():
    init = init_mlp_ensemble(SPEC, [5, 6])
    keep = copy.deepcopy(init)
    masks = prune.magnitude_prune(SPEC, [p * 3 + 1 for p in init], prune.full_masks(SPEC, 2), 2)
    rew = prune.rewind(init, masks)
    for i, (r, p, m) in enumerate(zip(rew, init, masks)):
        assert torch.equal(p, keep[i])  # the saved values are not modified
        if m is None:
            assert torch.equal(r, p)
        else:
            assert torch.equal(r[m], p[m]) and (r[~m] == 0).all()
    # what the trainer starts from (checkpoint 0) is exactly the rewound init
    res = train_ensemble(SPEC, rew, toy(), TrainConfig(epochs=1, batch_size=32, lr=0.1,
                                                       checkpoint_steps=(0,)), [5, 6], masks=masks)
    assert all(torch.equal(a, b) for a, b in zip(res.checkpoints[0], rew))


def test_pack_unpack_roundtrip():
    masks = prune.magnitude_prune(SPEC, init_mlp_ensemble(SPEC, [0, 1]),
                                  prune.full_masks(SPEC, 2), 4)
    blob = prune.pack_mask(SPEC, masks, 1)
    assert len(blob) == -(-(160 + 320 + 48) // 8)
    back = prune.unpack_mask(SPEC, blob)
    for a, b in zip(masks, back):
        assert (a is None and b is None) or torch.equal(a[1:2], b)
    with pytest.raises(ValueError, match="bytes"):
        prune.unpack_mask(SPEC, blob[:-1])


TINY = dict(data=dict(num_samples=1000, train_split=0.8, seed=42), val_size=200, seeds=[0, 1],
            networks={"mlp": [16, 16]}, rewind_steps=[0, 12], rounds=3, prune_rate=0.2,
            prune_rate_output=0.1, pruning="layerwise", optimizer="adam", lr=0.005,
            batch_size=100, epochs=6, eval_every_steps=6,
            claims_setup=dict(match_min_remaining=0.2, early_stop_remaining=[0.2, 1.0]))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    import os

    old = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("lt"))  # no cached npz there: generated offline
    try:
        yield {k: lt.run(TINY, f"mlp_rewind{k}", device="cpu", threads=1, log=None)
               for k in TINY["rewind_steps"]}
    finally:
        os.chdir(old)


def test_run_table(tiny_run):
    df = tiny_run[0]
    lt.RUN_SCHEMA.validate(df, "tiny")
    assert len(df) == 2 + 3 * 3 * 2  # dense x seeds + rounds x variants x seeds
    t = df[df["variant"] == "ticket"].groupby("round")
    np.testing.assert_allclose(t["remaining_frac_layer1"].mean(), 0.8 ** np.arange(1, 4), atol=2e-3)
    np.testing.assert_allclose(t["remaining_frac_layer3"].mean(), 0.9 ** np.arange(1, 4), atol=1e-2)
    # the three variants of a round share the layer-wise sparsity
    r = df[df["round"] == 2].groupby("variant")[["remaining_frac_layer1", "kept_weights"]].nunique()
    assert (r == 1).all().all()
    assert df[df["round"] == 2].groupby(["variant"])["kept_weights"].first().nunique() == 1
    assert (df["stop_step"] <= df["total_steps"]).all() and (df["stop_step"] >= 0).all()
    assert df["test_acc_at_stop"].between(0.15, 1).all()  # better than chance (10 classes)
    assert (df["max_test_acc"] >= df["test_acc_at_stop"]).all()
    reinit = df[df["variant"] == "reinit"]
    assert (reinit["init_seed"] >= lt.REINIT_SEED_OFFSET).all()


@pytest.mark.parametrize("k,variant,round_", [(0, "ticket", 3), (0, "random", 2), (12, "ticket", 2),
                                              (12, "reinit", 1)])
def test_retraining_from_the_saved_mask_reproduces_the_run(tiny_run, k, variant, round_, tmp_path,
                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    df = tiny_run[k]
    row = df[(df["variant"] == variant) & (df["round"] == round_) & (df["seed"] == 1)].iloc[0]
    again = lt.retrain_row(row, TINY)
    assert again["stop_step"] == row["stop_step"]
    for c in ("test_acc_at_stop", "final_test_acc", "final_train_acc", "max_test_acc"):
        assert again[c] == pytest.approx(row[c], abs=1e-3), c  # <= 1 test sample of float noise
    assert again["val_loss_at_stop"] == pytest.approx(row["val_loss_at_stop"], rel=1e-4)


def _metrics(acc: dict, stop: dict, fracs) -> pd.DataFrame:
    rows = []
    for v in lt.VARIANTS:
        for j, f in enumerate(fracs):
            if (v == "dense") != (j == 0):
                continue
            for s in (0, 1):
                rows.append(dict(network="mlp", rewind_step=0, round=j, variant=v, seed=s,
                                 remaining_frac=f, test_acc_at_stop=acc[v][j] + 0.001 * s,
                                 stop_step=stop[v][j], diverged=False))
    return pd.DataFrame(rows)


def test_claim_values_from_a_known_table():
    fracs = [1.0, 0.8, 0.4, 0.15, 0.05]
    acc = {"dense": [0.70] * 5, "ticket": [0, 0.71, 0.69, 0.66, 0.60],
           "reinit": [0, 0.70, 0.66, 0.60, 0.50], "random": [0, 0.70, 0.65, 0.62, 0.52]}
    stop = {"dense": [500] * 5, "ticket": [0, 400, 300, 900, 1000],
            "reinit": [0] * 5, "random": [0] * 5}
    cfg = copy.deepcopy(TINY)
    v = lt.job_values(_metrics(acc, stop, fracs), cfg)[("mlp", 0)]
    assert v["matches_dense_pp"] == pytest.approx(-1.0)  # worst round with >= 20%: 0.69 vs 0.70
    # below 20%: ticket - reinit = (6 + 10) / 2 = 8 pp, ticket - random = (4 + 8) / 2 = 6 pp
    assert v["beats_controls_pp"] == pytest.approx(6.0)
    assert v["stop_ratio"] == pytest.approx(350 / 500)
    assert v["rounds_hi"] == 2 and v["rounds_lo"] == 2


def test_global_pruning_option_in_a_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = {**copy.deepcopy(TINY), "pruning": "global", "rounds": 2, "epochs": 2, "seeds": [0]}
    df = lt.run(cfg, "mlp_rewind0", device="cpu", threads=1, log=None)
    t = df[df["variant"] == "ticket"].set_index("round")
    n = 40 * 16 + 16 * 16 + 16 * 10
    np.testing.assert_allclose(t["remaining_frac"], [round(n * 0.8) / n, round(n * 0.64) / n])
    assert (df["pruning"] == "global").all()
    # random pruning copies the ticket's per-layer counts, whatever global pruning chose
    r = df[(df["variant"] == "random") & (df["round"] == 2)].iloc[0]
    assert r["kept_weights"] == t.loc[2, "kept_weights"]
    assert r["remaining_frac_layer3"] == t.loc[2, "remaining_frac_layer3"]
