"""Lottery tickets: iterative magnitude pruning (IMP) with rewinding, and its controls.

Frankle & Carbin 2019 (ICLR), "The Lottery Ticket Hypothesis"; late rewinding from
Frankle, Dziugaite, Roy & Carbin 2020 (ICML), "Linear Mode Connectivity and the LTH".

:func:`iterative_magnitude_pruning` runs the rounds of one network with seeds S:

- round 0: train the dense network (one member per seed) from its init theta_0; keep the
  params at step k (theta_k; k = 0 is the init itself).
- round j >= 1: prune the ticket of round j-1 (its trained weights) to the scheduled size
  (:func:`overparam.prune.magnitude_prune`), then train one ensemble of three variants per
  seed, all with the same batch order (seed) and the same TrainConfig:

    ticket   magnitude mask m_j, survivors rewound to theta_k of the dense run
    reinit   the same mask m_j, fresh random init (seed ``control_seeds(REINIT_SEED_OFFSET,
             j, S)``, :func:`overparam.prune.randomly_reinitialize`)
    random   a uniformly random mask with m_j's per-layer counts (``torch.Generator`` seeded
             ``control_seeds(RANDOM_MASK_OFFSET, j, S)``, :func:`overparam.prune.randomly_prune`),
             rewound to theta_k

  Rewinding resets the weights, not the clock: every round trains for the full budget.
- :func:`train_round`: the params are checkpointed at the TrainConfig's checkpoint steps (and
  at k); afterwards each checkpoint is evaluated on the validation and the test set. The
  early-stopping step is the step of minimum validation loss; the accuracy of a run is its
  test accuracy at that step (the paper's measure). ``max_test_acc`` (the MNIST-1D notebook's
  measure) is recorded too.

Every member is determined by its mask, init seed, batch seed and rewind step (and the data
and TrainConfig): :func:`retrain` trains one member again from those alone.

``data`` (everywhere here): numpy arrays ``x``, ``y`` (training), ``x_val``, ``y_val``
(validation, for early stopping) and ``x_test``, ``y_test``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from .models import MLPSpec, init_mlp_ensemble
from .prune import (
    Mask,
    concat_members,
    magnitude_prune,
    randomly_prune,
    randomly_reinitialize,
    select_members,
)
from .train import TrainConfig, TrainResult, evaluate, resolve_device, train_ensemble

VARIANTS = ("dense", "ticket", "reinit", "random")  # round 0: dense; rounds >= 1: the others
REWOUND = ("ticket", "random")  # start from the dense run's step-k params (the others: an init)
REINIT_SEED_OFFSET = 1_000_000  # reinit member of (round j, seed s): init seed OFFSET + 1000 j + s
RANDOM_MASK_OFFSET = 2_000_000  # its random mask: torch.Generator seeded OFFSET + 1000 j + s

Data = dict[str, np.ndarray]


def control_seeds(offset: int, round_: int, seeds: Sequence[int]) -> list[int]:
    """The seeds of a control's members in round ``round_``: offset + 1000 round + seed."""
    return [offset + 1000 * round_ + int(s) for s in seeds]


@dataclass(frozen=True)
class Schedule:
    """How IMP prunes and rewinds: ``rounds`` rounds after the dense one, each keeping
    (1 - ``rate_hidden``) of the hidden layers' and (1 - ``rate_output``) of the output layer's
    surviving weights (``pruning``: ``layerwise`` or ``global``, see ``overparam.prune``),
    survivors rewound to the dense run's step ``rewind_step`` (0: its init)."""

    rounds: int
    rate_hidden: float = 0.2
    rate_output: float = 0.1
    pruning: str = "layerwise"
    rewind_step: int = 0


@dataclass
class Round:
    """The trained members of one round, in order (round 0: the dense members; round j:
    tickets, reinits, randoms, one per seed each). Per-member lists and arrays of length K."""

    round: int
    variant: list[str]
    seed: list[int]  # batch order (``overparam.train.batch_generator``)
    init_seed: list[int]  # the init the member (or its rewind point) was drawn from
    mask: Mask
    stats: dict[str, np.ndarray]  # train_round's per-member statistics
    wall_s: float


def with_checkpoint(tc: TrainConfig, step: int) -> TrainConfig:
    """``tc`` that also keeps (and so evaluates) the params at ``step``."""
    return replace(tc, checkpoint_steps=tuple(sorted(set(tc.checkpoint_steps) | {int(step)})))


def steps_per_epoch(tc: TrainConfig, data: Data) -> int:
    n = len(data["y"])
    return math.ceil(n / min(tc.batch_size, n))


# ----------------------------------------------------------------------------- one round


def train_round(
    spec: MLPSpec, params, mask: Mask, data: Data, tc: TrainConfig, seeds, device, log=None
) -> tuple[dict[str, np.ndarray], TrainResult]:
    """Train one ensemble with ``mask``; evaluate every checkpoint on validation and test.
    Returns per-member scalars (stop step, accuracies, ...) and the TrainResult."""
    dev = resolve_device(device)
    res = train_ensemble(
        spec,
        params,
        {"x": data["x"], "y": data["y"]},
        tc,
        seeds,
        masks=mask.layers,
        device=dev,
        log=log,
    )
    steps = sorted(s for s in res.checkpoints if s <= res.steps)
    xv, yv = (torch.as_tensor(data[k]).to(dev) for k in ("x_val", "y_val"))
    xt, yt = (torch.as_tensor(data[k]).to(dev) for k in ("x_test", "y_test"))
    val_loss_l, test_acc_l = [], []
    for s in steps:
        p = [t.to(dev) for t in res.checkpoints[s]]
        vl, _ = evaluate(spec, p, xv, yv, "ce", yv)
        _, ta = evaluate(spec, p, xt, yt, "ce", yt)
        val_loss_l.append(vl.cpu().numpy())
        test_acc_l.append(ta.cpu().numpy())
    val_loss, test_acc = np.stack(val_loss_l), np.stack(test_acc_l)  # (C, K)
    K = len(seeds)
    finite = np.isfinite(val_loss).any(0) & ~res.diverged
    best = np.where(finite, np.argmin(np.where(np.isfinite(val_loss), val_loss, np.inf), 0), 0)
    cols = np.arange(K)
    last = res.history[res.history["epoch"] == res.history["epoch"].max()].sort_values("member")
    nan = np.full(K, np.nan)
    max_acc = np.nanmax(np.where(np.isfinite(val_loss), test_acc, -1), 0)
    out = {
        "stop_step": np.where(finite, np.asarray(steps)[best], -1),
        "total_steps": np.full(K, res.steps),
        "val_loss_at_stop": np.where(finite, val_loss[best, cols], nan),
        "test_acc_at_stop": np.where(finite, test_acc[best, cols], nan),
        "max_test_acc": np.where(finite, max_acc, nan),
        "final_test_acc": np.where(finite, test_acc[-1], nan),
        "final_train_acc": np.where(finite, last["train_acc"].to_numpy(), nan),
        "diverged": res.diverged.copy(),
    }
    return out, res


# ----------------------------------------------------------------------------- the rounds


def iterative_magnitude_pruning(
    spec: MLPSpec,
    data: Data,
    tc: TrainConfig,
    seeds: Sequence[int],
    schedule: Schedule,
    device="cpu",
) -> Iterator[Round]:
    """Round 0 (dense) and rounds 1..``schedule.rounds`` (ticket, reinit, random), one
    :class:`Round` each, as they finish (see the module docstring)."""
    seeds = [int(s) for s in seeds]
    S, k = len(seeds), int(schedule.rewind_step)
    tc = with_checkpoint(tc, k)
    total = tc.epochs * steps_per_epoch(tc, data)
    if k > total:
        raise ValueError(f"rewind step {k} is beyond the {total} steps of a run")

    init = init_mlp_ensemble(spec, seeds)
    mask = Mask.full(spec, S)
    stats, res = train_round(spec, init, mask, data, tc, seeds, device)
    yield Round(0, ["dense"] * S, seeds, seeds, mask, stats, res.wall_s)
    rewind_to = [t.cpu() for t in res.checkpoints[k]] if k else init
    trained = [t.cpu() for t in res.params]

    for j in range(1, schedule.rounds + 1):
        mask = magnitude_prune(
            trained, mask, j, schedule.rate_hidden, schedule.rate_output, schedule.pruning
        )
        gens = [
            torch.Generator().manual_seed(s) for s in control_seeds(RANDOM_MASK_OFFSET, j, seeds)
        ]
        rmask = randomly_prune(mask, gens)
        reinit_seeds = control_seeds(REINIT_SEED_OFFSET, j, seeds)
        reinit = randomly_reinitialize(spec, reinit_seeds)
        params = concat_members(mask.apply(rewind_to), mask.apply(reinit), rmask.apply(rewind_to))
        all_masks = Mask.concat(mask, mask, rmask)
        stats, res = train_round(spec, params, all_masks, data, tc, seeds * 3, device)
        yield Round(
            j,
            ["ticket"] * S + ["reinit"] * S + ["random"] * S,
            seeds * 3,
            seeds + reinit_seeds + seeds,
            all_masks,
            stats,
            res.wall_s,
        )
        trained = select_members([t.cpu() for t in res.params], range(S))


def retrain(
    spec: MLPSpec,
    data: Data,
    tc: TrainConfig,
    mask: Mask,
    *,
    variant: str,
    init_seed: int,
    seed: int,
    rewind_step: int = 0,
    device="cpu",
) -> dict[str, float]:
    """Train one member of a run again, from what identifies it: its ``variant``, ``mask``,
    ``init_seed`` and batch ``seed``, the run's ``rewind_step`` k and TrainConfig ``tc``.
    Init from ``init_seed``; a ticket or random member with k > 0 starts from the dense
    network trained from that init to step k (batch seed ``seed``). Returns
    :func:`train_round`'s statistics as floats: those of the run's member."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    k = int(rewind_step)
    tc = with_checkpoint(tc, k)  # as in the run: step k is evaluated too
    start = init_mlp_ensemble(spec, [int(init_seed)])
    if k and variant in REWOUND:
        pre = replace(tc, checkpoint_steps=(k,), epochs=math.ceil(k / steps_per_epoch(tc, data)))
        dense = train_ensemble(
            spec, start, {"x": data["x"], "y": data["y"]}, pre, [int(seed)], device=device
        )
        start = dense.checkpoints[k]
    stats, _ = train_round(spec, mask.apply(start), mask, data, tc, [int(seed)], device)
    return {c: float(v[0]) for c, v in stats.items()}
