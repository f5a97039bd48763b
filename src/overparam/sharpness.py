"""Sharpness of a minimum, for a whole ensemble at once: the top eigenvalue of the training
loss's Hessian, Keskar et al.'s epsilon-sharpness, and 1-D loss slices between two solutions.

Every function takes a ``loss_fn(params) -> (K,)``: the per-member losses of K networks whose
params are stacked with a leading member dimension (``overparam.models``). The members are
independent, so the Hessian of the summed loss is block-diagonal, one block per member; one
Hessian-vector product of the sum (double backward) is the K members' products at once, and
every inner product or norm below is taken per member (over that member's slice of every
tensor). ``member_loss`` builds such a function for MLPs on a fixed batch (e.g. a fixed
subset of the training set, which keeps the products cheap).

- :func:`top_eigenvalue`: power iteration on Hessian-vector products with per-member
  normalisation. It converges to the eigenvalue of largest magnitude; at a minimum of the
  loss that is the largest positive one unless a negative eigenvalue is larger in magnitude.
  The value returned is the Rayleigh quotient v^T H v of the last (unit) iterate.
- :func:`eps_sharpness`: Keskar et al. 2017 (ICLR), Sec. 2.2.2 (full space, A = I): the box
  C_eps = {delta : |delta_i| <= eps (|x_i| + 1)} around the params x, and
  100 (max_{delta in C_eps} f(x + delta) - f(x)) / (1 + f(x)). Keskar et al. maximise with 10
  iterations of L-BFGS-B; here a few steps of projected sign-gradient ascent (the first step
  from 0 lands on the corner that maximises the linearisation), keeping the largest loss
  seen, so the value is a lower bound on the true maximum and is 0 for eps = 0.
- :func:`line_slice`: f((1 - alpha) a + alpha b) for a grid of alphas (Keskar et al.'s Fig. 3
  plots alpha in [-1, 2] between a small-batch and a large-batch solution; Goodfellow et al.
  2015 the same from initialisation to a solution).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .models import MLPSpec, mlp_forward

Params = list[torch.Tensor]
LossFn = Callable[[Sequence[torch.Tensor]], torch.Tensor]  # stacked params -> (K,) losses


def member_loss(spec: MLPSpec, x: torch.Tensor, y: torch.Tensor, loss: str = "ce") -> LossFn:
    """Per-member mean loss of an MLP ensemble on one batch shared by every member: ``ce``
    (cross-entropy, y int64 labels (n,)) or ``mse`` (y float (n, out) or (n,))."""
    if loss not in ("ce", "mse"):
        raise ValueError(f"loss must be 'ce' or 'mse', got {loss!r}")

    def fn(params: Sequence[torch.Tensor]) -> torch.Tensor:
        logits = mlp_forward(spec, params, x)  # (K, n, out)
        K, n, c = logits.shape
        if loss == "ce":
            per = F.cross_entropy(logits.reshape(-1, c), y.repeat(K), reduction="none")
            return per.view(K, n).mean(1)
        target = y.view(n, -1).to(logits.dtype)
        return (logits - target).square().reshape(K, -1).mean(1)

    return fn


def member_dot(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> torch.Tensor:
    """(K,) inner products of the members' slices, summed over every tensor of the list."""
    return sum((u * v).reshape(u.shape[0], -1).sum(1) for u, v in zip(a, b))


def _per_member(c: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A (K,) tensor shaped to broadcast over a (K, ...) tensor."""
    return c.view(-1, *([1] * (like.dim() - 1))).to(like.dtype)


def _normalised(v: Sequence[torch.Tensor]) -> Params:
    norm = member_dot(v, v).sqrt().clamp_min(torch.finfo(v[0].dtype).tiny)
    return [t / _per_member(norm, t) for t in v]


def _leaves(params: Sequence[torch.Tensor]) -> Params:
    return [p.detach().clone().requires_grad_(True) for p in params]


class HessianVectorProduct:
    """v -> H v for every member at once, H the Hessian of ``loss_fn`` at ``params``: the
    gradient of the summed loss is built once (with its graph), each product is one more
    backward pass through it."""

    def __init__(self, loss_fn: LossFn, params: Sequence[torch.Tensor]) -> None:
        self.params = _leaves(params)
        with torch.enable_grad():
            self.losses = loss_fn(self.params)
            self.grads = torch.autograd.grad(self.losses.sum(), self.params, create_graph=True)

    def __call__(self, v: Sequence[torch.Tensor]) -> Params:
        with torch.enable_grad():
            inner = sum((g * t.detach()).sum() for g, t in zip(self.grads, v))
            hv = torch.autograd.grad(inner, self.params, retain_graph=True)
        return [t.detach() for t in hv]


@dataclass
class TopEigen:
    values: np.ndarray  # (K,) Rayleigh quotient of the last iterate, per member
    vectors: Params  # unit (per member) eigenvector estimates, stacked like the params
    iterations: int  # power iterations run
    converged: np.ndarray  # (K,) bool: relative change of the value <= tol at the end


def top_eigenvalue(
    loss_fn: LossFn,
    params: Sequence[torch.Tensor],
    generator: torch.Generator,
    iters: int = 20,
    tol: float = 1e-3,
) -> TopEigen:
    """Power iteration on the Hessian of every member's loss at ``params`` (see the module
    docstring), from a N(0, 1) start drawn from ``generator`` (on the CPU), for at most
    ``iters`` iterations, stopping early once every member's value changes by <= ``tol``
    relatively."""
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    hvp = HessianVectorProduct(loss_fn, params)
    ps = hvp.params
    v = _normalised([torch.randn(p.shape, generator=generator).to(p) for p in ps])
    return _power_iteration(hvp, v, iters, tol)


@dataclass
class EpsSharpness:
    values: np.ndarray  # (K,) 100 (max loss in the box - loss) / (1 + loss)
    base_loss: np.ndarray  # (K,) f(x)
    max_loss: np.ndarray  # (K,) the largest f(x + delta) found
    delta: Params  # the perturbation that reached max_loss, stacked like the params


def box_radius(params: Sequence[torch.Tensor], eps: float) -> Params:
    """Keskar et al.'s box half-widths eps (|x_i| + 1), per parameter."""
    return [eps * (p.detach().abs() + 1.0) for p in params]


def eps_sharpness(
    loss_fn: LossFn,
    params: Sequence[torch.Tensor],
    eps: float,
    steps: int = 10,
    step_frac: float = 0.25,
) -> EpsSharpness:
    """Keskar et al.'s epsilon-sharpness of every member (module docstring): ``steps`` steps of
    projected sign-gradient ascent in the box, the first a full step to the box's corner, the
    others ``step_frac`` of the box's half-width each."""
    if eps < 0 or steps < 1:
        raise ValueError(f"need eps >= 0 and steps >= 1, got eps={eps}, steps={steps}")
    x = [p.detach() for p in params]
    radius = box_radius(x, eps)
    delta = [torch.zeros_like(p) for p in x]
    with torch.no_grad():
        base = loss_fn(x).detach()
    best = base.clone()
    best_delta = [d.clone() for d in delta]
    for s in range(steps):
        pts = [(p + d).requires_grad_(True) for p, d in zip(x, delta)]
        with torch.enable_grad():
            grads = torch.autograd.grad(loss_fn(pts).sum(), pts)
        frac = 1.0 if s == 0 else step_frac
        with torch.no_grad():
            delta = [
                torch.clamp(d + frac * r * g.sign(), -r, r) for d, r, g in zip(delta, radius, grads)
            ]
            f = loss_fn([p + d for p, d in zip(x, delta)])
            up = f > best  # NaN never counts
            best = torch.where(up, f, best)
            best_delta = [
                torch.where(up.view(-1, *([1] * (d.dim() - 1))), d, b)
                for d, b in zip(delta, best_delta)
            ]
    b, m = base.double().cpu(), best.double().cpu()
    return EpsSharpness(
        values=(100.0 * (m - b) / (1.0 + b)).numpy(),
        base_loss=b.numpy(),
        max_loss=m.numpy(),
        delta=best_delta,
    )


@torch.no_grad()
def line_slice(
    loss_fn: LossFn, params_a: Sequence[torch.Tensor], params_b: Sequence[torch.Tensor], alphas
) -> np.ndarray:
    """(A, K) losses at (1 - alpha) a + alpha b for each of the A ``alphas`` (any reals:
    outside [0, 1] the line is extrapolated), member k of a paired with member k of b."""
    out = []
    for a in np.atleast_1d(np.asarray(alphas, dtype=float)):
        pts = [(1.0 - a) * pa + a * pb for pa, pb in zip(params_a, params_b)]
        out.append(loss_fn(pts).double().cpu().numpy())
    return np.stack(out)


def top_eigenvalue_from(
    loss_fn: LossFn,
    params: Sequence[torch.Tensor],
    start: Sequence[torch.Tensor],
    iters: int = 20,
    tol: float = 1e-3,
) -> TopEigen:
    """:func:`top_eigenvalue` from the given start vectors (stacked like the params, one per
    member) instead of a random draw: a warm start, e.g. the previous eigenvector along a
    training trajectory, where the top eigenvector changes little between two checks."""
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    hvp = HessianVectorProduct(loss_fn, params)
    ps = hvp.params
    v = _normalised([s.detach().to(p) for s, p in zip(start, ps)])
    return _power_iteration(hvp, v, iters, tol)


def _power_iteration(hvp, v, iters: int, tol: float) -> TopEigen:
    """Power iteration from the normalised start ``v``: at most ``iters`` Hessian-vector
    products, stopping once every member's value changes by <= ``tol`` relatively."""
    lam = torch.full((v[0].shape[0],), float("nan"), dtype=torch.float64)
    converged = torch.zeros_like(lam, dtype=torch.bool)
    it = 0
    while it < iters:
        it += 1
        hv = hvp(v)
        new = member_dot(v, hv).double().cpu()
        converged = (new - lam).abs() <= tol * new.abs()
        lam = new
        v = _normalised(hv)
        if bool(converged.all()):
            break
    return TopEigen(values=lam.numpy(), vectors=v, iterations=it, converged=converged.numpy())


def eps_sharpness_lbfgsb(
    loss_fn: LossFn, params: Sequence[torch.Tensor], eps: float, maxiter: int = 10
) -> EpsSharpness:
    """Keskar et al.'s epsilon-sharpness (module docstring) with their optimiser: for one
    member at a time, ``scipy.optimize.minimize(method="L-BFGS-B")`` on -f(x + delta) with the
    box as its bounds, from delta = 0, for at most ``maxiter`` iterations (Keskar et al.: 10).
    ``loss_fn`` is called on one member's params (leading dimension 1), as
    :func:`member_loss` allows. The largest loss of any evaluation counts (L-BFGS-B's result
    is its best point, so the two agree); it is a local maximum, so the value is still a
    lower bound on the box's maximum, but the one Keskar et al. report."""
    from scipy.optimize import Bounds, minimize

    if eps < 0 or maxiter < 1:
        raise ValueError(f"need eps >= 0 and maxiter >= 1, got eps={eps}, maxiter={maxiter}")
    x = [p.detach() for p in params]
    K = x[0].shape[0]
    radius = box_radius(x, eps)
    shapes = [tuple(p.shape[1:]) for p in x]
    sizes = [int(np.prod(s)) for s in shapes]
    with torch.no_grad():
        base = loss_fn(x).detach().double().cpu()
    best = base.clone()
    best_delta = [torch.zeros_like(p) for p in x]
    for k in range(K):
        xk = [p[k : k + 1] for p in x]
        r = torch.cat([t[k].reshape(-1) for t in radius]).double().cpu().numpy()
        if not (r > 0).any():
            continue
        seen = {"f": float(base[k]), "d": None}

        def f(d, xk=xk, seen=seen):
            flat = torch.as_tensor(d, dtype=x[0].dtype, device=x[0].device)
            parts = torch.split(flat, sizes)
            pts = [(p + q.view(1, *s)).requires_grad_(True) for p, q, s in zip(xk, parts, shapes)]
            with torch.enable_grad():
                loss = loss_fn(pts).sum()
                grads = torch.autograd.grad(loss, pts)
            val = float(loss.detach())
            if val > seen["f"]:  # NaN never counts
                seen["f"], seen["d"] = val, np.array(d, dtype=float)
            g = torch.cat([t.reshape(-1) for t in grads]).double().cpu().numpy()
            return -val, -g

        minimize(
            f,
            np.zeros_like(r),
            jac=True,
            method="L-BFGS-B",
            bounds=Bounds(-r, r),
            options={"maxiter": int(maxiter)},
        )
        if seen["d"] is not None:
            best[k] = seen["f"]
            parts = torch.split(torch.as_tensor(seen["d"], dtype=x[0].dtype), sizes)
            for bd, q, s in zip(best_delta, parts, shapes):
                bd[k] = q.view(s).to(bd)
    b, m = base, best
    return EpsSharpness(
        values=(100.0 * (m - b) / (1.0 + b)).numpy(),
        base_loss=b.numpy(),
        max_loss=m.numpy(),
        delta=best_delta,
    )
