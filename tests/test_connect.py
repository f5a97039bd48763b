"""Mode-connectivity geometry (overparam.connect): paths, barriers, Bezier curves, weight
matching, and the reference demo's pair of networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from overparam import connect
from overparam.models import MLPSpec, init_mlp_ensemble, mlp_forward
from overparam.train import TrainConfig, train_ensemble

SPEC = MLPSpec(in_dim=5, hidden=(12, 9), out_dim=3)
ALPHAS = np.linspace(0, 1, 11)


def net(seed, spec=SPEC):
    return [p[0] for p in init_mlp_ensemble(spec, [seed])]


def toy(n=64, seed=0, classes=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, SPEC.in_dim, generator=g)
    if classes:
        return x, torch.randint(0, SPEC.out_dim, (n,), generator=g)
    return x, torch.sin(x[:, :3]) + 0.1 * torch.randn(n, 3, generator=g)


def forward(spec, params, x):
    return mlp_forward(spec, [p.unsqueeze(0) for p in params], x)[0]


def random_perms(spec, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randperm(h, generator=g).numpy() for h in spec.hidden]


# ----------------------------------------------------------------------------- paths, barrier


def test_barrier_closed_forms():
    a = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    bump = np.array([0.0, 0.5, 1.0, 0.5, 0.0])
    assert connect.barrier(bump, a) == 1.0 and connect.barrier(bump, a, "mean") == 1.0
    line = 2.0 * a  # L linear in alpha: no barrier above the chord, 1 above the mean
    assert connect.barrier(line, a) == 0.0 and connect.barrier(line, a, "mean") == 1.0
    np.testing.assert_array_equal(connect.barrier(np.stack([bump, line], 1), a), [1.0, 0.0])
    with pytest.raises(ValueError, match="include 0 and 1"):
        connect.barrier(bump[:4], a[:4])
    with pytest.raises(ValueError, match="reference"):
        connect.barrier(bump, a, "max")


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_barrier_of_a_network_with_itself_is_zero(loss):
    x, y = toy(classes=loss == "ce")
    w = net(0)
    losses, errors = connect.evaluate_path(SPEC, connect.interpolate(w, w, ALPHAS), x, y, loss)
    for ref in connect.BARRIER_REFERENCES:
        # (1 - a) w + a w equals w up to rounding: zero within float precision
        assert abs(connect.barrier(losses, ALPHAS, ref)) < 1e-6 * losses[0]
        if errors is not None:
            assert connect.barrier(errors, ALPHAS, ref) == 0.0


def test_interpolation_endpoints_are_exact():
    wa, wb = net(0), net(1)
    x, y = toy()
    assert all(map(torch.equal, connect.interpolate(wa, wb, 0.0), wa))
    assert all(map(torch.equal, connect.interpolate(wa, wb, 1.0), wb))
    pts = connect.interpolate(wa, wb, ALPHAS)
    assert all(torch.equal(p[0], a) and torch.equal(p[-1], b) for p, a, b in zip(pts, wa, wb))
    losses, _ = connect.evaluate_path(SPEC, pts, x, y, "mse")
    ends = connect.evaluate_path(SPEC, [torch.stack([a, b]) for a, b in zip(wa, wb)], x, y, "mse")
    np.testing.assert_allclose(losses[[0, -1]], ends[0], rtol=1e-12)
    direct = [float((forward(SPEC, w, x) - y).square().mean()) for w in (wa, wb)]
    np.testing.assert_allclose(losses[[0, -1]], direct, rtol=1e-6)


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_batched_path_equals_a_loop_over_alphas(loss):
    x, y = toy(classes=loss == "ce")
    wa, wb = init_mlp_ensemble(SPEC, [0, 1]), init_mlp_ensemble(SPEC, [2, 3])  # K = 2 pairs
    losses, errors = connect.evaluate_path(SPEC, connect.interpolate(wa, wb, ALPHAS), x, y, loss)
    assert losses.shape == (len(ALPHAS), 2)
    for i, a in enumerate(ALPHAS):
        pts = [p.unsqueeze(0) for p in connect.interpolate(wa, wb, float(a))]
        one_loss, one_err = connect.evaluate_path(SPEC, pts, x, y, loss)
        np.testing.assert_allclose(losses[i], one_loss[0], rtol=1e-6)
        if loss == "ce":
            np.testing.assert_array_equal(errors[i], one_err[0])
        else:
            assert errors is None and one_err is None


# ----------------------------------------------------------------------------- Bezier curves


def test_bezier_endpoints_and_midpoint():
    wa, wb = net(0), net(1)
    theta = connect.midpoint(wa, wb)
    assert all(map(torch.equal, connect.bezier(wa, theta, wb, 0.0), wa))
    assert all(map(torch.equal, connect.bezier(wa, theta, wb, 1.0), wb))
    for p, q in zip(connect.bezier(wa, theta, wb, 0.5), connect.interpolate(wa, wb, 0.5)):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-7)
    # with theta at the midpoint the curve is the line, at every t
    ts = np.linspace(0, 1, 61)
    for p, q in zip(connect.bezier(wa, theta, wb, ts), connect.interpolate(wa, wb, ts)):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def trained_pairs():
    """Two pairs of small networks trained to low loss on the toy regression (K = 2 pairs)."""
    x, y = toy(n=96)
    cfg = TrainConfig(epochs=300, batch_size=96, lr=0.02, optimizer="adam", loss="mse",
                      eval_every=300)  # fmt: skip
    res = train_ensemble(SPEC, init_mlp_ensemble(SPEC, range(4)), {"x": x, "y": y}, cfg, range(4))
    return [p[:2] for p in res.params], [p[2:] for p in res.params], x, y


@pytest.mark.parametrize("batched", [False, True])
def test_bezier_training_lowers_the_curve_loss(batched, trained_pairs):
    wa, wb, x, y = trained_pairs
    if not batched:
        wa, wb = [p[0] for p in wa], [p[0] for p in wb]
    ts = np.linspace(0, 1, 61)
    line = connect.bezier(wa, connect.midpoint(wa, wb), wb, ts)
    before, _ = connect.evaluate_path(SPEC, line, x, y, "mse")
    cfg = TrainConfig(epochs=20, batch_size=32, lr=0.02, momentum=0.9, loss="mse")
    res = connect.train_bezier(SPEC, wa, wb, x, y, cfg, torch.Generator().manual_seed(0))
    assert [p.shape for p in res.theta] == [p.shape for p in wa]
    assert res.epoch_loss.shape == ((20, 2) if batched else (20,))
    after, _ = connect.evaluate_path(SPEC, connect.bezier(wa, res.theta, wb, ts), x, y, "mse")
    np.testing.assert_allclose(after[[0, -1]], before[[0, -1]], rtol=1e-6)  # endpoints fixed
    assert np.all(connect.barrier(before, ts) > 0.3)  # the line between them has a barrier
    assert np.all(after.mean(0) < 0.7 * before.mean(0))
    assert np.all(connect.barrier(after, ts) < 0.7 * connect.barrier(before, ts))
    again = connect.train_bezier(SPEC, wa, wb, x, y, cfg, torch.Generator().manual_seed(0))
    assert all(map(torch.equal, again.theta, res.theta))  # seeded: reproducible


def test_bezier_training_with_adam_on_classes():
    x, y = toy(n=96, classes=True)
    wa, wb = net(0), net(1)
    ts = np.linspace(0, 1, 21)
    before, _ = connect.evaluate_path(
        SPEC, connect.bezier(wa, connect.midpoint(wa, wb), wb, ts), x, y, "ce"
    )
    cfg = TrainConfig(epochs=20, batch_size=32, lr=0.01, optimizer="adam", loss="ce")
    res = connect.train_bezier(SPEC, wa, wb, x, y, cfg, torch.Generator().manual_seed(1))
    after, errors = connect.evaluate_path(SPEC, connect.bezier(wa, res.theta, wb, ts), x, y, "ce")
    assert after.mean() < before.mean() and errors.shape == (21,)


def test_garipov_schedule_factors():
    # their train.py: epochs 1..E, factor 1 up to half, linear to 0.01 at 90%, then 0.01
    f = [connect.garipov_lr_factor(e, 10) for e in range(1, 11)]
    np.testing.assert_allclose(f, [1, 1, 1, 1, 1, 1 - 0.99 / 4, 1 - 0.99 / 2, 1 - 0.99 * 3 / 4,
                                   0.01, 0.01])  # fmt: skip


def test_scheduled_bezier_without_schedule_or_penalty_is_train_bezier(trained_pairs):
    wa, wb, x, y = trained_pairs
    cfg = TrainConfig(epochs=4, batch_size=32, lr=0.02, momentum=0.9, loss="mse")
    plain = connect.train_bezier(SPEC, wa, wb, x, y, cfg, torch.Generator().manual_seed(0))
    same = connect.train_bezier_scheduled(
        SPEC, wa, wb, x, y, cfg, torch.Generator().manual_seed(0), l2=0.0, schedule="constant"
    )
    assert all(map(torch.equal, plain.theta, same.theta))
    np.testing.assert_array_equal(plain.epoch_loss, same.epoch_loss)


def test_scheduled_bezier_decays_the_lr_and_penalises_the_curve(trained_pairs):
    wa, wb, x, y = trained_pairs
    cfg = TrainConfig(epochs=10, batch_size=32, lr=0.02, momentum=0.9, loss="mse")

    def fit(**kw):
        return connect.train_bezier_scheduled(
            SPEC, wa, wb, x, y, cfg, torch.Generator().manual_seed(0), **kw
        )

    const, sched = fit(schedule="constant"), fit(schedule="garipov")
    # the first half of the epochs is at the full lr: the same steps, then they part
    np.testing.assert_array_equal(const.epoch_loss[:5], sched.epoch_loss[:5])
    assert not np.array_equal(const.epoch_loss[5:], sched.epoch_loss[5:])
    # the penalty on phi(t) pulls the control point towards the origin
    heavy = fit(l2=1.0)
    norm = [
        sum(float(p[k].square().sum()) for p in r.theta) for r in (sched, heavy) for k in (0, 1)
    ]
    assert norm[2] < norm[0] and norm[3] < norm[1]
    with pytest.raises(ValueError, match="weight_decay"):
        connect.train_bezier_scheduled(SPEC, wa, wb, x, y, TrainConfig(
            epochs=1, batch_size=32, lr=0.02, weight_decay=1e-4, loss="mse"),
            torch.Generator())  # fmt: skip
    with pytest.raises(ValueError, match="schedule"):
        fit(schedule="cosine")


# ----------------------------------------------------------------------------- permutations


@pytest.mark.parametrize(
    "spec",
    [SPEC, MLPSpec(5, (12, 9, 7), 3, parametrization="ntk"), MLPSpec(5, (12,), 3, bias=False)],
    ids=["standard", "ntk-3-hidden", "no-bias"],
)
def test_permuted_network_computes_the_same_function(spec):
    w = net(0, spec)
    perms = random_perms(spec, 5)
    p = connect.permute_hidden(spec, w, perms)
    assert not all(map(torch.equal, p, w))
    x, _ = toy()
    torch.testing.assert_close(forward(spec, p, x), forward(spec, w, x), rtol=1e-5, atol=1e-6)
    stacked = init_mlp_ensemble(spec, [0, 1])  # the same perms for every member
    ps = connect.permute_hidden(spec, stacked, perms)
    assert all(torch.equal(a[0], b) for a, b in zip(ps, p))


def test_weight_matching_recovers_a_permutation():
    spec = MLPSpec(5, (12, 9, 7), 3)
    wa = net(0, spec)
    perms = random_perms(spec, 3)
    wb = connect.permute_hidden(spec, wa, perms)
    found = connect.weight_matching(spec, wa, wb, rng=np.random.default_rng(0))
    for f, p in zip(found, perms):
        np.testing.assert_array_equal(f, np.argsort(p))  # the inverse permutation
    aligned = connect.permute_hidden(spec, wb, found)
    assert all(map(torch.equal, aligned, wa))
    x, y = toy()
    losses, _ = connect.evaluate_path(spec, connect.interpolate(wa, aligned, ALPHAS), x, y, "mse")
    assert abs(connect.barrier(losses, ALPHAS)) < 1e-6 * losses[0]  # float precision


@pytest.mark.parametrize("seed", range(4))
def test_weight_matching_never_lowers_the_objective(seed):
    spec = MLPSpec(5, (12, 9, 7), 3)
    wa, wb = net(2 * seed, spec), net(2 * seed + 1, spec)
    found = connect.weight_matching(spec, wa, wb, rng=np.random.default_rng(seed))
    start = connect.matching_objective(wa, wb)
    end = connect.matching_objective(wa, connect.permute_hidden(spec, wb, found))
    assert end > start
    # a fixed point: one more descent from the result changes nothing
    aligned = connect.permute_hidden(spec, wb, found)
    again = connect.weight_matching(spec, wa, aligned, rng=np.random.default_rng(seed + 10))
    assert all(np.array_equal(g, np.arange(len(g))) for g in again)


def test_weight_matching_rejects_stacks():
    w = init_mlp_ensemble(SPEC, [0, 1])
    with pytest.raises(ValueError, match="no member dimension"):
        connect.weight_matching(SPEC, w, w, rng=np.random.default_rng(0))


# ----------------------------------------------------------------------------- the demo


def test_normal_init_matches_nn_init():
    net_ = torch.nn.Sequential(torch.nn.Linear(5, 12), torch.nn.ReLU(), torch.nn.Linear(12, 9))
    with torch.random.fork_rng():
        torch.manual_seed(7)
        for p in net_.parameters():
            torch.nn.init.normal_(p, std=0.1)
    ours = connect.normal_init(MLPSpec(5, (12,), 9), [7], 0.1)
    assert all(torch.equal(p, q[0]) for p, q in zip(net_.parameters(), ours))


def test_demo_pair_interpolates_and_follows_the_reference_loop():
    d = connect.demo_pair()
    assert d.spec.dims == (10, 200, 200, 1) and d.x.shape == (50, 10) and d.y.shape == (50, 1)
    assert np.all(d.train_mse < 1e-6) and np.all(d.steps < 5000)
    losses, _ = connect.evaluate_path(d.spec, [p.unsqueeze(0) for p in d.params], d.x, d.y, "mse")
    np.testing.assert_allclose(losses[0], d.train_mse, rtol=1e-9)
    # the demo's own loop (nn.Sequential + torch.optim.Adam, stop on the pre-step loss) from
    # the same init takes exactly one step more than the frozen members here
    init = connect.normal_init(d.spec, [1], 0.1)
    model = torch.nn.Sequential(
        torch.nn.Linear(10, 200), torch.nn.ReLU(), torch.nn.Linear(200, 200), torch.nn.ReLU(),
        torch.nn.Linear(200, 1),
    )  # fmt: skip
    with torch.no_grad():
        for p, q in zip(model.parameters(), init):
            p.copy_(q[0])
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    steps, loss = 0, torch.tensor(1.0)
    while loss.item() >= 1e-6 and steps < 5000:
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(d.x), d.y)
        loss.backward()
        opt.step()
        steps += 1
    assert steps == d.steps[0] + 1
