"""One lottery_ticket job: its data (with a validation split), the IMP rounds of
``overparam.lottery`` as table rows, and re-training one row from the table alone."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ... import lottery
from ...models import MLPSpec
from ...prune import Mask
from ...train import TrainConfig
from ...train import train_config as job_train_config
from .. import RunContext
from . import NUM_LAYERS, RUN_SCHEMA, TicketJob

VAL_SPLIT_SALT = 4  # validation split: np.random.default_rng([data seed, VAL_SPLIT_SALT])


def spec_of(job: TicketJob) -> MLPSpec:
    """The network of a job: MNIST-1D's 40 inputs, 10 classes, the job's hidden widths."""
    return MLPSpec(in_dim=40, hidden=job.hidden, out_dim=10)


def split_validation(
    ds: Mapping[str, np.ndarray], val_size: int, seed: int
) -> dict[str, np.ndarray]:
    """Move ``val_size`` training samples (a permutation seeded ``[seed, VAL_SPLIT_SALT]``,
    the same for every job and seed) to ``x_val``, ``y_val``."""
    n = len(ds["y"])
    if not 0 < val_size < n:
        raise ValueError(f"val_size must be in (0, {n}), got {val_size}")
    perm = np.random.default_rng([seed, VAL_SPLIT_SALT]).permutation(n)
    va, tr = perm[:val_size], perm[val_size:]
    return {
        "x": ds["x"][tr],
        "y": ds["y"][tr],
        "x_val": ds["x"][va],
        "y_val": ds["y"][va],
        "x_test": ds["x_test"],
        "y_test": ds["y_test"],
    }


def load_data(job: TicketJob, path: str | Path | None = None) -> dict[str, np.ndarray]:
    """MNIST-1D (the cached file at ``path`` when the pipeline made it, else generated
    offline) with the job's validation split."""
    return split_validation(job.data.load(path), job.val_size, job.data.seed)


def train_config(job: TicketJob, n_train: int, threads: int | None = None) -> TrainConfig:
    """Adam/SGD on cross-entropy for ``epochs`` epochs; params checkpointed (then evaluated
    for early stopping) every ``eval_every_steps`` steps and at the end. The engine adds the
    rewind step to the checkpoints."""
    spe = math.ceil(n_train / min(job.batch_size, n_train))
    total = job.epochs * spe
    ckpts = tuple(sorted(set(range(0, total + 1, job.eval_every_steps)) | {total}))
    return job_train_config(job, eval_every=job.epochs, checkpoint_steps=ckpts, threads=threads)


def schedule(job: TicketJob) -> lottery.Schedule:
    return lottery.Schedule(
        rounds=job.rounds,
        rate_hidden=job.prune_rate,
        rate_output=job.prune_rate_output,
        pruning=job.pruning,
        rewind_step=job.rewind_step,
    )


def round_rows(job: TicketJob, r: lottery.Round) -> pd.DataFrame:
    """One row per member of a round (columns of ``RUN_SCHEMA``, in its order)."""
    K = r.mask.K
    frac, per_layer = r.mask.remaining()
    kept = r.mask.kept().sum(1)
    return pd.DataFrame(
        {
            "network": [job.network] * K,
            "hidden": ["x".join(map(str, job.hidden))] * K,
            "rewind_step": [job.rewind_step] * K,
            "pruning": [job.pruning] * K,
            "round": [r.round] * K,
            "variant": r.variant,
            "seed": r.seed,
            "init_seed": r.init_seed,
            "remaining_frac": frac,
            **{f"remaining_frac_layer{i + 1}": per_layer[:, i] for i in range(per_layer.shape[1])},
            "kept_weights": kept,
            **r.stats,
            "mask": [r.mask.pack(k) for k in range(K)],
        }
    )


def run(job: TicketJob, ctx: RunContext) -> pd.DataFrame:
    spec = spec_of(job)
    if spec.num_layers != NUM_LAYERS:
        raise ValueError(f"network {job.network}: lottery_ticket tables have {NUM_LAYERS} layers")
    data = load_data(job, ctx.inputs.get("data"))
    tc = train_config(job, len(data["y"]), ctx.threads)
    S = len(job.seeds)
    rows = []
    for r in lottery.iterative_magnitude_pruning(
        spec, data, tc, job.seeds, schedule(job), ctx.device
    ):
        rows.append(round_rows(job, r))
        acc, stop = r.stats["test_acc_at_stop"], r.stats["stop_step"]
        if r.round == 0:
            ctx.log(
                f"[{job.id}] round 0 dense: test acc at stop {np.nanmean(acc):.3f}, "
                f"stop step {np.mean(stop):.0f}"
            )
        else:
            accs = {
                v: np.nanmean(acc[i * S : (i + 1) * S])
                for i, v in enumerate(("ticket", "reinit", "random"))
            }
            ctx.log(
                f"[{job.id}] round {r.round}: {rows[-1]['remaining_frac'].iloc[0]:.3f} "
                "remaining; test acc "
                + ", ".join(f"{v} {a:.3f}" for v, a in accs.items())
                + f"; ticket stop step {np.mean(stop[:S]):.0f} ({r.wall_s:.1f}s)"
            )
    df = pd.concat(rows, ignore_index=True)
    return df.astype({c: "int64" for c, t in RUN_SCHEMA.columns.items() if t == "int"})


def retrain_row(
    row: Mapping[str, Any], job: TicketJob, data_path: str | Path | None = None, device: str = "cpu"
) -> dict[str, float]:
    """Re-train one member from its table row alone (variant, mask, init_seed, seed and the
    job's rewind step) and return the same per-member statistics as the run
    (``lottery.train_round``'s)."""
    if row["network"] != job.network or int(row["rewind_step"]) != job.rewind_step:
        raise ValueError(f"row of {row['network']}_rewind{row['rewind_step']} is not job {job.id}")
    spec = spec_of(job)
    data = load_data(job, data_path)
    tc = train_config(job, len(data["y"]))
    return lottery.retrain(
        spec,
        data,
        tc,
        Mask.unpack(spec, row["mask"]),
        variant=str(row["variant"]),
        init_seed=int(row["init_seed"]),
        seed=int(row["seed"]),
        rewind_step=job.rewind_step,
        device=device,
    )
