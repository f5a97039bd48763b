"""Lazy training and the neural tangent kernel (issue 12; Jacot et al. 2018, Lee et al. 2019,
Chizat et al. 2019).

- ``empirical_ntk``: Theta(x, x') = J(x) J(x')^T of one MLP member (``models.mlp_forward``, in
  the standard or the NTK parametrisation of ``models.MLPSpec``), J the Jacobian of the scalar
  output w.r.t. every parameter, by ``torch.func.jacrev``; ``output_scale`` multiplies the
  output (and so J) by a constant.
- ``train_gd``: full-batch gradient descent on the mean squared error of a batched ensemble
  (one member per seed, one forward for all) with the output multiplied by ``output_scale``.
- ``linearised_gd``: the same gradient descent on the linearisation
  f_lin(x) = f_0(x) + J_0(x)(theta - theta_0). Its function-space dynamics are exact in the
  kernel: f_{t+1}(x) = f_t(x) - lr (2/n) Theta_0(x, X) (f_t(X) - y), so it needs no parameters.
- ``kernel_regression``: the closed form of gradient flow on the MSE with Theta_0 at time tau:
  f_tau(x) = f_0(x) + Theta_0(x, X) Theta_0(X, X)^{-1} (I - exp(-(2/n) tau Theta_0(X, X)))
  (y - f_0(X)) (tau -> infinity: kernel regression with Theta_0), via an eigendecomposition.
- ``relative_change``: ||A - B|| / ||B|| (Frobenius).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.func import jacrev

from .models import MLPSpec, mlp_forward


def member_output(
    spec: MLPSpec, params: Sequence[torch.Tensor], x: torch.Tensor, output_scale: float = 1.0
) -> torch.Tensor:
    """The scalar outputs (B,) of one member whose params have no member dimension."""
    out = mlp_forward(spec, [p.unsqueeze(0) for p in params], x)
    return output_scale * out[0, :, 0]


def jacobian(
    spec: MLPSpec, params: Sequence[torch.Tensor], x: torch.Tensor, output_scale: float = 1.0
) -> torch.Tensor:
    """J (B, P): d output(x_b) / d theta, all parameters flattened in the params' order."""
    if spec.out_dim != 1:
        raise ValueError(f"the NTK here is for scalar outputs, got out_dim {spec.out_dim}")
    jac = jacrev(
        lambda *ps: member_output(spec, ps, x, output_scale), argnums=tuple(range(len(params)))
    )(*params)
    return torch.cat([j.reshape(x.shape[0], -1) for j in jac], dim=1)


def empirical_ntk(
    spec: MLPSpec,
    params: Sequence[torch.Tensor],
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    output_scale: float = 1.0,
) -> torch.Tensor:
    """Theta(x1, x2) = J(x1) J(x2)^T, (B1, B2), of one member (params without member dim)."""
    j1 = jacobian(spec, params, x1, output_scale)
    j2 = j1 if x2 is None else jacobian(spec, params, x2, output_scale)
    return j1 @ j2.T


def relative_change(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b||_F / ||b||_F."""
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(b))


def train_gd(
    spec: MLPSpec,
    params: Sequence[torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    lr: float,
    steps: int,
    output_scale: float = 1.0,
) -> tuple[list[torch.Tensor], np.ndarray]:
    """Full-batch GD on each member's mean squared error (1/n) sum (f(x_i) - y_i)^2 of the
    stacked ensemble ``params`` (K, ...), the output multiplied by ``output_scale``. Returns
    the final params and the members' training losses (steps + 1, K)."""
    ps = [p.detach().clone().requires_grad_(True) for p in params]
    losses = np.empty((steps + 1, ps[0].shape[0]))
    for t in range(steps + 1):
        f = output_scale * mlp_forward(spec, ps, x)[..., 0]  # (K, n)
        loss = (f - y).square().mean(1)
        losses[t] = loss.detach().cpu().numpy()
        if t == steps:
            break
        grads = torch.autograd.grad(loss.sum(), ps)
        with torch.no_grad():
            for p, g in zip(ps, grads):
                p.sub_(lr * g)
    return [p.detach() for p in ps], losses


def linearised_gd(
    theta: torch.Tensor, f0: torch.Tensor, y: torch.Tensor, train: int, lr: float, steps: int
) -> torch.Tensor:
    """Outputs on all points after ``steps`` of GD on the linearised model: ``theta`` is
    Theta_0(Z, Z) on points Z whose first ``train`` rows are the training set, ``f0`` the
    initial outputs on Z, ``y`` the training targets. Same loss and lr as ``train_gd``."""
    f = f0.clone()
    k = theta[:, :train] * (2.0 * lr / train)
    for _ in range(steps):
        f = f - k @ (f[:train] - y)
    return f


def kernel_regression(
    theta: torch.Tensor, f0: torch.Tensor, y: torch.Tensor, train: int, tau: float | None
) -> torch.Tensor:
    """Gradient flow on the MSE with the fixed kernel ``theta`` (Theta_0 on Z, the first
    ``train`` points the training set) for time ``tau`` (lr x steps), in closed form;
    ``tau=None``: its limit, kernel regression f_0 + Theta(., X) Theta(X, X)^{-1} (y - f_0)."""
    t = theta.double()
    lam, v = torch.linalg.eigh(t[:train, :train])
    lam = lam.clamp_min(lam.max() * 1e-12)
    if tau is None:
        g = 1.0 / lam
    else:
        g = -torch.expm1(-(2.0 * tau / train) * lam) / lam
    r = y.double() - f0[:train].double()
    return f0.double() + t[:, :train] @ (v @ (g * (v.T @ r)))


def relu_ntk_limit(
    x1: np.ndarray, x2: np.ndarray | None = None, depth: int = 1, beta: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """The infinite-width kernels of a ReLU MLP in the NTK parametrization of
    ``models.MLPSpec`` (W, b ~ N(0, 1), each layer W h / sqrt(fan_in) + beta b) with ``depth``
    hidden layers and a linear scalar output: (Sigma, Theta), each (n1, n2), the output's
    covariance at initialisation (NNGP) and the limit neural tangent kernel (Jacot et al.
    2018, Theorem 1 and Proposition 1, with sigma_w = 1). Recursion over the layers:

        Sigma_1(x, x') = x . x' / d + beta^2,        Theta_1 = Sigma_1
        Sigma_{l+1}    = E[relu(u) relu(v)] + beta^2, (u, v) ~ N(0, Sigma_l on {x, x'})
        Theta_{l+1}    = Theta_l E[relu'(u) relu'(v)] + Sigma_{l+1}

    with the arc-cosine closed forms E[relu(u) relu(v)] = sqrt(s s') (sin t + (pi - t) cos t)
    / (2 pi) and E[relu'(u) relu'(v)] = (pi - t) / (2 pi), t the angle arccos(c / sqrt(s s'))."""
    x1 = np.atleast_2d(np.asarray(x1, dtype=float))
    x2 = x1 if x2 is None else np.atleast_2d(np.asarray(x2, dtype=float))
    if x1.shape[1] != x2.shape[1]:
        raise ValueError(f"inputs of dimension {x1.shape[1]} and {x2.shape[1]}")
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    d = x1.shape[1]
    b2 = float(beta) ** 2
    cross = x1 @ x2.T / d + b2
    s1 = (x1 * x1).sum(1) / d + b2
    s2 = (x2 * x2).sum(1) / d + b2
    theta = cross.copy()
    for _ in range(depth):
        norm = np.sqrt(np.outer(s1, s2))
        t = np.arccos(np.clip(cross / norm, -1.0, 1.0))
        dot = (np.pi - t) / (2 * np.pi)
        cross = norm * (np.sin(t) + (np.pi - t) * np.cos(t)) / (2 * np.pi) + b2
        theta = theta * dot + cross
        s1, s2 = s1 / 2 + b2, s2 / 2 + b2  # the same forms at t = 0
    return cross, theta


def kernel_gd_losses(theta: np.ndarray, r0: np.ndarray, lr: float, steps: int) -> np.ndarray:
    """Training MSE (steps + 1,) of gradient descent with the fixed kernel ``theta`` (n, n) on
    the training points, from the initial residual r0 = f_0(X) - y: the loss and step of
    ``train_gd`` / ``linearised_gd``, r_{t+1} = (I - lr (2/n) Theta) r_t, in closed form over
    Theta's eigenvectors, (1/n) sum_i (1 - lr (2/n) lambda_i)^(2t) (v_i . r0)^2, in float64."""
    th = np.asarray(theta, dtype=float)
    n = th.shape[0]
    lam, v = np.linalg.eigh((th + th.T) / 2)
    c2 = (v.T @ np.asarray(r0, dtype=float).reshape(n)) ** 2
    a = np.abs(1.0 - lr * (2.0 / n) * lam)
    t = np.arange(steps + 1, dtype=float)[:, None]
    with np.errstate(divide="ignore", over="ignore"):
        powers = np.exp(2.0 * t * np.log(a)[None, :])  # |a|^(2t); a = 0 gives 0 after t = 0
    powers[0] = 1.0
    return powers @ c2 / n
