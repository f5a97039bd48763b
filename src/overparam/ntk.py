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
    jac = jacrev(lambda *ps: member_output(spec, ps, x, output_scale), argnums=tuple(
        range(len(params))))(*params)  # fmt: skip
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
