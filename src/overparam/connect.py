"""Mode connectivity: linear paths, loss barriers, Bezier curves, permutation alignment.

Networks are flat param lists ``[W_1, b_1, W_2, b_2, ...]`` as in ``overparam.models``, either
one network (``W_l`` is (fan_out, fan_in)) or a stack with a leading member dimension K.

- :func:`evaluate_path`: the points of a path (alphas of a line, t's of a curve) stacked as
  ensemble members, one forward pass per batch of data for all of them; :func:`barrier`.
- Quadratic Bezier curves, Garipov, Izmailov, Podoprikhin, Vetrov & Wilson 2018 (NeurIPS),
  "Loss Surfaces, Mode Connectivity, and Fast Ensembling of DNNs":
  ``phi(t) = (1-t)^2 w_1 + 2 t (1-t) theta + t^2 w_2``, trained by :func:`train_bezier`
  (constant lr) or :func:`train_bezier_scheduled` (their schedule and L2 penalty).
- Weight matching, Ainsworth, Hayase & Srinivasa 2023 (ICLR), "Git Re-Basin": permutations of
  the hidden units of network b that maximise its summed weight inner products with network a
  (:func:`weight_matching`, :func:`permute_hidden`).
- :func:`demo_pair`: the two networks of the reference text's mode-connectivity demo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from .models import MLPSpec, mlp_forward, param_shapes, weight_indices
from .train import TrainConfig, evaluate, train_ensemble

Params = list[torch.Tensor]
BARRIER_REFERENCES = ("linear", "mean")


def _combine(nets, weights, scalar: bool) -> Params:
    """``sum_j weights[j] * nets[j]`` per param; the weights (A,) become a new leading
    dimension A of the result, dropped again when ``scalar``."""
    out = [
        sum(w.to(ps[0].dtype).view(-1, *([1] * ps[0].dim())) * p for w, p in zip(weights, ps))
        for ps in zip(*nets)
    ]
    return [p[0] for p in out] if scalar else out


def interpolate(params_a: Sequence[torch.Tensor], params_b: Sequence[torch.Tensor], alpha):
    """``(1 - alpha) w_a + alpha w_b``: alpha 0 is network a, 1 network b (both exactly).

    A float alpha gives params shaped like the inputs; a 1-D sequence of A alphas gives the A
    points stacked in a new leading dimension (A, [K,] ...), ready for :func:`evaluate_path`.
    """
    c = torch.as_tensor(np.atleast_1d(alpha), dtype=torch.float64)
    return _combine((params_a, params_b), (1 - c, c), np.ndim(alpha) == 0)


def bezier(params_a, theta, params_b, t):
    """Quadratic Bezier ``(1-t)^2 w_a + 2 t (1-t) theta + t^2 w_b`` at a float t (shaped like
    the inputs) or at a 1-D sequence of T values (stacked in a new leading dimension)."""
    c = torch.as_tensor(np.atleast_1d(t), dtype=torch.float64)
    weights = ((1 - c) ** 2, 2 * c * (1 - c), c**2)
    return _combine((params_a, theta, params_b), weights, np.ndim(t) == 0)


def midpoint(params_a, params_b) -> Params:
    """The linear midpoint: Bezier's theta init, where phi(0.5) equals the linear midpoint."""
    return interpolate(params_a, params_b, 0.5)


def _xy(x, y, loss: str, like: torch.Tensor):
    """Tensors x (n, in), y (mse: (n, out) float; ce: (n,) int64), and the class labels, on
    the dtype and device of ``like``."""
    x = torch.as_tensor(x).to(like)
    if loss == "mse":
        return x, torch.as_tensor(y).to(like).reshape(x.shape[0], -1), None
    if loss == "ce":
        y = torch.as_tensor(y).to(like.device, torch.long)
        return x, y, y
    raise ValueError(f"loss must be 'mse' or 'ce', got {loss!r}")


def evaluate_path(spec: MLPSpec, points: Sequence[torch.Tensor], x, y, loss: str):
    """Full-batch losses and errors of the points of a path, all points one ensemble.

    ``points``: params with a leading point dimension A, then optionally a member dimension K
    (as :func:`interpolate` / :func:`bezier` return them). ``loss``: "mse" (mean over samples
    and outputs) or "ce" (``y`` integer labels; error = 1 - accuracy). Returns float64 numpy
    ``(losses, errors)`` shaped (A,) or (A, K); errors is None for "mse".
    """
    extra = points[0].dim() - len(param_shapes(spec)[0])
    if extra not in (1, 2):
        raise ValueError(f"points[0] has shape {tuple(points[0].shape)}: need (A, [K,] ...)")
    lead = tuple(points[0].shape[:extra])
    flat = [p.reshape(-1, *p.shape[extra:]) for p in points]
    x, y, labels = _xy(x, y, loss, flat[0])
    losses, acc = evaluate(spec, flat, x, y, loss, labels)
    errors = None if acc is None else (1 - acc).numpy().reshape(lead)
    return losses.numpy().reshape(lead), errors


def barrier(values, alphas, reference: str = "linear") -> np.ndarray:
    """Loss (or error) barrier along a path; ``values`` (A,) or (A, K) at ``alphas`` (A,),
    which must include 0 and 1 (the endpoints). Returns a float or (K,).

    - ``"linear"`` (default; Frankle et al. 2020, Entezari et al. 2022, Ainsworth et al. 2023):
      ``max_alpha L(alpha) - ((1 - alpha) L(0) + alpha L(1))``, the height above the chord.
      It is 0 at both endpoints, so it measures the bump of the path only, not a difference
      between the endpoints' losses: hence the default.
    - ``"mean"`` (issue 11): ``max_alpha L(alpha) - (L(0) + L(1)) / 2``; at least
      |L(1) - L(0)| / 2 even for a linear L. The two differ by at most that much.

    Both are symmetric in the endpoints, so the direction of the alpha convention (issue:
    ``alpha w_1 + (1 - alpha) w_2``; here ``(1 - alpha) w_a + alpha w_b``) does not matter.
    """
    v = np.asarray(values, dtype=np.float64)
    a = np.asarray(alphas, dtype=np.float64)
    if v.shape[0] != a.shape[0] or a.ndim != 1:
        raise ValueError(f"values {v.shape} and alphas {a.shape} do not match")
    i0, i1 = np.flatnonzero(a == 0.0), np.flatnonzero(a == 1.0)
    if not len(i0) or not len(i1):
        raise ValueError("alphas must include 0 and 1 (the endpoints)")
    l0, l1 = v[i0[0]], v[i1[0]]
    aa = a.reshape(-1, *([1] * (v.ndim - 1)))
    if reference == "linear":
        ref = (1 - aa) * l0 + aa * l1
    elif reference == "mean":
        ref = (l0 + l1) / 2
    else:
        raise ValueError(f"reference must be one of {BARRIER_REFERENCES}, got {reference!r}")
    return (v - ref).max(axis=0)


@dataclass
class BezierResult:
    theta: Params  # the trained control point, shaped like the endpoints
    epoch_loss: np.ndarray  # (epochs, [K]) mean training loss at the sampled t's per epoch


def train_bezier(
    spec: MLPSpec,
    params_a,
    params_b,
    x,
    y,
    cfg: TrainConfig,
    generator: torch.Generator,
    theta: Sequence[torch.Tensor] | None = None,
) -> BezierResult:
    """Train the control point theta of a quadratic Bezier curve, endpoints fixed.

    Each mini-batch draws ``t ~ U(0, 1)`` (one per member when the endpoints are stacked
    pairs with a member dimension K; the pairs share the batches) and takes a torch.optim
    SGD or Adam step on the loss of ``phi(t)``. From ``cfg`` only epochs, batch_size, lr (one
    float), optimizer, momentum, weight_decay, betas, eps and loss are used. Batch order (one
    randperm per epoch) and t's come from ``generator``; theta starts at the midpoint.
    """
    return _fit_bezier(spec, params_a, params_b, x, y, cfg, generator, theta, None, 0.0)


def garipov_lr_factor(epoch: int, epochs: int) -> float:
    """The learning-rate factor of Garipov et al. 2018's curve training at ``epoch`` (counted
    from 1 to ``epochs``, as in their ``train.py``): 1 while ``epoch / epochs <= 0.5``, then
    falling linearly to 0.01 at 0.9, then 0.01 to the end."""
    frac = epoch / epochs
    if frac <= 0.5:
        return 1.0
    if frac <= 0.9:
        return 1.0 - (frac - 0.5) / 0.4 * 0.99
    return 0.01


def train_bezier_scheduled(
    spec: MLPSpec,
    params_a,
    params_b,
    x,
    y,
    cfg: TrainConfig,
    generator: torch.Generator,
    l2: float = 0.0,
    schedule: str = "garipov",
    theta: Sequence[torch.Tensor] | None = None,
) -> BezierResult:
    """:func:`train_bezier` with Garipov et al. 2018's learning-rate schedule and penalty.

    ``schedule``: "garipov" (epoch e of E uses ``cfg.lr * garipov_lr_factor(e, E)``, the lr
    set at the start of each epoch) or "constant". ``l2``: the curve's penalty
    ``l2 / 2 * ||phi(t)||^2`` (all weights and biases of the point at the sampled t) added to
    each member's batch loss, as their ``curves.l2_regularizer``; the optimizer then gets no
    weight decay of its own (``cfg.weight_decay`` must be 0). The history records the data
    loss only (without the penalty).
    """
    if schedule not in ("garipov", "constant"):
        raise ValueError(f"schedule must be 'garipov' or 'constant', got {schedule!r}")
    if cfg.weight_decay:
        raise ValueError("train_bezier_scheduled: the penalty is l2; cfg.weight_decay must be 0")
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, got {l2}")
    factors = [
        garipov_lr_factor(e, cfg.epochs) if schedule == "garipov" else 1.0
        for e in range(1, cfg.epochs + 1)
    ]
    return _fit_bezier(spec, params_a, params_b, x, y, cfg, generator, theta, factors, l2)


def _fit_bezier(spec, params_a, params_b, x, y, cfg, generator, theta, factors, l2):
    """The loop of :func:`train_bezier` (``factors`` None, ``l2`` 0: exactly its steps) and
    of :func:`train_bezier_scheduled` (per-epoch lr factors, the penalty on phi(t))."""
    single = params_a[0].dim() == len(param_shapes(spec)[0])
    wa, wb = (
        [p.detach()[None] if single else p.detach() for p in ps] for ps in (params_a, params_b)
    )
    start = midpoint(wa, wb) if theta is None else [p[None] if single else p for p in theta]
    th = [p.detach().clone().requires_grad_(True) for p in start]
    if not isinstance(cfg.lr, float):
        raise ValueError("train_bezier takes one learning rate")
    opt: torch.optim.Optimizer = (
        torch.optim.SGD(th, cfg.lr, cfg.momentum, weight_decay=cfg.weight_decay)
        if cfg.optimizer == "sgd"
        else torch.optim.Adam(th, cfg.lr, cfg.betas, cfg.eps, cfg.weight_decay)
    )
    x, y, _ = _xy(x, y, cfg.loss, wa[0])
    K, n = wa[0].shape[0], x.shape[0]
    history = np.zeros((cfg.epochs, K))
    for epoch in range(cfg.epochs):
        if factors is not None:
            for group in opt.param_groups:
                group["lr"] = cfg.lr * factors[epoch]
        order = torch.randperm(n, generator=generator)
        for s in range(0, n, cfg.batch_size):
            idx = order[s : s + cfg.batch_size]
            t = torch.rand(K, generator=generator, dtype=torch.float64)
            cs = [c.to(x) for c in ((1 - t) ** 2, 2 * t * (1 - t), t**2)]  # (K,) each
            phi = [
                sum(c.view(K, *[1] * (p.dim() - 1)) * p for c, p in zip(cs, ps))
                for ps in zip(wa, th, wb)
            ]
            out = mlp_forward(spec, phi, x[idx])
            if cfg.loss == "ce":
                per = F.cross_entropy(out.flatten(0, 1), y[idx].repeat(K), reduction="none")
                losses = per.view(K, -1).mean(1)
            else:
                losses = (out - y[idx]).square().mean((1, 2))
            opt.zero_grad(set_to_none=True)
            if l2:
                penalty = sum(p.square().flatten(1).sum(1) for p in phi)  # (K,)
                (losses + 0.5 * l2 * penalty).sum().backward()
            else:
                losses.sum().backward()
            opt.step()
            history[epoch] += losses.detach().double().numpy() * len(idx) / n
    theta_out = [p.detach()[0] if single else p.detach() for p in th]
    return BezierResult(theta_out, history[:, 0] if single else history)


def permute_hidden(spec: MLPSpec, params: Sequence[torch.Tensor], perms) -> Params:
    """Reorder the hidden units: unit i of hidden layer l becomes old unit ``perms[l][i]``
    (rows of W_l and b_l, columns of W_{l+1}). The function computed is unchanged. Works on one
    network or a stack (the same perms for every member)."""
    if len(perms) != len(spec.hidden):
        raise ValueError(f"need {len(spec.hidden)} permutations, got {len(perms)}")
    wi = weight_indices(spec)
    out = list(params)
    for layer, perm in enumerate(perms):
        idx = torch.as_tensor(np.asarray(perm), dtype=torch.long, device=out[0].device)
        out[wi[layer]] = out[wi[layer]].index_select(-2, idx)
        if spec.bias:
            out[wi[layer] + 1] = out[wi[layer] + 1].index_select(-1, idx)
        out[wi[layer + 1]] = out[wi[layer + 1]].index_select(-1, idx)
    return out


def matching_objective(params_a: Sequence[torch.Tensor], params_b: Sequence[torch.Tensor]) -> float:
    """Summed inner products of all corresponding params (weights and biases), float64."""
    return float(sum((pa.double() * pb.double()).sum() for pa, pb in zip(params_a, params_b)))


def _layer_cost(spec: MLPSpec, a: list[np.ndarray], b: list[np.ndarray], perms, layer: int):
    """C[i, j]: the objective's terms that change when unit j of b moves to position i of
    hidden layer ``layer``, with b's other hidden layers permuted by ``perms``."""
    wi = weight_indices(spec)
    w_in = b[wi[layer]] if layer == 0 else b[wi[layer]][:, perms[layer - 1]]
    cost = a[wi[layer]] @ w_in.T
    if spec.bias:
        cost += np.outer(a[wi[layer] + 1], b[wi[layer] + 1])
    last = layer + 1 == len(perms)
    w_out = b[wi[layer + 1]] if last else b[wi[layer + 1]][perms[layer + 1], :]
    return cost + a[wi[layer + 1]].T @ w_out


def weight_matching(
    spec: MLPSpec, params_a, params_b, rng: np.random.Generator, max_iter: int = 100
) -> list[np.ndarray]:
    """Permutations of b's hidden units that match b to a (one network each, no member dim).

    Coordinate descent (Ainsworth et al. 2023): each sweep visits the hidden layers in a
    random order drawn from ``rng``; at each layer the permutation maximising the summed
    weight inner products with a, given the other layers' permutations, is a linear
    assignment problem (scipy's ``linear_sum_assignment``). A layer's permutation changes
    only when it strictly raises the objective, so the objective never decreases; the descent
    stops after a sweep with no change, or after ``max_iter`` sweeps. Apply the result with
    ``permute_hidden(spec, params_b, perms)``.
    """
    shapes = param_shapes(spec)
    if any(tuple(p.shape) != s for p, s in zip([*params_a, *params_b], shapes * 2)):
        raise ValueError("weight_matching takes one network each (no member dimension)")
    a = [p.detach().double().cpu().numpy() for p in params_a]
    b = [p.detach().double().cpu().numpy() for p in params_b]
    perms = [np.arange(h) for h in spec.hidden]
    for _ in range(max_iter):
        changed = False
        for layer in rng.permutation(len(perms)):
            cost = _layer_cost(spec, a, b, perms, layer)
            _, cols = linear_sum_assignment(cost, maximize=True)
            rows = np.arange(len(cols))
            old, new = cost[rows, perms[layer]].sum(), cost[rows, cols].sum()
            if new > old + 1e-12 * max(1.0, abs(old)):
                perms[layer] = cols
                changed = True
        if not changed:
            break
    return perms


@dataclass
class DemoPair:
    spec: MLPSpec
    params: Params  # stacked (2, ...): member k trained from seeds[k]
    x: torch.Tensor  # (n, in_dim)
    y: torch.Tensor  # (n, 1)
    steps: np.ndarray  # (2,) Adam steps taken
    train_mse: np.ndarray  # (2,) final full-batch training MSE


def normal_init(spec: MLPSpec, seeds: Sequence[int], std: float) -> Params:
    """Every param (weights and biases) ~ N(0, std^2), member k from
    ``torch.Generator().manual_seed(seeds[k])`` drawn in the params' order, equal to
    ``torch.manual_seed(s)`` then ``nn.init.normal_(p, std=std)`` over an nn.Sequential's
    parameters."""
    members = [
        [torch.empty(s).normal_(0.0, std, generator=g) for s in param_shapes(spec)]
        for g in (torch.Generator().manual_seed(int(seed)) for seed in seeds)
    ]
    return [torch.stack(ps) for ps in zip(*members)]


def demo_pair(
    n: int = 50,
    in_dim: int = 10,
    hidden: int = 200,
    data_seed: int = 42,
    seeds: Sequence[int] = (1, 2),
    std: float = 0.1,
    lr: float = 0.01,
    max_steps: int = 5000,
    stop_mse: float = 1e-6,
) -> DemoPair:
    """The reference text's mode-connectivity demo (its second demo), setup reproduced.

    Data: ``torch.Generator().manual_seed(data_seed)`` draws ``x = randn(n, in_dim)`` (the
    demo seeds torch's global RNG with 42 and draws x first, so x is the same); ``y =
    sin(x_1 + x_2 + x_3)``, noise-free, shape (n, 1). Networks: in_dim-hidden-hidden-1 ReLU
    MLPs, standard parametrisation, all params re-initialised N(0, std^2) from seeds 1 and 2
    (:func:`normal_init`). Training: full-batch Adam (torch.optim defaults), MSE, both
    members in one batched run.

    Ambiguities of the demo, and what is done here:
    - Stop rule: the demo steps, then stops if the loss computed *before* that step was
      < 1e-6: its final network is one step past the first one with MSE < 1e-6, and the loss
      it reports is not its final network's. Here a member is frozen once its MSE after a step
      is < ``stop_mse``, so the networks returned have MSE < 1e-6, one Adam step before the
      demo's (tests check this against the demo's loop). Defaults: 120 and 134 steps.
    - Its printed parameter count (2 d h + 2 h^2 + h = 84,200) is not the network's
      (d h + h + h^2 + h + h + 1 = 42,601); the network is what is reproduced.
    - It evaluates alpha * w_1 + (1 - alpha) w_2 at alphas 0, .2, .4, .5, .6, .8, 1 and
      reports the max loss, not a barrier; ``np.random.seed(42)`` is set but unused.
    """
    spec = MLPSpec(in_dim, (hidden, hidden), 1)
    g = torch.Generator().manual_seed(int(data_seed))
    x = torch.randn(n, in_dim, generator=g)
    y = torch.sin(x[:, :3].sum(1, keepdim=True))
    cfg = TrainConfig(
        epochs=max_steps,
        batch_size=n,
        lr=lr,
        optimizer="adam",
        loss="mse",
        stop_train_loss=stop_mse,
    )
    res = train_ensemble(spec, normal_init(spec, seeds, std), {"x": x, "y": y}, cfg, seeds)
    h = res.history
    first = h[h["stopped"]].groupby("member")["step"].min()
    steps = first.reindex(range(len(seeds)), fill_value=res.steps).to_numpy(np.int64)
    mse = h.groupby("member")["train_loss"].last().to_numpy()
    return DemoPair(spec, res.params, x, y, steps, mse)
