"""Batched ensemble training (overparam.models, overparam.train).

Tolerances. Float32 runs compare the ensemble with solo runs and with torch.optim at
rtol=1e-5, atol=1e-6 (TOL below): the same math in a different association order
(batched vs single GEMMs, our elementwise optimizer vs torch.optim's) differs by a few ulps
per step. Hand-written gradients are compared with autograd in float64 at 1e-10.
"""

from __future__ import annotations

import io
import math
import re

import numpy as np
import pandas as pd
import pytest
import torch

from overparam.models import (
    MLPSpec,
    init_mlp_ensemble,
    mlp_forward,
    mlp_forward_backward,
    num_params,
    param_shapes,
)
from overparam.train import TrainConfig, batch_generator, resolve_device, train_ensemble

TOL = dict(rtol=1e-5, atol=1e-6)


def toy_data(n=96, n_test=64, in_dim=8, classes=3, seed=0, mse=False):
    """Linearly separable-ish Gaussian classes (or regression targets), seeded."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, in_dim, generator=g) * 2
    out = {}
    for split, m in (("", n), ("_test", n_test)):
        y = torch.randint(0, classes, (m,), generator=g)
        x = centers[y] + torch.randn(m, in_dim, generator=g)
        out["x" + split] = x
        out["y" + split] = (x[:, :2].sum(1) * 0.5 + 0.1 * torch.randn(m, generator=g)) if mse else y
    return out


def spec_for(mse=False, **kw):
    return MLPSpec(8, (16, 12), 1 if mse else 3, **kw)


def assert_params_close(a, b, **tol):
    assert len(a) == len(b)
    for pa, pb in zip(a, b):
        torch.testing.assert_close(pa, pb, **(tol or TOL))


# ----------------------------------------------------------------------------- models


def test_init_member_is_independent_of_ensemble():
    spec = spec_for()
    ens = init_mlp_ensemble(spec, [3, 11, 5])
    solo = init_mlp_ensemble(spec, [11])
    assert [tuple(p.shape) for p in ens] == [(3, *s) for s in param_shapes(spec)]
    for pe, ps in zip(ens, solo):
        assert torch.equal(pe[1], ps[0])
    assert not torch.equal(ens[0][0], ens[0][1])
    assert num_params(spec) == 8 * 16 + 16 + 16 * 12 + 12 + 12 * 3 + 3
    # torch.nn.Linear's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for W and b
    w, b = init_mlp_ensemble(MLPSpec(400, (), 300), [0])
    assert w.abs().max() <= 1 / 20 and w.abs().max() > 0.049
    assert b.abs().max() <= 1 / 20


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
@pytest.mark.parametrize("parametrization", ["standard", "ntk"])
@pytest.mark.parametrize("bias", [True, False])
def test_manual_backward_equals_autograd(activation, parametrization, bias):
    spec = MLPSpec(5, (7, 6), 4, activation=activation, parametrization=parametrization, bias=bias)
    params = init_mlp_ensemble(spec, [0, 1, 2], dtype=torch.float64)
    x = torch.randn(3, 9, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.randn(3, 9, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))

    def objective(logits):
        return ((logits - y) ** 2).mean((1, 2)).sum()

    leaves = [p.clone().requires_grad_(True) for p in params]
    auto = torch.autograd.grad(objective(mlp_forward(spec, leaves, x)), leaves)

    def head(logits):
        z = logits.detach().requires_grad_(True)
        (dz,) = torch.autograd.grad(objective(z), z)
        return z.detach(), dz

    grads = [torch.empty_like(p) for p in params]
    logits = mlp_forward_backward(spec, params, x, head, grads)
    torch.testing.assert_close(logits, mlp_forward(spec, params, x), rtol=1e-12, atol=1e-12)
    for ga, gm in zip(auto, grads):
        torch.testing.assert_close(gm, ga, rtol=1e-10, atol=1e-12)


def test_forward_shared_input_and_ntk_scaling():
    spec = MLPSpec(5, (7,), 3, parametrization="ntk")
    params = init_mlp_ensemble(spec, [0, 1], dtype=torch.float64)
    x = torch.randn(4, 5, dtype=torch.float64)
    shared = mlp_forward(spec, params, x)
    per_member = mlp_forward(spec, params, x.expand(2, 4, 5))
    torch.testing.assert_close(shared, per_member)
    w1, b1, w2, b2 = (p[1] for p in params)
    h = torch.relu(x @ w1.T / math.sqrt(5) + 0.1 * b1)
    torch.testing.assert_close(shared[1], h @ w2.T / math.sqrt(7) + 0.1 * b2)


def test_forward_masks_multiply_weights():
    spec = spec_for()
    params = init_mlp_ensemble(spec, [0, 1])
    masks = [None] * len(params)
    masks[0] = torch.rand(params[0].shape, generator=torch.Generator().manual_seed(0)) > 0.5
    x = torch.randn(2, 4, 8)
    pruned = [params[0] * masks[0], *params[1:]]
    torch.testing.assert_close(mlp_forward(spec, params, x, masks), mlp_forward(spec, pruned, x))


# ----------------------------------------------------------------------------- engine


CASES = [
    ("sgd", 0.9, 1e-3, "ce", 0.05),
    ("adam", 0.0, 1e-3, "ce", 0.01),
    ("sgd", 0.5, 0.0, "mse", 0.02),
    ("adam", 0.0, 0.0, "mse", 0.01),
]


@pytest.mark.parametrize("optimizer,momentum,wd,loss,lr", CASES)
def test_ensemble_equals_members_trained_alone(optimizer, momentum, wd, loss, lr):
    mse = loss == "mse"
    spec, data, seeds = spec_for(mse), toy_data(mse=mse), [4, 9, 2]
    cfg = TrainConfig(epochs=3, batch_size=20, lr=lr, optimizer=optimizer, momentum=momentum,
                      weight_decay=wd, loss=loss)  # fmt: skip
    ens = train_ensemble(spec, init_mlp_ensemble(spec, seeds), data, cfg, seeds)
    h = ens.history.set_index(["member", "epoch"])
    for k, s in enumerate(seeds):
        solo = train_ensemble(spec, init_mlp_ensemble(spec, [s]), data, cfg, [s])
        assert_params_close([p[k : k + 1] for p in ens.params], solo.params)
        hs = solo.history.set_index("epoch")
        for col in ("train_loss", "test_loss"):
            np.testing.assert_allclose(h.loc[k][col].to_numpy(), hs[col].to_numpy(), rtol=1e-5)
    first, last = h.xs(0, level="epoch"), h.xs(3, level="epoch")
    assert (last["train_loss"] < first["train_loss"]).all()
    assert list(ens.history.columns[:10]) == ["member", "seed", "epoch", "step", "train_loss",
                                              "test_loss", "train_acc", "test_acc", "diverged", "stopped"]  # fmt: skip
    assert ens.history["train_acc"].isna().all() == mse


def test_deterministic():
    spec, data, seeds = spec_for(), toy_data(), [0, 1, 2]
    cfg = TrainConfig(epochs=2, batch_size=16, lr=0.01, optimizer="adam", checkpoint_steps=(5,))
    a = train_ensemble(spec, init_mlp_ensemble(spec, seeds), data, cfg, seeds)
    b = train_ensemble(spec, init_mlp_ensemble(spec, seeds), data, cfg, seeds)
    assert a.history.equals(b.history)
    assert all(torch.equal(p, q) for p, q in zip(a.params, b.params))
    assert all(torch.equal(p, q) for p, q in zip(a.checkpoints[5], b.checkpoints[5]))
    c = train_ensemble(spec, init_mlp_ensemble(spec, seeds), data, cfg, [0, 1, 3])
    assert not c.history.equals(a.history)  # a different seed draws a different batch order


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_diverging_member_is_isolated(optimizer):
    spec, data, seeds = spec_for(), toy_data(), [0, 1, 2]
    base = 0.05 if optimizer == "sgd" else 0.01
    cfg = TrainConfig(epochs=4, batch_size=16, lr=(base, 1e5, base), optimizer=optimizer,
                      momentum=0.9 if optimizer == "sgd" else 0.0)  # fmt: skip
    res = train_ensemble(spec, init_mlp_ensemble(spec, seeds), data, cfg, seeds)
    assert res.diverged.tolist() == [False, True, False]
    assert res.diverged_step[1] >= 1 and (res.diverged_step[[0, 2]] == -1).all()
    h = res.history
    bad = h[h.member == 1]
    assert not bad.diverged.iloc[0] and bad.diverged.iloc[-1]
    after = bad[bad.diverged]
    assert after[["train_loss", "test_loss", "train_acc", "test_acc"]].isna().all().all()
    assert all(torch.isfinite(p).all() for p in res.params)  # zeroed, not NaN
    assert all((p[1] == 0).all() for p in res.params)
    for k in (0, 2):
        hk = h[h.member == k]
        assert hk.train_loss.iloc[-1] < hk.train_loss.iloc[0] and not hk.diverged.any()
        solo_cfg = TrainConfig(**{**cfg.__dict__, "lr": base})
        solo = train_ensemble(spec, init_mlp_ensemble(spec, [seeds[k]]), data, solo_cfg, [seeds[k]])
        assert_params_close([p[k : k + 1] for p in res.params], solo.params)
        np.testing.assert_allclose(
            hk.train_loss.to_numpy(), solo.history.train_loss.to_numpy(), rtol=1e-5
        )


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_masked_weights_stay_zero(optimizer):
    spec, data, seeds = spec_for(), toy_data(), [0, 1]
    params = init_mlp_ensemble(spec, seeds)
    g = torch.Generator().manual_seed(0)
    masks = [torch.rand(p.shape, generator=g) > 0.5 if p.dim() == 3 else None for p in params]
    cfg = TrainConfig(epochs=3, batch_size=16, lr=0.05 if optimizer == "sgd" else 0.01,
                      optimizer=optimizer, momentum=0.9 if optimizer == "sgd" else 0.0,
                      weight_decay=1e-2, checkpoint_steps=(0, 7))  # fmt: skip
    res = train_ensemble(spec, params, data, cfg, seeds, masks=masks)
    for i, m in enumerate(masks):
        if m is None:
            continue
        for snap in (res.params[i], res.checkpoints[0][i], res.checkpoints[7][i]):
            assert (snap[~m] == 0).all()  # exactly zero, despite momentum and weight decay
        assert torch.equal(res.checkpoints[0][i][m], params[i][m])
        assert not torch.equal(res.params[i][m], params[i][m])  # the kept weights did train
    # one mask for every member (per-member shape) is broadcast
    shared = [m[0] if m is not None else None for m in masks]
    res2 = train_ensemble(spec, params, data, cfg, seeds, masks=shared)
    assert (res2.params[0][:, ~shared[0]] == 0).all()


def torch_net(spec, params_k):
    """Member ``params_k`` of an ensemble as an nn.Sequential (and its Linear layers)."""
    layers = []
    dims = spec.dims
    for i in range(len(dims) - 1):
        layers.append(torch.nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for i, lin in enumerate(linears):
            lin.weight.copy_(params_k[2 * i])
            lin.bias.copy_(params_k[2 * i + 1])
    return net, linears


def _torch_reference(spec, params_k, data, cfg, seed, masks_k=None):
    """Member trained with nn.Sequential + torch.optim, same init and batch order."""
    net, linears = torch_net(spec, params_k)
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(
            net.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    else:
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps,
                               weight_decay=cfg.weight_decay)  # fmt: skip
    x, y = data["x"], data["y"]
    n = x.shape[0]
    gen = batch_generator(seed)
    for _ in range(cfg.epochs):
        perm = torch.randperm(n, generator=gen)
        for a in range(0, n, cfg.batch_size):
            idx = perm[a : a + cfg.batch_size]
            out = net(x[idx])
            if cfg.loss == "ce":
                loss = torch.nn.functional.cross_entropy(out, y[idx])
            else:
                loss = torch.nn.functional.mse_loss(out, y[idx].view(out.shape))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return [t.detach() for lin in linears for t in (lin.weight, lin.bias)]


@pytest.mark.parametrize("optimizer,momentum,wd,lr,loss", [
    ("sgd", 0.9, 1e-3, 0.05, "ce"), ("adam", 0.0, 1e-3, 0.01, "ce"), ("sgd", 0.0, 1e-3, 0.02, "mse"),
])  # fmt: skip
def test_optimizer_matches_torch_optim(optimizer, momentum, wd, lr, loss):
    """Also checks the closed-form loss gradients against autograd of F.cross_entropy / F.mse_loss."""
    mse = loss == "mse"
    spec, data, seeds = (
        spec_for(mse),
        toy_data(n=100, mse=mse),
        [7, 8],
    )  # 100 = 6 x 16 + 4: partial batch
    cfg = TrainConfig(epochs=3, batch_size=16, lr=lr, optimizer=optimizer, momentum=momentum,
                      weight_decay=wd, loss=loss)  # fmt: skip
    params = init_mlp_ensemble(spec, seeds)
    res = train_ensemble(spec, params, data, cfg, seeds)
    for k, s in enumerate(seeds):
        ref = _torch_reference(spec, [p[k] for p in params], data, cfg, s)
        assert_params_close([p[k] for p in res.params], ref)


def test_stacked_torch_optim_is_per_member():
    """torch.optim's SGD(momentum)/Adam are elementwise, so one optimizer over stacked
    (K, ...) tensors equals K optimizers over the members (bit for bit)."""
    g = torch.Generator().manual_seed(0)
    init = torch.randn(3, 4, 5, generator=g)
    grads = [torch.randn(3, 4, 5, generator=g) for _ in range(5)]
    for make in (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
                 lambda ps: torch.optim.Adam(ps, lr=0.1, weight_decay=0.01)):  # fmt: skip
        stacked = init.clone().requires_grad_(True)
        members = [init[k].clone().requires_grad_(True) for k in range(3)]
        opt_s, opts = make([stacked]), [make([m]) for m in members]
        for gr in grads:
            stacked.grad = gr.clone()
            opt_s.step()
            for k, (m, o) in enumerate(zip(members, opts)):
                m.grad = gr[k].clone()
                o.step()
        assert torch.equal(stacked.detach(), torch.stack([m.detach() for m in members]))


def test_checkpoints_equal_params_at_step():
    spec, data, seeds = spec_for(), toy_data(n=48), [1, 2]  # 48 / 16 = 3 steps per epoch
    params = init_mlp_ensemble(spec, seeds)
    base = dict(batch_size=16, lr=0.05, momentum=0.9)
    res = train_ensemble(
        spec, params, data, TrainConfig(epochs=3, checkpoint_steps=(0, 3, 6), **base), seeds
    )
    assert sorted(res.checkpoints) == [0, 3, 6]
    assert all(torch.equal(c, p) for c, p in zip(res.checkpoints[0], params))
    for epochs, step in ((1, 3), (2, 6)):
        short = train_ensemble(spec, params, data, TrainConfig(epochs=epochs, **base), seeds)
        assert all(torch.equal(c, p) for c, p in zip(res.checkpoints[step], short.params))
    assert res.history.step.max() == 9
    with pytest.raises(ValueError, match="beyond"):
        train_ensemble(
            spec, params, data, TrainConfig(epochs=1, checkpoint_steps=(4,), **base), seeds
        )


def test_stop_train_loss_freezes_members():
    spec, data, seeds = spec_for(), toy_data(), [0, 1, 2]
    cfg = TrainConfig(epochs=30, batch_size=16, lr=0.01, optimizer="adam", stop_train_loss=0.3)
    res = train_ensemble(spec, init_mlp_ensemble(spec, seeds), data, cfg, seeds)
    h = res.history
    assert res.stopped.all() and h.epoch.max() < 30  # everyone stopped: the run ended early
    for k in range(3):
        hk = h[h.member == k]
        first = hk[hk.stopped].index[0]
        assert hk.loc[first, "train_loss"] < 0.3
        # frozen after stopping
        assert hk.loc[first:, "train_loss"].nunique() == 1
    assert (res.best_epoch >= 0).all()


def test_all_members_diverging_ends_the_run():
    spec, data, seeds = spec_for(), toy_data(), [0, 1]
    cfg = TrainConfig(epochs=5, batch_size=16, lr=1e6, momentum=0.9)
    res = train_ensemble(spec, init_mlp_ensemble(spec, seeds), data, cfg, seeds)
    assert res.diverged.all() and res.steps < 5 * 6
    last = res.history[res.history.epoch == res.history.epoch.max()]
    assert last.diverged.all() and last.train_loss.isna().all()
    assert res.history.epoch.max() <= 1


def _assert_same_result(a, b):
    """Two TrainResults equal in everything but timing."""
    pd.testing.assert_frame_equal(a.history, b.history)
    assert all(torch.equal(p, q) for p, q in zip(a.params, b.params))
    assert a.checkpoints.keys() == b.checkpoints.keys()
    for s in a.checkpoints:
        assert all(torch.equal(p, q) for p, q in zip(a.checkpoints[s], b.checkpoints[s]))
    for f in ("diverged", "diverged_step", "stopped", "best_epoch"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert a.steps == b.steps


@pytest.mark.parametrize(
    "lr,optimizer,checkpoints",
    [
        ((0.05, 1e5, 0.05), "sgd", (0, 3, 7, 20)),  # one member diverges mid-epoch
        ((1e6, 1e6), "sgd", (0, 2, 13)),  # all diverge: the run ends at the last one's step
        ((1e6, 5e6), "sgd", ()),  # all diverge, no checkpoint: found at the epoch end
        ((1e6, 3.0), "sgd", (0, 9, 17)),  # steps 1 and 8: the run ends before step 9
        ((1e6, 30.0), "sgd", (0, 9, 17)),  # steps 1 and 16, a checkpoint between them
        ((0.01, 3e4, 0.01), "adam", (5,)),
        ((0.05, 0.05), "sgd", (4,)),  # none diverges
    ],
)
def test_deferred_divergence_checks_give_the_same_result(lr, optimizer, checkpoints):
    """Checks noted on the device and acted on at epoch ends and checkpoints (CUDA's default:
    no host sync per step) give exactly the result of checks after every step."""
    spec, data = spec_for(), toy_data()
    seeds = list(range(len(lr)))
    cfg = TrainConfig(epochs=5, batch_size=16, lr=lr, optimizer=optimizer, weight_decay=1e-3,
                      momentum=0.9 if optimizer == "sgd" else 0.0,
                      checkpoint_steps=checkpoints)  # fmt: skip
    eager = train_ensemble(spec, init_mlp_ensemble(spec, seeds), data, cfg, seeds,
                           defer_checks=False)  # fmt: skip
    deferred = train_ensemble(spec, init_mlp_ensemble(spec, seeds), data, cfg, seeds,
                              defer_checks=True)  # fmt: skip
    _assert_same_result(eager, deferred)
    if max(lr) > 1e3:
        assert eager.diverged.any()


def test_numpy_data_and_float64():
    spec, seeds = spec_for(), [0, 1]
    data = {k: v.numpy() for k, v in toy_data().items()}
    cfg = TrainConfig(epochs=2, batch_size=16, lr=0.05)
    res = train_ensemble(
        spec, init_mlp_ensemble(spec, seeds, dtype=torch.float64), data, cfg, seeds
    )
    assert res.params[0].dtype == torch.float64
    res32 = train_ensemble(spec, init_mlp_ensemble(spec, seeds), data, cfg, seeds)
    assert_params_close([p.float() for p in res.params], res32.params, rtol=1e-4, atol=1e-5)


def test_mse_on_class_labels_uses_one_hot_and_reports_accuracy():
    spec, data, seeds = spec_for(), toy_data(), [0]
    cfg = TrainConfig(epochs=5, batch_size=16, lr=0.05, momentum=0.9, loss="mse")
    res = train_ensemble(spec, init_mlp_ensemble(spec, seeds), data, cfg, seeds)
    assert res.history.test_acc.iloc[-1] > 0.8


def test_log_and_threads():
    spec, data, seeds = spec_for(), toy_data(), [0, 1]
    lines = []
    before = torch.get_num_threads()
    cfg = TrainConfig(epochs=2, batch_size=16, lr=0.05, threads=1)
    train_ensemble(spec, init_mlp_ensemble(spec, seeds), data, cfg, seeds, log=lines.append)
    assert torch.get_num_threads() == before
    assert "median train loss" in lines[-1] and "samples/s" in lines[-1]
    assert lines[-1].startswith("epoch 2/2")
    # elapsed time and the job's ETA (unknown before the first epoch, 0 at the end)
    assert re.search(r"elapsed \d+:\d\d:\d\d, ETA 0:00:00$", lines[-1]), lines[-1]
    assert lines[0].endswith("ETA ?")
    with pytest.raises(ValueError, match="log must be None or a callable"):
        train_ensemble(spec, init_mlp_ensemble(spec, seeds), data, cfg, seeds, log=io.StringIO())


def test_bad_input_is_a_clear_error():
    spec, data, seeds = spec_for(), toy_data(), [0, 1]
    params = init_mlp_ensemble(spec, seeds)
    with pytest.raises(ValueError, match="2 members"):
        train_ensemble(
            spec, params, data, TrainConfig(epochs=1, batch_size=8, lr=(0.1, 0.1, 0.1)), seeds
        )
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(epochs=1, batch_size=8, lr=0.1, optimizer="lbfgs")
    with pytest.raises(ValueError, match="shape"):
        train_ensemble(
            spec,
            params,
            {**data, "x": data["x"][:, :5]},
            TrainConfig(epochs=1, batch_size=8, lr=0.1),
            seeds,
        )
    with pytest.raises(ValueError, match="labels"):
        train_ensemble(
            spec,
            params,
            {**data, "y": data["y"] + 3},
            TrainConfig(epochs=1, batch_size=8, lr=0.1),
            seeds,
        )
    with pytest.raises(ValueError, match="binary"):
        masks = [torch.full_like(params[0], 0.5)] + [None] * (len(params) - 1)
        train_ensemble(
            spec, params, data, TrainConfig(epochs=1, batch_size=8, lr=0.1), seeds, masks=masks
        )


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_resolve_device_without_cuda():
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu9")


# ----------------------------------------------------------------------------- per-member data


def per_member_data(seeds, classes=3, seed=0):
    """toy_data with member k's labels permuted at random (its own labels) and, for the last
    member, its own random inputs."""
    base = toy_data(classes=classes, seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    K, n = len(seeds), len(base["y"])
    ys = torch.stack([base["y"][torch.randperm(n, generator=g)] for _ in range(K)])
    xs = base["x"].expand(K, -1, -1).clone()
    xs[-1] = torch.randn(n, base["x"].shape[1], generator=g)
    return base, xs, ys


@pytest.mark.parametrize("optimizer,momentum,loss", [("sgd", 0.9, "ce"), ("adam", 0.0, "mse")])
@pytest.mark.parametrize("own_inputs", [False, True])
def test_per_member_data_equals_members_trained_alone(optimizer, momentum, loss, own_inputs):
    """An ensemble whose members have their own labels (K, n) (and inputs (K, n, d)) equals
    each member trained alone on its labels (inputs): params, curves, accuracies."""
    seeds = [4, 9, 4]  # members may share a seed (the same init and batch order)
    base, xs, ys = per_member_data(seeds)
    spec = spec_for()
    cfg = TrainConfig(epochs=3, batch_size=20, lr=0.02, optimizer=optimizer, momentum=momentum,
                      loss=loss)  # fmt: skip
    x = xs if own_inputs else base["x"]
    data = {"x": x, "y": ys, "x_test": base["x_test"], "y_test": base["y_test"]}
    ens = train_ensemble(spec, init_mlp_ensemble(spec, seeds), data, cfg, seeds)
    h = ens.history.set_index(["member", "epoch"])
    for k, s in enumerate(seeds):
        xk = xs[k] if own_inputs else base["x"]
        solo_data = {"x": xk, "y": ys[k], "x_test": base["x_test"], "y_test": base["y_test"]}
        solo = train_ensemble(spec, init_mlp_ensemble(spec, [s]), solo_data, cfg, [s])
        assert_params_close([p[k : k + 1] for p in ens.params], solo.params)
        hs = solo.history.set_index("epoch")
        for col in ("train_loss", "test_loss", "train_acc", "test_acc"):
            np.testing.assert_allclose(h.loc[k][col].to_numpy(), hs[col].to_numpy(), rtol=1e-5)
    # members 0 and 2 share the init and the batch order but not the labels: they differ
    assert not torch.allclose(ens.params[0][0], ens.params[0][2])


def test_per_member_regression_targets_equal_members_trained_alone():
    """Float targets per member (K, n, out) with inputs per member (K, n, d): every member
    trains on its own regression problem, as if alone (full batch and mini-batches)."""
    seeds = [3, 5, 8]
    g = torch.Generator().manual_seed(11)
    K, n, d = len(seeds), 40, 6
    xs, ys = torch.randn(K, n, d, generator=g), torch.randn(K, n, 2, generator=g)
    spec = MLPSpec(in_dim=d, hidden=(16,), out_dim=2)
    for batch in (n, 16):
        cfg = TrainConfig(epochs=4, batch_size=batch, lr=0.05, momentum=0.5, loss="mse")
        ens = train_ensemble(spec, init_mlp_ensemble(spec, seeds), {"x": xs, "y": ys}, cfg, seeds)
        h = ens.history.set_index(["member", "epoch"])
        for k, s in enumerate(seeds):
            solo = train_ensemble(spec, init_mlp_ensemble(spec, [s]), {"x": xs[k], "y": ys[k]},
                                  cfg, [s])  # fmt: skip
            assert_params_close([p[k : k + 1] for p in ens.params], solo.params)
            np.testing.assert_allclose(h.loc[k]["train_loss"].to_numpy(),
                                       solo.history["train_loss"].to_numpy(), rtol=1e-5)  # fmt: skip
    bad = {"x": xs, "y": ys[:, :, :1]}
    with pytest.raises(ValueError, match=r"per-member targets need \(3, 40, 2\)"):
        train_ensemble(spec, init_mlp_ensemble(spec, seeds), bad, cfg, seeds)


def test_per_member_data_shapes_are_checked():
    spec, seeds = spec_for(), [0, 1]
    base, xs, ys = per_member_data(seeds)
    cfg = TrainConfig(epochs=1, batch_size=16, lr=0.01)
    p = init_mlp_ensemble(spec, seeds)
    with pytest.raises(ValueError, match="per-member labels need"):
        train_ensemble(spec, p, {"x": base["x"], "y": ys[:1].expand(3, -1)}, cfg, seeds)
    with pytest.raises(ValueError, match="per member"):
        train_ensemble(spec, p, {"x": xs[:1].expand(3, -1, -1), "y": base["y"]}, cfg, seeds)
    with pytest.raises(ValueError, match="rows"):
        train_ensemble(spec, p, {"x": base["x"], "y": ys[:, :-1]}, cfg, seeds)


def test_stop_train_acc_freezes_members_at_full_accuracy():
    spec, data, seeds = spec_for(), toy_data(), [0, 1, 2]
    cfg = TrainConfig(epochs=200, batch_size=16, lr=0.01, optimizer="adam", stop_train_acc=1.0)
    res = train_ensemble(spec, init_mlp_ensemble(spec, seeds), data, cfg, seeds)
    h = res.history
    assert res.stopped.all() and h.epoch.max() < 200  # everyone fitted: the run ended early
    for k in range(3):
        hk = h[h.member == k]
        first = hk[hk.stopped].index[0]
        assert hk.loc[first, "train_acc"] == 1.0
        assert (hk.loc[: first - 1, "train_acc"] < 1.0).all()  # stopped at the first epoch
        assert hk.loc[first:, "train_loss"].nunique() == 1  # frozen
    with pytest.raises(ValueError, match="stop_train_acc"):
        TrainConfig(epochs=1, batch_size=1, lr=0.1, stop_train_acc=0.0)


def _update_per_tensor(cfg, params, grads, state, neg_lr, t):
    """The optimizer step as one Python loop of per-tensor ops (the trainer's former form)."""
    b1, b2 = cfg.betas
    for i, (p, g, c) in enumerate(zip(params, grads, neg_lr)):
        if cfg.weight_decay:
            g.add_(p, alpha=cfg.weight_decay)
        if cfg.optimizer == "sgd":
            if cfg.momentum:
                g = state["buf"][i].mul_(cfg.momentum).add_(g)
            p.addcmul_(g, c)
        else:
            m, v = state["m"][i], state["v"][i]
            m.lerp_(g, 1.0 - b1)
            v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
            den = torch.sqrt(v).div_(math.sqrt(1.0 - b2**t)).add_(cfg.eps)
            p.addcmul_(torch.div(m, den), c, value=1.0 / (1.0 - b1**t))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "optimizer,momentum,wd", [("sgd", 0.0, 0.0), ("sgd", 0.9, 1e-3), ("adam", 0.0, 1e-2)]
)
def test_foreach_update_is_bit_identical_to_per_tensor_ops(dtype, optimizer, momentum, wd):
    from overparam.train import _init_state, _neg_lr_views, _update

    spec = spec_for()
    cfg = TrainConfig(epochs=1, batch_size=8, lr=0.1, optimizer=optimizer, momentum=momentum,
                      weight_decay=wd)  # fmt: skip
    g = torch.Generator().manual_seed(0)
    ours = init_mlp_ensemble(spec, [0, 1, 2], dtype=dtype)
    ref = [p.clone() for p in ours]
    state_ours, state_ref = _init_state(cfg, ours), _init_state(cfg, ref)
    neg_lr = _neg_lr_views(torch.tensor([0.1, 0.03, 0.0], dtype=torch.float64), ours)
    for t in range(1, 6):
        grads = [torch.randn(p.shape, generator=g, dtype=dtype) for p in ours]
        _update(cfg, ours, [x.clone() for x in grads], state_ours, neg_lr, t)
        _update_per_tensor(cfg, ref, [x.clone() for x in grads], state_ref, neg_lr, t)
    for a, b in zip(ours, ref):
        assert torch.equal(a, b)
    assert not torch.equal(ours[0], init_mlp_ensemble(spec, [0, 1, 2], dtype=dtype)[0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_adam_with_subnormal_second_moments_is_bit_identical(dtype):
    """The update reads subnormal second moments as 0 (fast on CPUs); den is unchanged."""
    from overparam.train import _denormals_vanish, _init_state, _neg_lr_views, _update

    assert _denormals_vanish(dtype, math.sqrt(1 - 0.999), 1e-8)
    assert not _denormals_vanish(dtype, math.sqrt(1 - 0.999), 0.0)  # no eps: exact path
    spec = spec_for()
    cfg = TrainConfig(epochs=1, batch_size=8, lr=0.1, optimizer="adam")
    g = torch.Generator().manual_seed(1)
    ours = init_mlp_ensemble(spec, [0, 1], dtype=dtype)
    ref = [p.clone() for p in ours]
    st_ours, st_ref = _init_state(cfg, ours), _init_state(cfg, ref)
    tiny = torch.finfo(dtype).tiny
    for st in (st_ours, st_ref):
        for v in st["v"]:
            v.copy_(
                torch.rand(v.shape, generator=torch.Generator().manual_seed(2), dtype=dtype) * tiny
            )
    assert all((0 < v).any() and (v < tiny).all() for v in st_ours["v"])  # subnormal
    neg_lr = _neg_lr_views(torch.tensor([0.1, 0.01], dtype=torch.float64), ours)
    for t in range(1, 4):
        grads = [torch.randn(p.shape, generator=g, dtype=dtype) * 1e-25 for p in ours]
        _update(cfg, ours, [x.clone() for x in grads], st_ours, neg_lr, t)
        _update_per_tensor(cfg, ref, [x.clone() for x in grads], st_ref, neg_lr, t)
    for a, b in zip(ours + st_ours["m"] + st_ours["v"], ref + st_ref["m"] + st_ref["v"]):
        assert torch.equal(a, b)
