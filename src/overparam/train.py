"""Batched ensemble training: K MLPs (one per seed) trained in one process, one batched
forward/backward per step.

How one step works. Member k draws its own mini-batch order from
``torch.Generator().manual_seed(seeds[k] + BATCH_SEED_OFFSET)`` (one ``randperm`` per epoch,
on the CPU). The K batches are gathered with one ``index_select`` into (K, B, in_dim), the
forward is ``bmm``/``baddbmm`` over the member dimension, and the objective is the sum of the
members' mean losses, so each member's gradient is exactly its own. The optimizers (SGD with
momentum and weight decay, Adam) are written here as elementwise tensor updates with a
per-member learning rate of shape (K, 1, 1) / (K, 1); they follow torch.optim.SGD/Adam
(``tests/test_train.py`` checks one member against torch.optim on an ``nn.Sequential``).
Writing them ourselves gives per-member learning rates, freezing of single members, and
masks for free.

Divergence. After the forward pass of every step, a member whose batch loss is non-finite or
above ``divergence_factor * max(initial train loss, 1)`` is marked diverged: its params and
optimizer state are set to zero, its learning rate to zero, and its loss is left out of the
objective. Members are independent in every op (batched GEMMs, per-member losses), so a NaN
stays in its own member's slice and the others go on exactly as if trained alone. A
diverged member's metrics are NaN from the first evaluation after it diverged; its params
stay at zero. The full-batch train loss at every evaluation is checked the same way.
On CUDA the per-step check would cost a host-device synchronisation per step, so there it is
deferred (``defer_checks``): the step a member first left its bound is noted on the device, its
gradient is masked out from then on, and the members seen are zeroed at the next epoch end or
checkpoint; since its slice is its own, every table, checkpoint and result is the same as with
the check after every step (tested on the CPU with deferred checks forced).

Speed. The step does not use autograd over the params: ``models.mlp_forward_backward`` is a
hand-written backward whose weight-gradient GEMMs write into preallocated buffers, and the
loss gradient is in closed form. The optimizer update is a few ``torch._foreach_*`` calls
whatever the depth, and the batches of a block of steps are gathered at once; both are
bit-identical to the per-tensor, per-step ops they replace (benchmarks/trainer_identity.py). Progress is logged at epoch ends, at most every
``log_every_s`` seconds (and always at the first and last epoch).

Early stop. With ``stop_train_loss``, a member whose full-batch train loss at an evaluation
is below the threshold is frozen (learning rate 0, params kept) and marked ``stopped``;
``stop_train_acc`` does the same once its train accuracy reaches the threshold (1.0: it fits
every training label). Training ends when no member is left active.

Per-member data. ``y`` may give every member its own integer labels, shape (K, n) (labels
partly or wholly randomised per member) or float targets (K, n, out_dim), and ``x`` its own
inputs, shape (K, n, in_dim) (random inputs, a data draw per seed); each member then trains and is evaluated on its own rows, drawn in its own
batch order. Shared (n,) labels and (n, in_dim) inputs take exactly the code path they took
before per-member data existed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from overparam import resume, timing
from overparam.device import COMPILE_ALL as _COMPILE_ALL
from overparam.device import compiled_steps, resolve_device  # noqa: F401 (their home is device)
from overparam.models import MLPSpec, mlp_forward, mlp_forward_backward, param_shapes

BATCH_SEED_OFFSET = 100_003  # member k's batch order: Generator().manual_seed(seeds[k] + this)
OPTIMIZERS = ("sgd", "adam")
LOSSES = ("ce", "mse")
LR_SCHEDULES = ("constant", "linear")
HISTORY_COLUMNS = (
    "member", "seed", "epoch", "step", "train_loss", "test_loss",
    "train_acc", "test_acc", "diverged", "stopped",
)  # fmt: skip
EVAL_CHUNK_ELEMENTS = 1 << 20  # activations per evaluation chunk (K * samples * widest layer)
EVAL_MIN_CHUNK = 256  # in samples: cache-sized chunks, large enough for efficient GEMMs
GATHER_ELEMENTS = 1 << 21  # training batches gathered at once (several steps' worth)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch_size: int  # clamped to the number of training samples (then full-batch GD)
    lr: float | tuple[float, ...]  # one float, or one per member (length K)
    optimizer: str = "sgd"  # "sgd" | "adam"
    momentum: float = 0.0  # sgd only (heavy ball, no dampening, like torch.optim.SGD)
    weight_decay: float = 0.0  # L2 added to the gradient (torch.optim semantics, not AdamW)
    loss: str = "ce"  # "ce" | "mse" (mean over samples and outputs, like nn.MSELoss())
    eval_every: int = 1  # epochs; epoch 0 and the last epoch are always evaluated
    checkpoint_steps: tuple[int, ...] = ()  # optimizer steps to keep params at (0 = init)
    stop_train_loss: float | None = None  # freeze a member once its train loss is below this
    stop_train_acc: float | None = None  # freeze a member once its train accuracy is >= this
    threads: int | None = None  # torch.set_num_threads for the duration of the run
    betas: tuple[float, float] = (0.9, 0.999)  # adam
    eps: float = 1e-8  # adam
    divergence_factor: float = 1e6  # diverged: loss > this * max(initial train loss, 1)
    # opt-in learning-rate decay: "constant" (the default: the lr never changes) or "linear"
    # (step t, counted from 0, uses lr * (1 - (t + decay_offset) / decay_steps); decay_steps
    # defaults to this run's steps + decay_offset, so the last step's lr is lr / decay_steps).
    # decay_offset continues a schedule in a later run (a copy spawned at step k: offset k).
    lr_schedule: str = "constant"
    decay_steps: int | None = None
    decay_offset: int = 0
    # opt-in: the step (forward, backward, update) as one torch.compile'd graph; fused kernels
    # change float summation order, so results match the default step only to rounding
    compile: bool = False

    def __post_init__(self) -> None:
        lr = self.lr
        if isinstance(lr, (list, tuple, np.ndarray)):
            lr = tuple(float(v) for v in lr)
            if not lr:
                raise ValueError("lr sequence is empty")
        else:
            lr = float(lr)
        object.__setattr__(self, "lr", lr)
        object.__setattr__(self, "checkpoint_steps", tuple(int(s) for s in self.checkpoint_steps))
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        errors = []
        if self.epochs < 0:
            errors.append(f"epochs must be >= 0, got {self.epochs}")
        if self.batch_size < 1:
            errors.append(f"batch_size must be >= 1, got {self.batch_size}")
        if any(not math.isfinite(v) or v < 0 for v in np.atleast_1d(lr)):
            errors.append(f"lr must be finite and >= 0, got {self.lr}")
        if self.optimizer not in OPTIMIZERS:
            errors.append(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.loss not in LOSSES:
            errors.append(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if not 0.0 <= self.momentum < 1.0:
            errors.append(f"momentum must be in [0, 1), got {self.momentum}")
        if self.momentum and self.optimizer != "sgd":
            errors.append("momentum is an sgd setting; adam uses betas")
        if self.weight_decay < 0:
            errors.append(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.stop_train_acc is not None and not 0.0 < self.stop_train_acc <= 1.0:
            errors.append(f"stop_train_acc must be in (0, 1], got {self.stop_train_acc}")
        if self.eval_every < 1:
            errors.append(f"eval_every must be >= 1, got {self.eval_every}")
        if any(s < 0 for s in self.checkpoint_steps):
            errors.append(f"checkpoint_steps must be >= 0, got {self.checkpoint_steps}")
        if self.threads is not None and self.threads < 1:
            errors.append(f"threads must be >= 1, got {self.threads}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            errors.append(f"betas must be two numbers in [0, 1), got {self.betas}")
        if self.divergence_factor <= 0:
            errors.append(f"divergence_factor must be > 0, got {self.divergence_factor}")
        if self.lr_schedule not in LR_SCHEDULES:
            errors.append(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.decay_steps is not None and self.decay_steps < 1:
            errors.append(f"decay_steps must be >= 1, got {self.decay_steps}")
        if self.decay_offset < 0:
            errors.append(f"decay_offset must be >= 0, got {self.decay_offset}")
        if errors:
            raise ValueError("invalid TrainConfig: " + "; ".join(errors))


@dataclass
class TrainResult:
    history: pd.DataFrame  # tidy: one row per (member, evaluated epoch), HISTORY_COLUMNS
    params: list[torch.Tensor]  # final stacked params (on the training device)
    checkpoints: dict[int, list[torch.Tensor]]  # step -> stacked params copy (on the CPU)
    diverged: np.ndarray  # (K,) bool
    diverged_step: np.ndarray  # (K,) int: optimizer step at which divergence was seen, -1 never
    stopped: np.ndarray  # (K,) bool: frozen by stop_train_loss or stop_train_acc
    best_epoch: np.ndarray  # (K,) int: evaluated epoch of minimum test loss (-1: none finite)
    wall_s: float  # whole call
    train_s: float  # optimizer steps only (no evaluation, no checkpoint copies)
    eval_s: float  # evaluations of the train (and test) set, divergence and stop checks
    steps: int  # optimizer steps taken
    samples_per_s: float = field(default=float("nan"))  # member-samples per train second


def _clock(seconds: float) -> str:
    """Seconds as h:mm:ss ('?' when unknown, e.g. the ETA before the first epoch ends)."""
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def batch_generator(seed: int) -> torch.Generator:
    """The generator of a member's batch order; each epoch draws ``torch.randperm(n, generator=g)``."""
    return torch.Generator().manual_seed(int(seed) + BATCH_SEED_OFFSET)


# ----------------------------------------------------------------------------- data and losses


@dataclass
class _Data:
    x: torch.Tensor  # (n, in) shared, or (K, n, in) per member
    y: torch.Tensor  # ce: int64 (n,) or (K, n) per member; mse: float (n, out) or (K, n, out)
    labels: torch.Tensor | None  # int64 class labels for accuracy, None when not a classification
    x_test: torch.Tensor | None
    y_test: torch.Tensor | None
    labels_test: torch.Tensor | None


def _as_tensor(a, name: str) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.detach()
    try:
        return torch.as_tensor(np.asarray(a))
    except Exception as e:
        raise ValueError(f"data[{name!r}] is not an array: {e}") from e


def _prepare_targets(y: torch.Tensor, n: int, spec: MLPSpec, loss: str, name: str, K: int):
    is_int = not (y.is_floating_point() or y.is_complex())
    per_member = is_int and y.dim() == 2
    if per_member and y.shape[0] != K:
        raise ValueError(
            f"data[{name!r}] has shape {tuple(y.shape)}: per-member labels need ({K}, n) "
            f"for {K} members"
        )
    rows = y.shape[-1] if per_member else y.shape[1] if y.dim() == 3 else y.shape[0]
    if rows != n:
        raise ValueError(f"data[{name!r}] has {rows} rows, the inputs have {n}")
    if is_int and y.dim() in (1, 2):
        lo, hi = (int(y.min()), int(y.max())) if n else (0, 0)
        if lo < 0 or hi >= spec.out_dim:
            raise ValueError(
                f"data[{name!r}] has labels in [{lo}, {hi}], out_dim is {spec.out_dim}"
            )
        labels = y.long()
        if loss == "ce":
            return labels, labels
        # mse on class labels: one-hot targets, accuracy by argmax
        return F.one_hot(labels, spec.out_dim), labels
    if loss == "ce":
        raise ValueError(f"loss 'ce' needs integer class labels in data[{name!r}], got {y.dtype}")
    if y.dim() == 3:  # per-member float targets (K, n, out)
        if y.shape != (K, n, spec.out_dim):
            raise ValueError(
                f"data[{name!r}] has shape {tuple(y.shape)}: per-member targets need "
                f"({K}, {n}, {spec.out_dim}) for {K} members"
            )
        return y, None
    if y.dim() == 1:
        y = y[:, None]
    if y.shape[1:] != (spec.out_dim,):
        raise ValueError(
            f"data[{name!r}] has shape {tuple(y.shape)}, expected ({n}, {spec.out_dim})"
        )
    return y, None


def _prepare_data(data, spec: MLPSpec, loss: str, device, dtype, K: int) -> _Data:
    for key in ("x", "y"):
        if key not in data:
            raise ValueError(
                f"data needs keys 'x' and 'y' (and optionally 'x_test', 'y_test'); missing {key!r}"
            )
    if ("x_test" in data) != ("y_test" in data):
        raise ValueError("data needs both 'x_test' and 'y_test' or neither")
    out: dict[str, torch.Tensor | None] = {}
    for split in ("", "_test"):
        if "x" + split not in data:
            out.update({"x" + split: None, "y" + split: None, "labels" + split: None})
            continue
        x = _as_tensor(data["x" + split], "x" + split)
        shared = x.dim() == 2 and x.shape[1] == spec.in_dim
        if not shared and not (x.dim() == 3 and x.shape[0] == K and x.shape[2] == spec.in_dim):
            raise ValueError(
                f"data['x{split}'] has shape {tuple(x.shape)}, expected (n, {spec.in_dim}) or, "
                f"per member, ({K}, n, {spec.in_dim})"
            )
        y, labels = _prepare_targets(
            _as_tensor(data["y" + split], "y" + split), x.shape[-2], spec, loss, "y" + split, K
        )
        if loss == "mse":
            y = y.to(device=device, dtype=dtype)
        else:
            y = y.to(device)
        out["x" + split] = x.to(device=device, dtype=dtype).contiguous()
        out["y" + split] = y.contiguous()
        out["labels" + split] = None if labels is None else labels.to(device)
    x_train = out["x"]
    assert x_train is not None  # required above
    if x_train.shape[-2] == 0:
        raise ValueError("no training samples")
    return _Data(**out)


def _losses_and_grad(logits: torch.Tensor, y: torch.Tensor, loss: str, keep_fn):
    """Per-member mean losses (K,) of a batch and the gradient of the sum of the kept
    members' losses w.r.t. the logits (K, B, out), in closed form:
    ce: (softmax - onehot) / B; mse (mean over samples and outputs): 2 (logits - y) / (B out).
    ``keep_fn(losses) -> (K,) bool`` chooses the members that count; the others get a zero
    gradient (NaN where their logits are NaN: only their own slice, see ``kill``)."""
    K, b, c = logits.shape
    if loss == "ce":
        logp = torch.log_softmax(logits, dim=-1)
        target = y.unsqueeze(-1)
        losses = logp.gather(-1, target).mean((1, 2)).neg_()
        keep = keep_fn(losses)
        minus_one = _minus_one(logp.dtype, logp.device).expand(K, b, 1)
        dz = logp.exp_().scatter_add_(-1, target, minus_one)  # softmax - onehot
        scale = 1.0 / b
    else:
        dz = logits - y.contiguous()  # y's layout sets dz's, and so the GEMMs' summation order
        losses = dz.square().mean((1, 2))
        keep = keep_fn(losses)
        scale = 2.0 / (b * c)
    # kept members' gradients times scale, the others times 0
    return losses, dz.mul_(keep.to(dz.dtype).mul_(_const(scale, dz.device, dz.dtype)).view(K, 1, 1))


_CONSTANTS: dict[tuple, torch.Tensor] = {}


def _const(value: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A cached 0-dim constant (never written to: read by kernels, or expanded as a source)."""
    key = (float(value), dtype, device)
    if key not in _CONSTANTS:
        _CONSTANTS[key] = torch.full((), float(value), dtype=dtype, device=device)
    return _CONSTANTS[key]


def _minus_one(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return _const(-1.0, device, dtype)


def _denormals_vanish(dtype: torch.dtype, bc2_sqrt: float, eps: float) -> bool:
    """Whether Adam's ``den = sqrt(v) / bc2_sqrt + eps`` rounds to exactly ``eps`` for every
    subnormal ``v`` (below the dtype's smallest normal number): then reading subnormal ``v`` as
    0 (flush-to-zero) leaves ``den``, and so the step, bit for bit unchanged. True for the
    usual eps (1e-8: sqrt(1.2e-38) / bc2_sqrt <= 3.5e-18, far below half an ulp of eps)."""
    fi = torch.finfo(dtype)
    return math.sqrt(fi.tiny) / bc2_sqrt < 0.25 * eps * fi.eps


def evaluate(spec: MLPSpec, params: Sequence[torch.Tensor], x, y, loss: str, labels=None):
    """Full-batch (K,) loss and (K,) accuracy (None without class labels), in chunks.
    ``x`` (n, in) or per member (K, n, in); ``y``, ``labels`` shared or per member (K, n...).
    Its time is charged to the open ``overparam.timing`` ledgers (the jobs' ``eval_s``)."""
    if not timing.recording():
        return _evaluate(spec, params, x, y, loss, labels)
    t0 = time.perf_counter()
    out = _evaluate(spec, params, x, y, loss, labels)
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
    timing.charge("eval", time.perf_counter() - t0)
    return out


@torch.no_grad()
def _evaluate(spec: MLPSpec, params: Sequence[torch.Tensor], x, y, loss: str, labels=None):
    K = params[0].shape[0]
    n = x.shape[-2]
    chunk = max(EVAL_MIN_CHUNK, EVAL_CHUNK_ELEMENTS // (K * max(spec.dims)))
    loss_sum = torch.zeros(K, dtype=torch.float64, device=x.device)
    correct = torch.zeros(K, dtype=torch.int64, device=x.device)
    y_member = y.dim() == (3 if loss == "mse" else 2)  # per-member targets
    lab_member = labels is not None and labels.dim() == 2
    for a in range(0, n, chunk):
        # shared input: one GEMM for all members; per-member inputs: batched GEMMs
        logits = mlp_forward(
            spec, params, x[a : a + chunk] if x.dim() == 2 else x[:, a : a + chunk]
        )
        b = logits.shape[1]
        if loss == "ce":
            yy = y[:, a : a + chunk] if y_member else y[a : a + chunk].expand(K, b)
            per = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), yy.reshape(-1), reduction="none"
            )
            loss_sum += per.view(K, b).sum(1, dtype=torch.float64)
        else:
            yy = y[:, a : a + chunk] if y_member else y[a : a + chunk]
            loss_sum += (logits - yy).square().reshape(K, -1).sum(
                1, dtype=torch.float64
            ) / yy.shape[-1]
        if labels is not None:
            lab = labels[:, a : a + chunk] if lab_member else labels[a : a + chunk]
            correct += (logits.argmax(-1) == lab).sum(1)
    acc = None if labels is None else (correct.double() / n)
    return loss_sum / n, acc


# ----------------------------------------------------------------------------- optimizers


def _init_state(cfg: TrainConfig, params: list[torch.Tensor]) -> dict[str, list[torch.Tensor]]:
    if cfg.optimizer == "sgd":
        return {"buf": [torch.zeros_like(p) for p in params]} if cfg.momentum else {}
    return {
        "m": [torch.zeros_like(p) for p in params],
        "v": [torch.zeros_like(p) for p in params],
    }


def _neg_lr_views(lr_k: torch.Tensor, params) -> list[torch.Tensor]:
    """-lr per member, shaped (K, 1, ...) to broadcast over each param, in the params' dtype."""
    neg = (-lr_k).to(params[0].dtype)
    return [neg.view(-1, *([1] * (p.dim() - 1))) for p in params]


@torch.no_grad()
def _update(cfg: TrainConfig, params, grads, state, neg_lr: list[torch.Tensor], t: int,
            bc2_table: torch.Tensor | None = None) -> None:  # fmt: skip
    """One optimizer step (t >= 1) on the stacked params with per-member learning rates
    (``neg_lr`` from ``_neg_lr_views``). ``grads`` are overwritten (weight decay is added).
    ``bc2_table`` (Adam, optional): sqrt(1 - beta2^t) for t = 1.., from ``_adam_tables`` (a view
    per step: no host-device copy, so no synchronisation on CUDA), else made per step.
    Follows torch.optim.SGD (dampening 0, no nesterov) and torch.optim.Adam (no amsgrad).

    Each line is one ``torch._foreach_*`` call over all params: the same elementwise op per
    tensor as a Python loop would issue (bit-identical results), without a Python round trip
    per tensor -- the update costs a few dispatches whatever the depth. Scalar factors are
    passed as cached 0-dim tensors of the params' dtype: float32 and float64 kernels compute
    in that dtype and cast a Python float to it, so the values are the same, without a new
    wrapped tensor (and its cast) per param."""
    dev, dt = params[0].device, params[0].dtype
    if cfg.weight_decay:
        torch._foreach_add_(grads, params, alpha=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        if cfg.momentum:
            buf = state["buf"]
            torch._foreach_mul_(buf, _const(cfg.momentum, dev, dt))
            torch._foreach_add_(buf, grads)
            grads = buf
        torch._foreach_addcmul_(params, grads, neg_lr)
        return
    b1, b2 = cfg.betas
    inv_bc1 = 1.0 / (1.0 - b1**t)  # step size lr / bias_correction1
    bc2_sqrt = math.sqrt(1.0 - b2**t)
    m, v = state["m"], state["v"]
    torch._foreach_lerp_(m, grads, 1.0 - b1)
    torch._foreach_mul_(v, _const(b2, dev, dt))
    torch._foreach_addcmul_(v, grads, grads, value=1.0 - b2)
    if dev.type == "cpu" and _denormals_vanish(dt, bc2_sqrt, cfg.eps):
        # CPUs take ~30x longer on subnormal inputs (second moments of tiny gradients:
        # pruned networks, dead units); read as 0 they give the same den (_denormals_vanish)
        torch.set_flush_denormal(True)
        try:
            den = torch._foreach_sqrt(v)
        finally:
            torch.set_flush_denormal(False)
    else:
        den = torch._foreach_sqrt(v)
    if bc2_table is not None and t <= len(bc2_table):
        bc2 = bc2_table[t - 1]
    else:
        bc2 = torch.tensor(bc2_sqrt, dtype=dt, device=dev)
    torch._foreach_div_(den, bc2)
    torch._foreach_add_(den, _const(cfg.eps, dev, dt))
    torch._foreach_addcmul_(params, torch._foreach_div(m, den), neg_lr, value=inv_bc1)


# ----------------------------------------------------------------------------- compiled step


def _adam_tables(cfg: TrainConfig, steps: int, dtype, device):
    """(1 / (1 - beta1^t), sqrt(1 - beta2^t)) for t = 1..steps, on the device."""
    b1, b2 = cfg.betas
    ts = range(1, steps + 1)
    inv_bc1 = torch.tensor([1.0 / (1.0 - b1**t) for t in ts], dtype=dtype)
    bc2 = torch.tensor([math.sqrt(1.0 - b2**t) for t in ts], dtype=dtype)
    return inv_bc1.to(device), bc2.to(device)


def _compiled_step(spec: MLPSpec, cfg: TrainConfig):
    """``_step_fn`` compiled by ``torch.compile`` (once per batch shape and dtype)."""
    return torch.compile(_step_fn(spec, cfg), dynamic=False)


def _step_fn(spec: MLPSpec, cfg: TrainConfig):
    """The optimizer step of ``_train`` as one function, for ``torch.compile`` (``cfg.compile``):
    forward, closed-form loss gradient, hand-written backward, masks and the update, with
    divergence checks deferred (noted in ``bad_step`` on the device). Every value that changes
    from step to step is a tensor argument (the step counter, Adam's bias corrections read
    from tables by it), so nothing in it makes the graph recompile from one step to the next.
    Eagerly it computes what the default step computes, in another order of ops."""

    def step(params, grads, state, xb, yb, neg_lr, active, bound, bad_step, step_dev,
             m_grads, m_params, m_masks, adam):  # fmt: skip
        def keep_fn(losses):
            keep = (losses <= bound).logical_and_(active)
            first = (active & ~keep).logical_and_(bad_step < 0)
            bad_step.copy_(torch.where(first, step_dev, bad_step))
            return keep

        mlp_forward_backward(spec, params, xb, lambda z: _losses_and_grad(z, yb, cfg.loss, keep_fn),
                             grads)  # fmt: skip
        if m_masks:
            torch._foreach_mul_(m_grads, m_masks)
        step_dev.add_(1)
        if cfg.weight_decay:
            torch._foreach_add_(grads, params, alpha=cfg.weight_decay)
        if cfg.optimizer == "sgd":
            g = grads
            if cfg.momentum:
                torch._foreach_mul_(state["buf"], cfg.momentum)
                torch._foreach_add_(state["buf"], grads)
                g = state["buf"]
            torch._foreach_addcmul_(params, g, neg_lr)
        else:
            b1, b2 = cfg.betas
            inv_bc1, bc2 = (tbl[step_dev - 1] for tbl in adam)
            m, v = state["m"], state["v"]
            torch._foreach_lerp_(m, grads, 1.0 - b1)
            torch._foreach_mul_(v, b2)
            torch._foreach_addcmul_(v, grads, grads, value=1.0 - b2)
            den = torch._foreach_sqrt(v)
            torch._foreach_div_(den, bc2)
            torch._foreach_add_(den, cfg.eps)
            scaled = torch._foreach_mul(neg_lr, inv_bc1)
            torch._foreach_addcmul_(params, torch._foreach_div(m, den), scaled)
        if m_masks:
            torch._foreach_mul_(m_params, m_masks)

    return step


def _run_compiled(fn, *args) -> None:
    """Call the compiled step; a failure to compile (no C++ compiler for the CPU backend, an
    unsupported op) becomes one ValueError that says how to go on."""
    try:
        fn(*args)
    except Exception as e:
        if not type(e).__module__.startswith(("torch._dynamo", "torch._inductor")):
            raise
        raise ValueError(
            f"compile: true, but torch.compile of the training step failed ({type(e).__name__}:"
            f" {str(e).splitlines()[0] if str(e) else ''}); on the CPU it needs a C++ compiler "
            "(gcc or clang); set compile: false to train without it"
        ) from e


# ----------------------------------------------------------------------------- the engine


def _make_logger(log: Callable[[str], None] | None) -> Callable[[str], None]:
    """The project's logging convention: a ``log(msg)`` callable, or None for silence."""
    if log is None:
        return lambda s: None
    if callable(log):
        return log
    raise ValueError(f"log must be None or a callable log(msg), got {type(log)}")


def _prepare_masks(masks, params: list[torch.Tensor]) -> list[torch.Tensor | None]:
    if masks is None:
        return [None] * len(params)
    if len(masks) != len(params):
        raise ValueError(f"masks has {len(masks)} entries, params {len(params)}")
    out: list[torch.Tensor | None] = []
    for i, (m, p) in enumerate(zip(masks, params)):
        if m is None:
            out.append(None)
            continue
        m = _as_tensor(m, f"masks[{i}]").to(p.device)
        if m.shape == p.shape[1:]:
            m = m.expand_as(p)  # one mask for every member
        if m.shape != p.shape:
            raise ValueError(f"masks[{i}] has shape {tuple(m.shape)}, params[{i}] {tuple(p.shape)}")
        if m.dtype != torch.bool and not bool(((m == 0) | (m == 1)).all()):
            raise ValueError(f"masks[{i}] must be binary (0/1 or bool)")
        out.append(m.to(p.dtype).contiguous())
    return out


def train_ensemble(
    spec: MLPSpec,
    params: Sequence[torch.Tensor],
    data: dict,
    cfg: TrainConfig,
    seeds: Sequence[int],
    masks: Sequence[torch.Tensor | None] | None = None,
    device: str | torch.device = "cpu",
    log=None,
    log_every_s: float = 10.0,
    defer_checks: bool | None = None,
) -> TrainResult:
    """Train the K members of ``params`` (stacked, see ``overparam.models``) on ``data``.

    ``data``: x (n, in_dim), y (ce: int64 labels; mse: float (n,) / (n, out_dim), or int64
    labels -> one-hot targets with accuracy), optional x_test, y_test; numpy or torch.
    ``seeds[k]`` is member k's seed (its batch order uses ``batch_generator(seeds[k])``).
    The caller's params are not modified. ``log``: None, callable(str) or file-like.
    ``defer_checks``: check the batch losses against the divergence bound on the device and
    act on them at epoch ends and checkpoints instead of after every step (no host-device
    synchronisation per step; the same results); None: on CUDA only.
    """
    t_start = time.perf_counter()
    dev = resolve_device(device)
    seeds = [int(s) for s in seeds]
    K = len(seeds)
    shapes = param_shapes(spec)
    if len(params) != len(shapes):
        raise ValueError(f"expected {len(shapes)} param tensors for {spec}, got {len(params)}")
    for i, (p, s) in enumerate(zip(params, shapes)):
        if tuple(p.shape) != (K, *s):
            raise ValueError(
                f"params[{i}] has shape {tuple(p.shape)}, expected {(K, *s)} for K={K} seeds"
            )
    lr_values = cfg.lr if isinstance(cfg.lr, tuple) else (cfg.lr,) * K
    if len(lr_values) != K:
        raise ValueError(f"cfg.lr has {len(lr_values)} values for {K} members")
    dtype = params[0].dtype
    d = _prepare_data(data, spec, cfg.loss, dev, dtype, K)
    n = d.x.shape[-2]
    B = min(cfg.batch_size, n)
    steps_per_epoch = math.ceil(n / B)
    total_steps = cfg.epochs * steps_per_epoch
    if any(s > total_steps for s in cfg.checkpoint_steps):
        raise ValueError(
            f"checkpoint_steps {cfg.checkpoint_steps} beyond the {total_steps} steps of this run "
            f"({cfg.epochs} epochs x {steps_per_epoch} steps)"
        )
    say = _make_logger(log)
    if _COMPILE_ALL.get() and not cfg.compile:
        cfg = replace(cfg, compile=True)
    old_threads = torch.get_num_threads()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    try:
        defer = dev.type == "cuda" if defer_checks is None else bool(defer_checks)
        defer = defer or cfg.compile  # a compiled step never synchronises
        store = resume.current()
        if store is None:
            res = _train(
                spec,
                params,
                d,
                cfg,
                seeds,
                masks,
                dev,
                lr_values,
                B,
                steps_per_epoch,
                say,
                log_every_s,
                t_start,
                defer,
            )
        else:
            res = _train_resumable(
                store,
                spec,
                params,
                data,
                d,
                cfg,
                seeds,
                masks,
                dev,
                lr_values,
                B,
                steps_per_epoch,
                say,
                log_every_s,
                t_start,
                defer,
            )
        timing.charge("train", res.train_s)
        return res
    finally:
        if cfg.threads is not None:
            torch.set_num_threads(old_threads)


def _train_resumable(
    store,
    spec,
    params,
    data,
    d,
    cfg,
    seeds,
    masks,
    dev,
    lr_values,
    B,
    steps_per_epoch,
    say,
    log_every_s,
    t_start,
    defer,
) -> TrainResult:
    """``_train`` inside a job's checkpoint store (``overparam.resume``): a call that had
    finished is read back; an interrupted one continues from its last epoch-end state."""
    key = resume.call_key(
        "train_ensemble", spec, list(params), data, masks, cfg, seeds, dev.type, defer
    )
    done = store.load("result", key)
    if done is not None:
        say(f"resume: training call {key} had finished before; its result is read back")
        done.params = [p.to(dev) for p in done.params]
        timing.charge("eval", done.eval_s)
        return done
    state = store.load("state", key)
    if state is not None:
        say(
            f"resume: training call {key} continues from epoch {state['epoch']} "
            f"(step {state['step']}) of {cfg.epochs}"
        )
        timing.charge("eval", state["eval_s"])  # the evaluations the interrupted run made
    saved = False

    def save(capture: Callable[[], dict]) -> None:
        nonlocal saved
        if store.due():
            store.save("state", key, capture())
            saved = True

    res = _train(
        spec,
        params,
        d,
        cfg,
        seeds,
        masks,
        dev,
        lr_values,
        B,
        steps_per_epoch,
        say,
        log_every_s,
        t_start,
        defer,
        resume_from=state,
        save=save,
    )
    if saved or state is not None or store.due():
        cpu = [p.detach().to("cpu", copy=True) for p in res.params]
        store.save("result", key, replace(res, params=cpu))
    store.drop("state", key)
    return res


def _train(spec, params_in, d: _Data, cfg, seeds, masks, dev, lr_values, B, steps_per_epoch,
           say, log_every_s, t_start, defer: bool, resume_from: dict | None = None,
           save: Callable | None = None) -> TrainResult:  # fmt: skip
    K = len(seeds)
    n = d.x.shape[-2]
    params = [p.detach().to(dev, copy=True).contiguous() for p in params_in]
    grads = [torch.zeros_like(p) for p in params]  # written in place every step
    mask_list = _prepare_masks(masks, params)
    with torch.no_grad():
        for p, m in zip(params, mask_list):
            if m is not None:
                p.mul_(m)
    state = _init_state(cfg, params)
    lr_base = torch.tensor(lr_values, dtype=torch.float64, device=dev)
    active = torch.ones(K, dtype=torch.bool, device=dev)
    neg_lr = _neg_lr_views(lr_base, params)
    diverged = np.zeros(K, dtype=bool)
    diverged_step = np.full(K, -1, dtype=np.int64)
    stopped = np.zeros(K, dtype=bool)
    bound = torch.full((K,), float("inf"), dtype=params[0].dtype, device=dev)
    gens = [batch_generator(s) for s in seeds]
    ckpt_steps = set(cfg.checkpoint_steps)
    checkpoints: dict[int, list[torch.Tensor]] = {}
    rows: list[dict[str, np.ndarray]] = []
    step = 0
    samples = 0  # member-samples seen: K per sample of a step
    train_s = 0.0
    eval_s = 0.0
    last_log = -math.inf

    def snapshot() -> list[torch.Tensor]:
        return [p.detach().to("cpu", copy=True) for p in params]

    def kill(members: np.ndarray, seen_at: np.ndarray | int | None = None) -> None:
        """Mark members diverged: zero their params, grads and optimizer state, lr -> 0.
        ``seen_at``: the step each was seen at (default: now)."""
        idx = torch.as_tensor(np.flatnonzero(members), device=dev)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.index_fill_(0, idx, 0.0)
                g.index_fill_(0, idx, 0.0)
            for bufs in state.values():
                for b in bufs:
                    b.index_fill_(0, idx, 0.0)
            active.index_fill_(0, idx, False)
        neg_lr[:] = _neg_lr_views(lr_base * active, params)
        diverged[members] = True
        first = members & (diverged_step < 0)
        diverged_step[first] = step if seen_at is None else np.broadcast_to(seen_at, (K,))[first]

    def record(epoch: int) -> None:
        nonlocal eval_s
        t_rec = time.perf_counter()
        _record(epoch)
        sync()
        eval_s += time.perf_counter() - t_rec

    def _record(epoch: int) -> None:
        nonlocal bound
        tr_loss, tr_acc = evaluate(spec, params, d.x, d.y, cfg.loss, d.labels)
        if epoch == 0:  # divergence bound from the initial train loss
            bound = cfg.divergence_factor * torch.clamp(tr_loss.to(bound.dtype), min=1.0)
        bad = (~torch.isfinite(tr_loss) | (tr_loss > bound.double())).cpu().numpy() & ~diverged
        if bad.any():
            kill(bad)
        if d.x_test is not None:
            te_loss, te_acc = evaluate(spec, params, d.x_test, d.y_test, cfg.loss, d.labels_test)
        else:
            te_loss, te_acc = None, None
        nan = np.full(K, np.nan)
        cols = {
            "train_loss": tr_loss.cpu().numpy(),
            "test_loss": nan if te_loss is None else te_loss.cpu().numpy(),
            "train_acc": nan if tr_acc is None else tr_acc.cpu().numpy(),
            "test_acc": nan if te_acc is None else te_acc.cpu().numpy(),
        }
        for c in cols:
            cols[c] = np.where(diverged, np.nan, cols[c])
        stop = np.zeros(K, dtype=bool)
        if cfg.stop_train_loss is not None:
            stop |= cols["train_loss"] < cfg.stop_train_loss
        if cfg.stop_train_acc is not None:
            stop |= cols["train_acc"] >= cfg.stop_train_acc
        stop &= ~diverged & ~stopped
        if stop.any():
            stopped[stop] = True
            with torch.no_grad():
                active[torch.as_tensor(np.flatnonzero(stop), device=dev)] = False
            neg_lr[:] = _neg_lr_views(lr_base * active, params)
        rows.append({
            "member": np.arange(K), "seed": np.asarray(seeds), "epoch": np.full(K, epoch),
            "step": np.full(K, step), **cols, "diverged": diverged.copy(), "stopped": stopped.copy(),
        })  # fmt: skip

    def progress(epoch: int, force: bool = False) -> None:
        nonlocal last_log
        now = time.perf_counter()
        if not force and now - last_log < log_every_s:
            return
        last_log = now
        losses = rows[-1]["train_loss"] if rows else np.full(K, np.nan)
        med = float(np.nanmedian(losses)) if np.isfinite(losses).any() else float("nan")
        sps = samples / train_s if train_s > 0 else float("nan")
        elapsed = now - t_start
        eta = elapsed / epoch * (cfg.epochs - epoch) if epoch > 0 else float("nan")
        say(
            f"epoch {epoch}/{cfg.epochs} step {step} median train loss {med:.4g} "
            f"diverged {int(diverged.sum())}/{K} stopped {int(stopped.sum())}/{K} "
            f"{sps:,.0f} samples/s, elapsed {_clock(elapsed)}, ETA {_clock(eta)}"
        )

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    def capture() -> dict:
        """Everything the rest of the run depends on, at an epoch end (on the CPU)."""
        cpu = lambda ts: [t.detach().to("cpu", copy=True) for t in ts]  # noqa: E731
        return {
            "epoch": epoch,
            "step": step,
            "samples": samples,
            "train_s": train_s,
            "eval_s": eval_s,
            "elapsed": time.perf_counter() - t_start,
            "params": cpu(params),
            "grads": cpu(grads),
            "state": {k: cpu(v) for k, v in state.items()},
            "active": active.cpu(),
            "bound": bound.cpu(),
            "bad_step": bad_step.cpu(),
            "step_dev": step_dev.cpu(),
            "diverged": diverged.copy(),
            "diverged_step": diverged_step.copy(),
            "stopped": stopped.copy(),
            "gens": [g.get_state() for g in gens],
            "checkpoints": dict(checkpoints),
            "rows": list(rows),
        }

    start_epoch = 0
    if resume_from is None:
        if 0 in ckpt_steps:
            checkpoints[0] = snapshot()
        record(0)
        progress(0, force=True)
    else:  # an interrupted call of the same arguments: continue from its epoch-end state
        r = resume_from
        with torch.no_grad():
            for mine, saved in ((params, r["params"]), (grads, r["grads"])):
                for t, v in zip(mine, saved):
                    t.copy_(v)
            for k, bufs in state.items():
                for t, v in zip(bufs, r["state"][k]):
                    t.copy_(v)
            active.copy_(r["active"])
        bound = r["bound"].to(dev)
        neg_lr[:] = _neg_lr_views(lr_base * active, params)
        diverged[:], diverged_step[:], stopped[:] = r["diverged"], r["diverged_step"], r["stopped"]
        for g, st in zip(gens, r["gens"]):
            g.set_state(st)
        checkpoints.update(r["checkpoints"])
        rows.extend(r["rows"])
        start_epoch, step, samples = r["epoch"], r["step"], r["samples"]
        train_s, eval_s = r["train_s"], r["eval_s"]
        t_start = time.perf_counter() - r["elapsed"]
        progress(start_epoch, force=True)
    x, y = d.x, d.y
    # per-member rows: flattened to (K * n, ...), member k's sample i at row k * n + i
    x_member = x.dim() == 3
    y_member = y.dim() == (3 if cfg.loss == "mse" else 2)
    if x_member:
        x = x.reshape(K * n, spec.in_dim)
    if y_member:
        y = y.reshape(K * n, *y.shape[2:])
    row0 = (torch.arange(K, device=dev) * n).view(K, 1)  # first row of each member's data
    y_tail = y.shape[1:]
    yb = y[:0]

    newly_bad = None
    # deferred checks (CUDA): the step a member's batch loss first left its bound, on the device
    bad_step = torch.full((K,), -1, dtype=torch.int64, device=dev)
    step_dev = torch.zeros((), dtype=torch.int64, device=dev)
    if resume_from is not None:
        bad_step.copy_(resume_from["bad_step"])
        step_dev.copy_(resume_from["step_dev"])

    def keep_fn(losses: torch.Tensor) -> torch.Tensor:
        """Active members with a finite loss within the bound. Members that are not: eager
        checks set newly_bad (a host sync per step); deferred checks note the step on the
        device, for flush()."""
        nonlocal newly_bad
        keep = (losses <= bound).logical_and_(active)  # NaN compares False: dropped here
        if defer:
            first = (active & ~keep).logical_and_(bad_step < 0)
            torch.where(first, step_dev, bad_step, out=bad_step)
        else:
            newly_bad = None if torch.equal(keep, active) else (active & ~keep).cpu().numpy()
        return keep

    def flush() -> bool:
        """Deferred checks: kill the members whose batch loss left its bound since the last
        flush, as eager checks would have at that step (a member's slice is its own, so the
        others are unchanged by the wait). When no member is left, the run ends at the step the
        last of them was seen, as eager checks end it. Returns whether that happened."""
        nonlocal step, samples
        if not defer:
            return False
        seen = bad_step.cpu().numpy()
        new = (seen >= 0) & ~diverged
        if not new.any():
            return False
        kill(new, seen)
        if bool(active.any()):
            return False
        last = int(seen[new].max())
        samples -= K * B * (step - last)  # (samples/s only) the steps eager checks never take
        step = last
        step_dev.fill_(last)
        return True

    def head(logits: torch.Tensor):
        return _losses_and_grad(logits, yb, cfg.loss, keep_fn)

    total_steps = steps_per_epoch * cfg.epochs
    adam = _adam_tables(cfg, total_steps, params[0].dtype, dev) if cfg.optimizer == "adam" else ()
    bc2_table = adam[1] if adam else None
    compiled = _compiled_step(spec, cfg) if cfg.compile else None
    masked = [(g, p, m) for g, p, m in zip(grads, params, mask_list) if m is not None]
    m_grads, m_params, m_masks = (list(t) for t in zip(*masked)) if masked else ([], [], [])
    decay_total = cfg.decay_steps or cfg.decay_offset + steps_per_epoch * cfg.epochs
    # the batches of several steps are gathered at once, (K, steps * B, ...), into at most
    # about GATHER_ELEMENTS elements; a step then takes views (fewer ops per step)
    row_elems = K * B * max(spec.in_dim, math.prod(y_tail) if y_tail else 1)
    block = max(1, min(steps_per_epoch, GATHER_ELEMENTS // row_elems))
    epoch = start_epoch
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        if not active.any():
            break
        sync()
        t0 = time.perf_counter()
        perm = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(dev)  # (K, n)
        perm_own = perm + row0 if x_member or y_member else perm
        for s in range(steps_per_epoch):
            j = s % block
            if j == 0:  # gather the next block of steps' batches
                a, e = s * B, min(n, (s + block) * B)
                pick = (perm_own if x_member else perm)[:, a:e].reshape(-1)
                xs = x.index_select(0, pick).view(K, e - a, spec.in_dim)
                pick = (perm_own if y_member else perm)[:, a:e].reshape(-1)
                ys = y.index_select(0, pick).view(K, e - a, *y_tail)
            xb = xs[:, j * B : (j + 1) * B]
            yb = ys[:, j * B : (j + 1) * B]
            if compiled is None:
                mlp_forward_backward(spec, params, xb, head, grads)  # sets newly_bad or bad_step
                if newly_bad is not None:
                    kill(newly_bad)  # zero params, grads, state before the update
                    if not active.any():
                        break
                if masked:
                    torch._foreach_mul_(m_grads, m_masks)
            if cfg.lr_schedule == "linear":  # opt-in; the constant default never gets here
                frac = max(0.0, 1.0 - (step + cfg.decay_offset) / decay_total)
                neg_lr[:] = _neg_lr_views(lr_base * active * frac, params)
            step += 1
            samples += K * xb.shape[1]
            if compiled is not None:  # cfg.compile: forward, backward, update in one graph
                _run_compiled(compiled, params, grads, state, xb.contiguous(), yb.contiguous(),
                              neg_lr, active, bound, bad_step, step_dev, m_grads, m_params,
                              m_masks, adam)  # fmt: skip
            else:
                if defer:
                    step_dev.add_(1)
                _update(cfg, params, grads, state, neg_lr, step, bc2_table)
                if masked:
                    torch._foreach_mul_(m_params, m_masks)
            if step in ckpt_steps:
                sync()
                train_s += time.perf_counter() - t0
                t0 = time.perf_counter()
                if flush():  # every member died before this step: eager checks stop there
                    break
                checkpoints[step] = snapshot()
                t0 = time.perf_counter()
        sync()
        train_s += time.perf_counter() - t0
        flush()
        done = not bool(active.any())
        if epoch % cfg.eval_every == 0 or epoch == cfg.epochs or done:
            record(epoch)
        progress(epoch, force=epoch == cfg.epochs or done)
        if save is not None:
            save(capture)

    history = pd.DataFrame({c: np.concatenate([r[c] for r in rows]) for c in HISTORY_COLUMNS})
    history = history.astype({"member": "int64", "seed": "int64", "epoch": "int64", "step": "int64",
                              "diverged": "bool", "stopped": "bool"})  # fmt: skip
    best = np.full(K, -1, dtype=np.int64)
    for k, g in history.groupby("member"):
        tl = g["test_loss"].to_numpy()
        if np.isfinite(tl).any():
            best[k] = int(g["epoch"].to_numpy()[np.nanargmin(tl)])
    return TrainResult(
        history=history,
        params=params,
        checkpoints=checkpoints,
        diverged=diverged,
        diverged_step=diverged_step,
        stopped=stopped,
        best_epoch=best,
        wall_s=time.perf_counter() - t_start,
        train_s=train_s,
        eval_s=eval_s,
        steps=step,
        samples_per_s=samples / train_s if train_s > 0 else float("nan"),
    )
