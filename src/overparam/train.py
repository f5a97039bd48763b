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

import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from overparam import resume, timing
from overparam.device import resolve_device
from overparam.models import MLPSpec, mlp_forward, mlp_forward_backward, param_shapes

BATCH_SEED_OFFSET = 100_003  # member k's batch order: Generator().manual_seed(seeds[k] + this)
OPTIMIZERS = ("sgd", "adam")
LOSSES = ("ce", "mse")
LR_SCHEDULES = ("constant", "linear")
HISTORY_COLUMNS = (
    "member",
    "seed",
    "epoch",
    "step",
    "train_loss",
    "test_loss",
    "train_acc",
    "test_acc",
    "diverged",
    "stopped",
)
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


def train_config(section: Any, /, **overrides: Any) -> TrainConfig:
    """The :class:`TrainConfig` of a training section: ``section`` is a job spec (or any
    dataclass) or a mapping, and every one of its fields (keys) named like a TrainConfig field
    is that field (epochs, batch_size, lr, optimizer, momentum, lr_schedule, ...); the others
    are ignored. ``overrides`` replace or add fields (the loss, the threads, a budget the job
    computes); a field in neither keeps TrainConfig's default. Values are converted by
    ``experiments.sections.from_section``."""
    from .experiments.sections import from_section

    if dataclasses.is_dataclass(section) and not isinstance(section, type):
        section = {f.name: getattr(section, f.name) for f in dataclasses.fields(section)}
    return from_section(TrainConfig, section, **overrides)


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
    flops: float = 0.0  # GEMM FLOPs of the optimizer steps (MLPSpec.gemm_flops_per_sample)


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
        minus_one = _const(-1.0, logp.device, logp.dtype).expand(K, b, 1)
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
def _update(
    cfg: TrainConfig,
    params,
    grads,
    state,
    neg_lr: list[torch.Tensor],
    t: int,
    bc2_table: torch.Tensor | None = None,
) -> None:
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


def _adam_bc2_table(cfg: TrainConfig, steps: int, dtype, device) -> torch.Tensor:
    """sqrt(1 - beta2^t) for t = 1..steps, on the device (read by ``_update`` per step)."""
    _, b2 = cfg.betas
    return torch.tensor([math.sqrt(1.0 - b2**t) for t in range(1, steps + 1)], dtype=dtype).to(
        device
    )


# ----------------------------------------------------------------------------- the engine's parts


class _Members:
    """Which members train, at which learning rate, and what became of the others: diverged
    (params, grads and optimizer state zeroed, learning rate 0) or stopped (frozen, params
    kept). Members are independent in every op, so zeroing one leaves the others unchanged."""

    def __init__(self, lr_values, params, grads, state, dev):
        K = len(lr_values)
        self.params, self.grads, self.state = params, grads, state
        self.lr = torch.tensor(lr_values, dtype=torch.float64, device=dev)
        self.active = torch.ones(K, dtype=torch.bool, device=dev)
        self.neg_lr = _neg_lr_views(self.lr, params)  # what _update reads: -lr per member
        self.diverged = np.zeros(K, dtype=bool)
        self.diverged_step = np.full(K, -1, dtype=np.int64)
        self.stopped = np.zeros(K, dtype=bool)

    def any_active(self) -> bool:
        return bool(self.active.any())

    def set_lr(self, factor: float | None = None) -> None:
        """Each member's lr times whether it is active (times ``factor``: a schedule's)."""
        lr = self.lr * self.active
        self.neg_lr[:] = _neg_lr_views(lr if factor is None else lr * factor, self.params)

    def mark_diverged(self, members: np.ndarray, step: int, seen_at=None) -> None:
        """Zero the members' params, grads and optimizer state and stop them; ``seen_at``: the
        step each was seen at (default ``step``), recorded for the first time only."""
        idx = torch.as_tensor(np.flatnonzero(members), device=self.active.device)
        with torch.no_grad():
            for t in (*self.params, *self.grads, *(b for v in self.state.values() for b in v)):
                t.index_fill_(0, idx, 0.0)
            self.active.index_fill_(0, idx, False)
        self.set_lr()
        self.diverged[members] = True
        first = members & (self.diverged_step < 0)
        at = step if seen_at is None else np.broadcast_to(seen_at, members.shape)[first]
        self.diverged_step[first] = at

    def freeze(self, members: np.ndarray) -> None:
        """Stop the members (early stop): learning rate 0, params kept."""
        self.stopped[members] = True
        with torch.no_grad():
            self.active[torch.as_tensor(np.flatnonzero(members), device=self.active.device)] = False
        self.set_lr()


class _EagerChecks:
    """Divergence checked after every forward pass: a member whose batch loss is non-finite or
    above its bound is marked diverged before the update (one host-device sync per step)."""

    def __init__(self, members: _Members, bound: torch.Tensor):
        self.members, self.bound, self.newly_bad = members, bound, None

    def keep(self, losses: torch.Tensor) -> torch.Tensor:
        """The members whose loss counts: active and within the bound (NaN compares False)."""
        active = self.members.active
        keep = (losses <= self.bound).logical_and_(active)
        self.newly_bad = None if torch.equal(keep, active) else (active & ~keep).cpu().numpy()
        return keep

    def after_forward(self, step: int) -> bool:
        """Mark the members found since the forward pass; True when none is left."""
        if self.newly_bad is None:
            return False
        self.members.mark_diverged(self.newly_bad, step)
        return not self.members.any_active()

    def stepped(self) -> None:
        pass

    def flush(self) -> int | None:
        return None


class _DeferredChecks(_EagerChecks):
    """Divergence noted on the device (the step a member's batch loss first left its bound;
    its gradient is masked from then on) and acted on at epoch ends and kept-params steps: no
    sync per step (CUDA's default), and the same results, since a member's slice is its own."""

    def __init__(self, members: _Members, bound: torch.Tensor):
        super().__init__(members, bound)
        dev = members.active.device
        self.bad_step = torch.full(members.diverged.shape, -1, dtype=torch.int64, device=dev)
        self.step_dev = torch.zeros((), dtype=torch.int64, device=dev)

    def keep(self, losses: torch.Tensor) -> torch.Tensor:
        active = self.members.active
        keep = (losses <= self.bound).logical_and_(active)
        first = (active & ~keep).logical_and_(self.bad_step < 0)
        torch.where(first, self.step_dev, self.bad_step, out=self.bad_step)
        return keep

    def after_forward(self, step: int) -> bool:
        return False

    def stepped(self) -> None:
        self.step_dev.add_(1)

    def flush(self) -> int | None:
        """Mark the members seen since the last flush as eager checks would have at their
        step. When none is left, returns the step the last was seen at (the run ends there,
        as with eager checks), else None."""
        seen = self.bad_step.cpu().numpy()
        new = (seen >= 0) & ~self.members.diverged
        if not new.any():
            return None
        self.members.mark_diverged(new, -1, seen_at=seen)
        if self.members.any_active():
            return None
        last = int(seen[new].max())
        self.step_dev.fill_(last)
        return last


class _Batches:
    """Each member's mini-batches, in its own order (one ``randperm`` per epoch from its
    generator); the batches of a block of steps are gathered at once, (K, steps * B, ...),
    into at most about GATHER_ELEMENTS elements, and a step takes views of them. Per-member
    data, (K, n, ...), is flattened to (K * n, ...): member k's sample i at row k * n + i."""

    def __init__(self, spec: MLPSpec, d: _Data, loss: str, seeds, B: int, steps: int):
        K, n = len(seeds), d.x.shape[-2]
        self.x, self.y, self.in_dim, self.B, self.steps, self.n = d.x, d.y, spec.in_dim, B, steps, n
        self.x_member = self.x.dim() == 3
        self.y_member = self.y.dim() == (3 if loss == "mse" else 2)
        if self.x_member:
            self.x = self.x.reshape(K * n, spec.in_dim)
        if self.y_member:
            self.y = self.y.reshape(K * n, *self.y.shape[2:])
        self.row0 = (torch.arange(K, device=self.x.device) * n).view(K, 1)
        self.y_tail = self.y.shape[1:]
        row_elems = K * B * max(spec.in_dim, math.prod(self.y_tail) if self.y_tail else 1)
        self.block = max(1, min(steps, GATHER_ELEMENTS // row_elems))
        self.gens = [batch_generator(s) for s in seeds]

    def epoch(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The (xb, yb) of one epoch's steps, (K, B, in_dim) and (K, B, ...)."""
        K, B, n = len(self.gens), self.B, self.n
        perm = torch.stack([torch.randperm(n, generator=g) for g in self.gens]).to(self.x.device)
        own = perm + self.row0 if self.x_member or self.y_member else perm
        for s in range(self.steps):
            j = s % self.block
            if j == 0:
                a, e = s * B, min(n, (s + self.block) * B)
                pick = (own if self.x_member else perm)[:, a:e].reshape(-1)
                xs = self.x.index_select(0, pick).view(K, e - a, self.in_dim)
                pick = (own if self.y_member else perm)[:, a:e].reshape(-1)
                ys = self.y.index_select(0, pick).view(K, e - a, *self.y_tail)
            yield xs[:, j * B : (j + 1) * B], ys[:, j * B : (j + 1) * B]


class _History:
    """Evaluation at epoch ends: full-batch train (and test) loss and accuracy of every member,
    the divergence check on the train loss (the bound comes from epoch 0's), the early-stop
    rule, and one row per member per evaluated epoch."""

    def __init__(self, spec: MLPSpec, d: _Data, cfg: TrainConfig, members: _Members, seeds):
        self.spec, self.d, self.cfg, self.members = spec, d, cfg, members
        self.seeds = np.asarray(seeds)
        self.rows: list[dict[str, np.ndarray]] = []

    def record(self, epoch: int, step: int, checks: _EagerChecks) -> None:
        m, d, cfg, K = self.members, self.d, self.cfg, len(self.seeds)
        tr_loss, tr_acc = evaluate(self.spec, m.params, d.x, d.y, cfg.loss, d.labels)
        if epoch == 0:
            bound = cfg.divergence_factor * torch.clamp(tr_loss.to(checks.bound.dtype), min=1.0)
            checks.bound.copy_(bound)
        bad = (~torch.isfinite(tr_loss) | (tr_loss > checks.bound.double())).cpu().numpy()
        bad &= ~m.diverged
        if bad.any():
            m.mark_diverged(bad, step)
        te_loss = te_acc = None
        if d.x_test is not None:
            te_loss, te_acc = evaluate(
                self.spec, m.params, d.x_test, d.y_test, cfg.loss, d.labels_test
            )
        nan = np.full(K, np.nan)
        cols = {
            "train_loss": tr_loss.cpu().numpy(),
            "test_loss": nan if te_loss is None else te_loss.cpu().numpy(),
            "train_acc": nan if tr_acc is None else tr_acc.cpu().numpy(),
            "test_acc": nan if te_acc is None else te_acc.cpu().numpy(),
        }
        cols = {c: np.where(m.diverged, np.nan, v) for c, v in cols.items()}
        stop = np.zeros(K, dtype=bool)
        if cfg.stop_train_loss is not None:
            stop |= cols["train_loss"] < cfg.stop_train_loss
        if cfg.stop_train_acc is not None:
            stop |= cols["train_acc"] >= cfg.stop_train_acc
        stop &= ~m.diverged & ~m.stopped
        if stop.any():
            m.freeze(stop)
        self.rows.append(
            {
                "member": np.arange(K),
                "seed": self.seeds,
                "epoch": np.full(K, epoch),
                "step": np.full(K, step),
                **cols,
                "diverged": m.diverged.copy(),
                "stopped": m.stopped.copy(),
            }
        )

    def frame(self) -> pd.DataFrame:
        rows = self.rows
        history = pd.DataFrame({c: np.concatenate([r[c] for r in rows]) for c in HISTORY_COLUMNS})
        kinds = {
            "member": "int64",
            "seed": "int64",
            "epoch": "int64",
            "step": "int64",
            "diverged": "bool",
            "stopped": "bool",
        }
        return history.astype(kinds)

    @staticmethod
    def best_epoch(history: pd.DataFrame, K: int) -> np.ndarray:
        """Each member's evaluated epoch of minimum test loss (-1: none finite)."""
        best = np.full(K, -1, dtype=np.int64)
        for k, g in history.groupby("member"):
            tl = g["test_loss"].to_numpy()
            if np.isfinite(tl).any():
                best[k] = int(g["epoch"].to_numpy()[np.nanargmin(tl)])
        return best


@dataclass
class _Counters:
    """The run's position and its time: optimizer steps, member-samples seen, seconds of
    steps and of evaluation; the epoch finished last."""

    epoch: int = 0
    step: int = 0
    samples: int = 0
    train_s: float = 0.0
    eval_s: float = 0.0

    def rates(self, spec: MLPSpec) -> dict[str, float]:
        """TrainResult's member-samples per second of steps and the steps' GEMM FLOPs."""
        per_s = self.samples / self.train_s if self.train_s > 0 else float("nan")
        return {"samples_per_s": per_s, "flops": float(self.samples * spec.gemm_flops_per_sample)}

    def end_at(self, last: int | None, samples_per_step: int) -> bool:
        """Deferred checks found every member dead (``last``: the step the last was seen at,
        None: not so): the run ends there, as eager checks end it, and the samples count drops
        the steps it never takes."""
        if last is None:
            return False
        self.samples -= samples_per_step * (self.step - last)
        self.step = last
        return True


class _Progress:
    """A progress line at epoch ends, at most every ``every_s`` seconds (always when forced)."""

    def __init__(self, say, every_s: float, epochs: int, t_start: float):
        self.say, self.every_s, self.epochs, self.t_start = say, every_s, epochs, t_start
        self.last = -math.inf

    def __call__(self, c: _Counters, m: _Members, history: _History, force: bool = False):
        now = time.perf_counter()
        if not force and now - self.last < self.every_s:
            return
        self.last = now
        K = len(m.diverged)
        losses = history.rows[-1]["train_loss"] if history.rows else np.full(K, np.nan)
        med = float(np.nanmedian(losses)) if np.isfinite(losses).any() else float("nan")
        sps = c.samples / c.train_s if c.train_s > 0 else float("nan")
        elapsed = now - self.t_start
        eta = elapsed / c.epoch * (self.epochs - c.epoch) if c.epoch > 0 else float("nan")
        self.say(
            f"epoch {c.epoch}/{self.epochs} step {c.step} median train loss {med:.4g} "
            f"diverged {int(m.diverged.sum())}/{K} stopped {int(m.stopped.sum())}/{K} "
            f"{sps:,.0f} samples/s, elapsed {_clock(elapsed)}, ETA {_clock(eta)}"
        )


def _working_copies(params_in, masks, dev):
    """The params the run trains (copies on ``dev``, masked), their gradient buffers, and the
    masked (grads, params, masks) lists the step multiplies by the masks."""
    params = [p.detach().to(dev, copy=True).contiguous() for p in params_in]
    grads = [torch.zeros_like(p) for p in params]  # written in place every step
    triples = [
        (g, p, m) for g, p, m in zip(grads, params, _prepare_masks(masks, params)) if m is not None
    ]
    m_grads, m_params, m_masks = (list(t) for t in zip(*triples)) if triples else ([], [], [])
    if triples:
        with torch.no_grad():
            torch._foreach_mul_(m_params, m_masks)
    return params, grads, (m_grads, m_params, m_masks)


def _capture(
    c: _Counters,
    m: _Members,
    checks,
    batches: _Batches,
    history: _History,
    kept: dict,
    elapsed: float,
) -> dict:
    """Everything the rest of a run depends on, at an epoch end, on the CPU (a resume point)."""

    def cpu(ts):
        return [t.detach().to("cpu", copy=True) for t in ts]

    return {
        "counters": replace(c),
        "elapsed": elapsed,
        "params": cpu(m.params),
        "grads": cpu(m.grads),
        "state": {k: cpu(v) for k, v in m.state.items()},
        "active": m.active.cpu(),
        "diverged": m.diverged.copy(),
        "diverged_step": m.diverged_step.copy(),
        "stopped": m.stopped.copy(),
        "bound": checks.bound.cpu(),
        "deferred": (
            cpu([checks.bad_step, checks.step_dev]) if isinstance(checks, _DeferredChecks) else []
        ),
        "gens": [g.get_state() for g in batches.gens],
        "kept": dict(kept),
        "rows": list(history.rows),
    }


def _restore(
    r: dict, m: _Members, checks, batches: _Batches, history: _History, kept: dict
) -> _Counters:
    """Put a run back at the epoch end ``_capture`` saved (in place: views stay valid)."""
    with torch.no_grad():
        for mine, saved in ((m.params, r["params"]), (m.grads, r["grads"])):
            for t, v in zip(mine, saved):
                t.copy_(v)
        for k, bufs in m.state.items():
            for t, v in zip(bufs, r["state"][k]):
                t.copy_(v)
        m.active.copy_(r["active"])
        checks.bound.copy_(r["bound"])
        if r["deferred"]:
            checks.bad_step.copy_(r["deferred"][0])
            checks.step_dev.copy_(r["deferred"][1])
    m.set_lr()
    m.diverged[:], m.diverged_step[:], m.stopped[:] = (
        r["diverged"],
        r["diverged_step"],
        r["stopped"],
    )
    for g, st in zip(batches.gens, r["gens"]):
        g.set_state(st)
    kept.update(r["kept"])
    history.rows.extend(r["rows"])
    return replace(r["counters"])


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
    old_threads = torch.get_num_threads()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    try:
        defer = dev.type == "cuda" if defer_checks is None else bool(defer_checks)
        args = (spec, params, d, cfg, seeds, masks, dev, lr_values, B, steps_per_epoch, say,
                log_every_s, t_start, defer)  # fmt: skip
        store = resume.current()
        if store is None:
            res = _train(*args)
        else:
            key = resume.call_key(
                "train_ensemble", spec, list(params), data, masks, cfg, seeds, dev.type, defer
            )
            res = _train_resumable(store, key, args, say, dev, cfg.epochs)
        timing.charge("train", res.train_s, res.flops)
        return res
    finally:
        if cfg.threads is not None:
            torch.set_num_threads(old_threads)


def _train_resumable(store, key: str, args: tuple, say, dev, epochs: int) -> TrainResult:
    """``_train(*args)`` inside a job's checkpoint store (``overparam.resume``) under the call's
    ``key``: a call that had finished is read back; an interrupted one continues from its last
    epoch-end state."""
    done = store.load("result", key)
    if done is not None:
        say(f"resume: training call {key} had finished before; its result is read back")
        done.params = [p.to(dev) for p in done.params]
        timing.charge("eval", done.eval_s)
        return done
    state = store.load("state", key)
    if state is not None:
        c = state["counters"]
        say(
            f"resume: training call {key} continues from epoch {c.epoch} (step {c.step}) of {epochs}"
        )
        timing.charge("eval", c.eval_s)  # the evaluations the interrupted run made
    saved = False

    def save(capture: Callable[[], dict]) -> None:
        nonlocal saved
        if store.due():
            store.save("state", key, capture())
            saved = True

    res = _train(*args, resume_from=state, save=save)
    if saved or state is not None or store.due():
        cpu = [p.detach().to("cpu", copy=True) for p in res.params]
        store.save("result", key, replace(res, params=cpu))
    store.drop("state", key)
    return res


# the `fmt: skip`s here and in train_ensemble keep both functions within the 80-line limit
def _train(spec, params_in, d: _Data, cfg, seeds, masks, dev, lr_values, B, steps_per_epoch,
           say, log_every_s, t_start, defer: bool, *, resume_from: dict | None = None,
           save: Callable | None = None) -> TrainResult:  # fmt: skip
    """The loop: per step each member's batch, forward and backward, divergence checks, masks,
    lr schedule, update; per epoch evaluation, early stops, progress, a resume point (``save``)."""
    K = len(seeds)
    params, grads, (m_grads, m_params, m_masks) = _working_copies(params_in, masks, dev)
    masked = bool(m_masks)
    members = _Members(lr_values, params, grads, _init_state(cfg, params), dev)
    bound = torch.full((K,), float("inf"), dtype=params[0].dtype, device=dev)  # set at epoch 0
    checks = (_DeferredChecks if defer else _EagerChecks)(members, bound)
    batches = _Batches(spec, d, cfg.loss, seeds, B, steps_per_epoch)
    history = _History(spec, d, cfg, members, seeds)
    kept: dict[int, list[torch.Tensor]] = {}  # step -> params, cfg.checkpoint_steps
    show = _Progress(say, log_every_s, cfg.epochs, t_start)
    total = steps_per_epoch * cfg.epochs
    bc2 = _adam_bc2_table(cfg, total, params[0].dtype, dev) if cfg.optimizer == "adam" else None
    decay_total, K_B = cfg.decay_steps or cfg.decay_offset + total, K * B
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)

    def record(c: _Counters) -> None:
        t0 = time.perf_counter()
        history.record(c.epoch, c.step, checks)
        sync()
        c.eval_s += time.perf_counter() - t0

    if resume_from is None:
        c = _Counters()
        if 0 in cfg.checkpoint_steps:
            kept[0] = [p.detach().to("cpu", copy=True) for p in params]
        record(c)
    else:  # an interrupted call with the same arguments: continue from its epoch end
        c = _restore(resume_from, members, checks, batches, history, kept)
        show.t_start = time.perf_counter() - resume_from["elapsed"]
    show(c, members, history, force=True)
    while c.epoch < cfg.epochs and members.any_active():
        c.epoch += 1
        sync()
        t0 = time.perf_counter()
        for xb, yb in batches.epoch():
            head = lambda z, yb=yb: _losses_and_grad(z, yb, cfg.loss, checks.keep)  # noqa: E731
            mlp_forward_backward(spec, params, xb, head, grads)
            if checks.after_forward(c.step):  # eager: every member has diverged
                break
            if masked:
                torch._foreach_mul_(m_grads, m_masks)
            if cfg.lr_schedule == "linear":  # opt-in; the constant default never gets here
                members.set_lr(max(0.0, 1.0 - (c.step + cfg.decay_offset) / decay_total))
            c.step += 1
            c.samples += K * xb.shape[1]
            checks.stepped()
            _update(cfg, params, grads, members.state, members.neg_lr, c.step, bc2)
            if masked:
                torch._foreach_mul_(m_params, m_masks)
            if c.step in cfg.checkpoint_steps:
                sync()
                c.train_s += time.perf_counter() - t0
                t0 = time.perf_counter()
                if c.end_at(checks.flush(), K_B):  # every member died before this step
                    break
                kept[c.step] = [p.detach().to("cpu", copy=True) for p in params]
                t0 = time.perf_counter()
        sync()
        c.train_s += time.perf_counter() - t0
        c.end_at(checks.flush(), K_B)
        done = not members.any_active()
        if c.epoch % cfg.eval_every == 0 or c.epoch == cfg.epochs or done:
            record(c)
        show(c, members, history, force=c.epoch == cfg.epochs or done)
        if save is not None:
            save(lambda: _capture(c, members, checks, batches, history, kept,
                                  time.perf_counter() - show.t_start))  # fmt: skip
    frame = history.frame()
    return TrainResult(
        history=frame, params=params, checkpoints=kept, diverged=members.diverged,
        diverged_step=members.diverged_step, stopped=members.stopped,
        best_epoch=_History.best_epoch(frame, K), wall_s=time.perf_counter() - t_start,
        train_s=c.train_s, eval_s=c.eval_s, steps=c.step,
        **c.rates(spec),
    )  # fmt: skip
