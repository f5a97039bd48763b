"""overparam.sharpness: the top Hessian eigenvalue against known quadratics and the full
Hessian of a tiny MLP, Keskar's epsilon-sharpness (closed form on a diagonal quadratic, zero
at eps 0, monotone in eps, inside the box) and 1-D slices."""

import numpy as np
import pytest
import torch

from overparam import sharpness
from overparam.models import MLPSpec, init_mlp_ensemble


@pytest.fixture(autouse=True)
def float64():
    """Every test here in float64 (exact comparisons), the default restored after it."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def quadratic(A: torch.Tensor, c: torch.Tensor | None = None):
    """Member k: f_k(x) = 1/2 x^T A_k x + c_k (A: (K, d, d)), params [x] with x (K, d)."""
    const = torch.zeros(A.shape[0]) if c is None else c

    def fn(params):
        (x,) = params
        return 0.5 * torch.einsum("ki,kij,kj->k", x, A, x) + const

    return fn


def spd(K: int, d: int, eigs: np.ndarray, seed: int) -> torch.Tensor:
    """(K, d, d) symmetric matrices with eigenvalues eigs[k] in random orthonormal bases."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for k in range(K):
        q, _ = torch.linalg.qr(torch.randn(d, d, generator=g))
        out.append(q @ torch.diag(torch.as_tensor(eigs[k])) @ q.T)
    return torch.stack(out)


def test_top_eigenvalue_of_known_quadratics_per_member():
    eigs = np.array([[5.0, 1.0, 0.5, 0.1, -0.2], [2.0, 1.9, 0.3, 0.0, 0.0], [40.0, 3, 2, 1, 0]])
    A = spd(3, 5, eigs, seed=0)
    x = torch.randn(3, 5, generator=torch.Generator().manual_seed(1))
    res = sharpness.top_eigenvalue(quadratic(A), [x], torch.Generator().manual_seed(0), iters=500,
                                   tol=1e-12)  # fmt: skip
    np.testing.assert_allclose(res.values, eigs.max(1), rtol=1e-6)
    # the iterate is a unit eigenvector of each member's own matrix
    v = res.vectors[0]
    np.testing.assert_allclose(v.norm(dim=1).numpy(), 1.0, rtol=1e-9)
    Av = torch.einsum("kij,kj->ki", A, v)
    np.testing.assert_allclose(Av.numpy(), (v * torch.as_tensor(eigs.max(1))[:, None]).numpy(),
                               atol=1e-3)  # fmt: skip


def test_top_eigenvalue_stops_early_and_is_seeded():
    A = spd(2, 4, np.array([[10.0, 1, 1, 1], [3.0, 0.1, 0.1, 0.1]]), seed=2)
    x = torch.zeros(2, 4)
    a = sharpness.top_eigenvalue(quadratic(A), [x], torch.Generator().manual_seed(5), iters=200)
    b = sharpness.top_eigenvalue(quadratic(A), [x], torch.Generator().manual_seed(5), iters=200)
    assert a.iterations < 200 and a.converged.all()
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_allclose(a.values, [10.0, 3.0], rtol=1e-3)


def test_top_eigenvalue_of_a_tiny_mlp_matches_the_full_hessian():
    spec = MLPSpec(in_dim=3, hidden=(4,), out_dim=3, activation="tanh")
    params = init_mlp_ensemble(spec, [0, 1], dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(12, 3, generator=g)
    y = torch.randint(0, 3, (12,), generator=g)
    fn = sharpness.member_loss(spec, x, y)
    res = sharpness.top_eigenvalue(fn, params, torch.Generator().manual_seed(1), iters=2000,
                                   tol=1e-12)  # fmt: skip
    shapes = [p.shape[1:] for p in params]
    sizes = [int(np.prod(s)) for s in shapes]
    for k in range(2):

        def flat_loss(theta):
            parts = torch.split(theta, sizes)
            member = [t.reshape(1, *s) for t, s in zip(parts, shapes)]
            return fn(member)[0]  # one member: the params of member k

        theta = torch.cat([p[k].reshape(-1) for p in params])
        H = torch.autograd.functional.hessian(flat_loss, theta)
        ev = torch.linalg.eigvalsh(H)
        top = ev[ev.abs().argmax()].item()  # power iteration finds the largest in magnitude
        assert res.values[k] == pytest.approx(top, rel=1e-5)


def test_member_loss_matches_torch_losses():
    spec = MLPSpec(in_dim=2, hidden=(3,), out_dim=2)
    params = init_mlp_ensemble(spec, [0, 1, 2], dtype=torch.float64)
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 1, 0, 1])
    ce = sharpness.member_loss(spec, x, y)(params)
    for k in range(3):
        logits = torch.relu(x @ params[0][k].T + params[1][k]) @ params[2][k].T + params[3][k]
        assert ce[k].item() == pytest.approx(torch.nn.functional.cross_entropy(logits, y).item())
    yf = torch.randn(5, 2, generator=torch.Generator().manual_seed(1))
    mse = sharpness.member_loss(spec, x, yf, "mse")(params)
    assert mse.shape == (3,)
    with pytest.raises(ValueError, match="loss"):
        sharpness.member_loss(spec, x, y, "hinge")


def test_eps_sharpness_on_a_diagonal_quadratic_is_the_closed_form():
    """f(x) = 1/2 sum a_i x_i^2 with a_i >= 0: the box maximum pushes every coordinate away
    from 0 by the full half-width, which the first (corner) step reaches exactly."""
    a = torch.tensor([[1.0, 4.0, 0.5], [2.0, 0.0, 3.0]])
    A = torch.diag_embed(a)
    x = torch.tensor([[1.0, -2.0, 0.3], [0.5, 1.0, -1.0]])
    eps = 1e-2
    res = sharpness.eps_sharpness(quadratic(A), [x], eps=eps, steps=5)
    r = eps * (x.abs() + 1)
    f0 = 0.5 * (a * x**2).sum(1)
    fmax = 0.5 * (a * (x.abs() + r) ** 2).sum(1)
    np.testing.assert_allclose(res.base_loss, f0.numpy())
    np.testing.assert_allclose(res.max_loss, fmax.numpy(), rtol=1e-12)
    np.testing.assert_allclose(res.values, (100 * (fmax - f0) / (1 + f0)).numpy(), rtol=1e-12)


def test_eps_sharpness_properties_on_an_mlp():
    spec = MLPSpec(in_dim=4, hidden=(8, 8), out_dim=3)
    params = init_mlp_ensemble(spec, [0, 1, 2], dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(30, 4, generator=g), torch.randint(0, 3, (30,), generator=g)
    fn = sharpness.member_loss(spec, x, y)
    zero = sharpness.eps_sharpness(fn, params, eps=0.0)
    np.testing.assert_array_equal(zero.values, 0.0)
    values = []
    for eps in (1e-4, 1e-3, 1e-2, 5e-2):
        res = sharpness.eps_sharpness(fn, params, eps=eps, steps=10)
        for d, r in zip(res.delta, sharpness.box_radius(params, eps)):
            assert bool((d.abs() <= r * (1 + 1e-12)).all())  # the box is respected
        # the reported maximum is the loss at the returned perturbation
        at = fn([p + d for p, d in zip(params, res.delta)]).numpy()
        np.testing.assert_allclose(res.max_loss, at, rtol=1e-12)
        values.append(res.values)
    v = np.array(values)
    assert (v > 0).all() and (np.diff(v, axis=0) > 0).all()  # monotone in eps, per member


def test_eps_sharpness_rejects_bad_arguments():
    A = torch.eye(2)[None]
    with pytest.raises(ValueError, match="eps"):
        sharpness.eps_sharpness(quadratic(A), [torch.zeros(1, 2)], eps=-1.0)


def test_line_slice_endpoints_and_extrapolation():
    A = torch.diag_embed(torch.tensor([[2.0, 1.0], [1.0, 3.0]]))
    fn = quadratic(A)
    a = [torch.tensor([[1.0, 0.0], [0.0, 1.0]])]
    b = [torch.tensor([[0.0, 2.0], [1.0, 1.0]])]
    alphas = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])
    s = sharpness.line_slice(fn, a, b, alphas)
    assert s.shape == (5, 2)
    np.testing.assert_allclose(s[1], fn(a).numpy())
    np.testing.assert_allclose(s[3], fn(b).numpy())
    for i, al in enumerate(alphas):
        pt = (1 - al) * a[0] + al * b[0]
        np.testing.assert_allclose(s[i], fn([pt]).numpy())
    # a quadratic along a line is a parabola: second differences are constant
    s2 = sharpness.line_slice(fn, a, b, np.linspace(-1, 2, 7))
    np.testing.assert_allclose(np.diff(s2, 2, axis=0), np.diff(s2, 2, axis=0)[:1].repeat(5, 0))


def test_top_eigenvalue_from_a_warm_start():
    eigs = np.array([[5.0, 1.0, 0.5, 0.1], [2.0, 1.5, 0.3, 0.0]])
    A = spd(2, 4, eigs, seed=3)
    x = torch.zeros(2, 4)
    # from the true top eigenvector: the value in one iteration (the next agrees within tol)
    top = torch.stack([torch.linalg.eigh(a).eigenvectors[:, -1] for a in A])
    res = sharpness.top_eigenvalue_from(quadratic(A), [x], [3.0 * top], iters=50, tol=1e-9)
    assert res.iterations == 2 and res.converged.all()
    np.testing.assert_allclose(res.values, eigs.max(1), rtol=1e-9)
    # from the same draw as top_eigenvalue's start: the same iterates
    g = torch.Generator().manual_seed(0)
    start = [torch.randn(x.shape, generator=g)]
    a = sharpness.top_eigenvalue_from(quadratic(A), [x], start, iters=7, tol=0.0)
    b = sharpness.top_eigenvalue(quadratic(A), [x], torch.Generator().manual_seed(0), iters=7,
                                 tol=0.0)  # fmt: skip
    np.testing.assert_allclose(a.values, b.values, rtol=1e-12)
    with pytest.raises(ValueError, match="iters"):
        sharpness.top_eigenvalue_from(quadratic(A), [x], start, iters=0)


def shared_diagonal(a: torch.Tensor):
    """f(x) = 1/2 sum_i a_i x_i^2 for every member (any number of members)."""
    return lambda params: 0.5 * (a * params[0] ** 2).sum(-1)


def test_eps_sharpness_lbfgsb_finds_the_box_maximum_of_a_diagonal_quadratic():
    """A convex f is maximised in the box at the corner away from 0; L-BFGS-B's projected
    steps reach it (every coordinate has a gradient pointing outwards)."""
    a = torch.tensor([1.0, 4.0, 0.5])
    x = torch.tensor([[1.0, -2.0, 0.3], [0.5, 1.0, -1.0]])
    eps = 1e-2
    res = sharpness.eps_sharpness_lbfgsb(shared_diagonal(a), [x], eps=eps, maxiter=10)
    r = eps * (x.abs() + 1)
    f0 = 0.5 * (a * x**2).sum(1)
    fmax = 0.5 * (a * (x.abs() + r) ** 2).sum(1)
    np.testing.assert_allclose(res.base_loss, f0.numpy())
    np.testing.assert_allclose(res.max_loss, fmax.numpy(), rtol=1e-9)
    np.testing.assert_allclose(res.delta[0].numpy(), (r * x.sign()).numpy(), rtol=1e-9)
    np.testing.assert_allclose(res.values, (100 * (fmax - f0) / (1 + f0)).numpy(), rtol=1e-9)


def test_eps_sharpness_lbfgsb_on_an_mlp():
    spec = MLPSpec(in_dim=4, hidden=(8, 8), out_dim=3)
    params = init_mlp_ensemble(spec, [0, 1, 2], dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(30, 4, generator=g), torch.randint(0, 3, (30,), generator=g)
    fn = sharpness.member_loss(spec, x, y)
    np.testing.assert_array_equal(sharpness.eps_sharpness_lbfgsb(fn, params, 0.0).values, 0.0)
    for eps in (1e-3, 1e-2):
        res = sharpness.eps_sharpness_lbfgsb(fn, params, eps=eps)
        for d, r in zip(res.delta, sharpness.box_radius(params, eps)):
            assert bool((d.abs() <= r * (1 + 1e-12)).all())  # the box is respected
        at = fn([p + d for p, d in zip(params, res.delta)]).numpy()
        np.testing.assert_allclose(res.max_loss, at, rtol=1e-10)
        # at least the first-order corner that sign ascent's first step takes
        corner = sharpness.eps_sharpness(fn, params, eps=eps, steps=1)
        assert (res.values >= corner.values * (1 - 1e-6)).all() and (res.values > 0).all()
    with pytest.raises(ValueError, match="eps"):
        sharpness.eps_sharpness_lbfgsb(fn, params, eps=-1.0)
