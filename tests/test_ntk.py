"""overparam.ntk: the empirical NTK, the linearised model and gradient flow with a kernel."""

import math

import numpy as np
import pytest
import torch

from overparam import ntk
from overparam.models import MLPSpec, init_mlp_ensemble


def _member(spec, seed=0, dtype=torch.float64):
    return [p[0] for p in init_mlp_ensemble(spec, [seed], dtype=dtype)]


def _x(n=6, d=5, seed=0, dtype=torch.float64):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("par", ["standard", "ntk"])
def test_ntk_of_a_linear_model_is_the_gram_matrix(par):
    spec = MLPSpec(5, (), 1, activation="identity", parametrization=par, bias=False)
    x, z = _x(), _x(3, seed=1)
    scale = 1.0 if par == "standard" else 1 / 5  # NTK parametrisation: W x / sqrt(fan_in)
    theta = ntk.empirical_ntk(spec, _member(spec), x, z)
    torch.testing.assert_close(theta, scale * x @ z.T)
    # a bias adds beta^2 (ntk) or 1 (standard) to every entry
    spec_b = MLPSpec(5, (), 1, activation="identity", parametrization=par)
    extra = 0.01 if par == "ntk" else 1.0
    torch.testing.assert_close(
        ntk.empirical_ntk(spec_b, _member(spec_b), x), scale * x @ x.T + extra
    )


def test_ntk_is_the_gram_matrix_of_per_sample_gradients():
    spec = MLPSpec(3, (7, 5), 1, activation="tanh", parametrization="ntk")
    params, x = _member(spec), _x(4, 3)
    rows = []
    for i in range(4):
        ps = [p.clone().requires_grad_(True) for p in params]
        out = ntk.member_output(spec, ps, x[i : i + 1], output_scale=0.5)
        rows.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(out.sum(), ps)]))
    j = torch.stack(rows)
    torch.testing.assert_close(ntk.empirical_ntk(spec, params, x, output_scale=0.5), j @ j.T)


def test_ntk_parametrisation_keeps_the_kernel_of_order_one():
    """Theta(x, x) at init: width-independent in NTK parametrisation (Jacot et al. 2018), growing
    linearly with width in the standard one (its output layer's gradient is the hidden layer)."""
    x = _x(4, 5, dtype=torch.float32)
    x = x * math.sqrt(5) / x.norm(dim=1, keepdim=True)

    def diag(par, w):
        spec = MLPSpec(5, (w,), 1, parametrization=par)
        vals = [ntk.empirical_ntk(spec, _member(spec, s, torch.float32), x).diagonal().mean()
                for s in range(4)]  # fmt: skip
        return float(np.mean(vals))

    assert diag("ntk", 2048) / diag("ntk", 128) == pytest.approx(1.0, abs=0.15)
    assert diag("standard", 2048) / diag("standard", 128) > 8


def test_linearised_gd_is_exact_for_a_linear_model():
    spec = MLPSpec(5, (), 1, activation="identity", parametrization="ntk")
    x, y = _x(10, 5), torch.sin(_x(10, 1, seed=3)[:, 0])
    params = init_mlp_ensemble(spec, [0, 1], dtype=torch.float64)
    final, losses = ntk.train_gd(spec, params, x[:6], y[:6], lr=0.3, steps=50)
    assert losses[-1].max() < losses[0].min()
    for k in range(2):
        p0 = [p[k] for p in params]
        theta, f0 = ntk.empirical_ntk(spec, p0, x), ntk.member_output(spec, p0, x).detach()
        lin = ntk.linearised_gd(theta, f0, y[:6], 6, lr=0.3, steps=50)
        torch.testing.assert_close(lin, ntk.member_output(spec, [p[k] for p in final], x).detach())


def test_gradient_flow_closed_form():
    spec = MLPSpec(5, (), 1, activation="identity", parametrization="ntk")
    x, y = _x(10, 5), torch.sin(_x(10, 1, seed=3)[:, 0])
    p = _member(spec)
    theta, f0 = ntk.empirical_ntk(spec, p, x), ntk.member_output(spec, p, x).detach()
    torch.testing.assert_close(ntk.kernel_regression(theta, f0, y[:4], 4, 0.0), f0)
    # long flow: interpolates the training points and reaches kernel regression
    far = ntk.kernel_regression(theta, f0, y[:4], 4, 1e6)
    torch.testing.assert_close(far[:4], y[:4])
    torch.testing.assert_close(far, ntk.kernel_regression(theta, f0, y[:4], 4, None))
    # small steps of GD on the linearised model follow the flow: tau = lr x steps
    gd = ntk.linearised_gd(theta, f0, y[:4], 4, lr=0.001, steps=2000)
    torch.testing.assert_close(
        gd, ntk.kernel_regression(theta, f0, y[:4], 4, 2.0), atol=2e-3, rtol=0
    )


def test_relative_change():
    a = torch.tensor([3.0, 4.0])
    assert ntk.relative_change(a * 1.1, a) == pytest.approx(0.1)


@pytest.mark.parametrize("depth", [1, 2])
def test_relu_ntk_limit_is_the_wide_networks_kernel(depth):
    """The analytic limit NTK is what the empirical NTK of wide NTK-parametrised ReLU
    networks (models.MLPSpec) approaches: within a few percent at width 3000 (the fluctuation
    is O(width^-1/2)), and far off for a wrong depth."""
    x = np.random.default_rng(0).standard_normal((6, 5)).astype(np.float32)
    sigma, theta = ntk.relu_ntk_limit(x, depth=depth, beta=0.1)
    assert sigma.shape == theta.shape == (6, 6) and np.allclose(theta, theta.T)
    spec = MLPSpec(5, (3000,) * depth, 1, parametrization="ntk")
    emp = np.mean(
        [
            ntk.empirical_ntk(
                spec, [p[0] for p in init_mlp_ensemble(spec, [s])], torch.as_tensor(x)
            )
            .double()
            .numpy()
            for s in range(2)
        ],
        axis=0,
    )
    assert np.linalg.norm(emp - theta) / np.linalg.norm(theta) < 0.06
    _, wrong = ntk.relu_ntk_limit(x, depth=depth + 1, beta=0.1)
    assert np.linalg.norm(emp - wrong) / np.linalg.norm(wrong) > 0.1
    # the cross kernel's blocks are the full kernel's
    s12, t12 = ntk.relu_ntk_limit(x[:2], x[2:], depth=depth)
    np.testing.assert_allclose(t12, theta[:2, 2:], rtol=1e-12)
    np.testing.assert_allclose(s12, sigma[:2, 2:], rtol=1e-12)


def test_relu_ntk_limit_of_one_layer_by_hand():
    """depth 1, orthogonal unit-scale inputs: Sigma_1 = beta^2 off the diagonal (angle
    arccos(beta^2 / (1 + beta^2))), checked against the closed forms written out."""
    x = np.sqrt(2.0) * np.eye(2)  # |x|^2 / d = 1
    b2 = 0.01
    sigma, theta = ntk.relu_ntk_limit(x, depth=1, beta=0.1)
    s, c = 1 + b2, b2
    t = math.acos(c / s)
    e = s * (math.sin(t) + (math.pi - t) * math.cos(t)) / (2 * math.pi)
    assert sigma[0, 1] == pytest.approx(e + b2)
    assert theta[0, 1] == pytest.approx(c * (math.pi - t) / (2 * math.pi) + e + b2)
    assert theta[0, 0] == pytest.approx(s / 2 + s / 2 + b2)
    with pytest.raises(ValueError, match="depth"):
        ntk.relu_ntk_limit(x, depth=0)


def test_kernel_gd_losses_follow_linearised_gd():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((7, 7))
    theta = a @ a.T
    f0, y = rng.standard_normal(7), rng.standard_normal(7)
    lr = 0.5
    got = ntk.kernel_gd_losses(theta, f0 - y, lr, 25)
    th, f0t, yt = (torch.as_tensor(v) for v in (theta, f0, y))
    want = [float(((ntk.linearised_gd(th, f0t, yt, 7, lr, k) - yt) ** 2).mean()) for k in range(26)]
    np.testing.assert_allclose(got, want, rtol=1e-10)
    assert got[0] == pytest.approx(np.mean((f0 - y) ** 2))
