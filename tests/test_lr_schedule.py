"""The opt-in linear learning-rate decay of ``TrainConfig`` (mode_connectivity's SGD runs):
it follows torch.optim.SGD with a LambdaLR, a continued run with ``decay_offset`` picks up the
schedule where the first stopped, and the constant default is the old code path."""

import pytest
import torch

from overparam.models import init_mlp_ensemble
from overparam.train import TrainConfig, batch_generator, train_ensemble

from .test_train import assert_params_close, spec_for, torch_net, toy_data


def _torch_sgd_linear(spec, params_k, data, cfg, seed, total):
    net, linears = torch_net(spec, params_k)
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1 - t / total)
    gen = batch_generator(seed)
    x, y = data["x"], data["y"]
    for _ in range(cfg.epochs):
        perm = torch.randperm(x.shape[0], generator=gen)
        for a in range(0, x.shape[0], cfg.batch_size):
            idx = perm[a : a + cfg.batch_size]
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return [t.detach() for lin in linears for t in (lin.weight, lin.bias)]


def test_linear_decay_matches_torch_lambda_lr():
    spec, data, seeds = spec_for(False), toy_data(n=100), [3, 4]
    cfg = TrainConfig(epochs=3, batch_size=16, lr=0.1, momentum=0.9, lr_schedule="linear")
    params = init_mlp_ensemble(spec, seeds)
    res = train_ensemble(spec, params, data, cfg, seeds)
    for k, s in enumerate(seeds):
        ref = _torch_sgd_linear(spec, [p[k] for p in params], data, cfg, s, total=3 * 7)
        assert_params_close([p[k] for p in res.params], ref)
    const = train_ensemble(spec, params, data, TrainConfig(3, 16, 0.1, momentum=0.9), seeds)
    assert not torch.allclose(const.params[0], res.params[0])  # the decay changed the run


def test_decay_offset_continues_the_schedule():
    """Full-batch GD (no batch order, no optimizer state): 4 steps in one run equal 2 steps,
    then 2 more from the step-2 checkpoint with decay_offset 2 (the schedule's length then
    defaults to 2 + 2)."""
    spec, data, seeds = spec_for(False), toy_data(n=64), [5]
    params = init_mlp_ensemble(spec, seeds)
    gd = TrainConfig(epochs=4, batch_size=64, lr=0.2, lr_schedule="linear", checkpoint_steps=(2,))
    a = train_ensemble(spec, params, data, gd, seeds)
    rest = TrainConfig(epochs=2, batch_size=64, lr=0.2, lr_schedule="linear", decay_offset=2)
    b = train_ensemble(spec, a.checkpoints[2], data, rest, seeds)
    assert_params_close(list(b.params), list(a.params))


@pytest.mark.parametrize("kw", [{"lr_schedule": "cosine"}, {"decay_steps": 0},
                                {"decay_offset": -1}])  # fmt: skip
def test_schedule_settings_are_checked(kw):
    with pytest.raises(ValueError, match="invalid TrainConfig"):
        TrainConfig(epochs=1, batch_size=1, lr=0.1, **kw)
