"""mode_connectivity's stability job (Frankle et al. 2020): the lr chosen on a validation split
(``select_lr``), parents trained to each spawn point, two copies of each parent trained on from
there with their own batch orders, and the linear path between the copies."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pandas as pd
import torch

from ... import connect
from ...models import init_mlp_ensemble
from ...train import train_ensemble
from .. import RunContext
from . import NO_SPAWN, StabilityJob, choose_lr
from .run import alpha_grid, evaluate_pairs, mnist_spec, rows, train_config

CHILD_SEED_OFFSET = 1_000  # copy c of pair p has seed CHILD_SEED_OFFSET + 2 p + c
PARENT_SEED_OFFSET = 500  # the parent of pair p has seed PARENT_SEED_OFFSET + p
SELECT_SEED_OFFSET = 2_000  # lr_select: network i of the grid's lr j has seed 2000 + j S + i


def select_lr(job: StabilityJob, spec, data, ctx: RunContext) -> tuple[float, pd.DataFrame]:
    """The stability panel's lr: ``select_seeds`` networks per lr of the grid (one ensemble,
    the former protocol's schedule) trained on the training set less a validation split of
    ``val_fraction`` (a seeded permutation), then :func:`choose_lr` on their final validation
    errors. Returns the lr and one ``lr_select`` row per network."""
    n = len(data["y"])
    perm = np.random.default_rng(job.val_seed).permutation(n)
    n_val = int(round(job.val_fraction * n))
    val, fit = perm[:n_val], perm[n_val:]
    sub = {
        "x": data["x"][fit],
        "y": data["y"][fit],
        "x_test": data["x"][val],
        "y_test": data["y"][val],
    }
    S, grid = job.select_seeds, job.lr_grid
    lrs = tuple(lr for lr in grid for _ in range(S))
    seeds = [SELECT_SEED_OFFSET + i for i in range(len(lrs))]
    cfg = dataclasses.replace(train_config(job.sgd, len(fit), ctx.threads), lr=lrs)
    res = train_ensemble(spec, init_mlp_ensemble(spec, seeds), sub, cfg, seeds, device=ctx.device)
    h = res.history[res.history["epoch"] == res.history["epoch"].max()].sort_values("member")
    val_err = np.where(res.diverged, np.nan, 1 - h["test_acc"].to_numpy(dtype=float))
    chosen = choose_lr(lrs, val_err)
    ctx.log(
        f"[{job.id}] lr grid {list(grid)}: mean validation error "
        f"{[round(float(np.nanmean(val_err[j * S : (j + 1) * S])), 4) for j in range(len(grid))]}"
        f" -> lr {chosen:g}"
    )
    df = pd.DataFrame(
        {
            "panel": "lr_select",
            "method": "endpoint",
            "width": job.width,
            "spawn_step": NO_SPAWN,
            "seed": np.tile(np.arange(S), len(grid)),
            "alpha": 0.0,
            "demo_alpha": False,
            "train_loss": h["train_loss"].to_numpy(dtype=float),
            "test_loss": np.nan,
            "train_err": 1 - h["train_acc"].to_numpy(dtype=float),
            "test_err": np.nan,
            "perm_max_abs_diff": np.nan,
            "lr": np.asarray(lrs, dtype=float),
            "selected_lr": np.asarray(lrs) == chosen,
            "val_err": val_err,
        }
    )
    return chosen, df


def run_stability(job: StabilityJob, ctx: RunContext) -> pd.DataFrame:
    spec = mnist_spec(job.width)
    data = job.data.load(ctx.inputs.get("data"))
    n, P = len(data["y"]), job.pairs
    chosen, out = select_lr(job, spec, data, ctx)
    out = [out]
    lrs = sorted({chosen, job.sgd.lr})  # the chosen protocol's and the former one's
    L = len(lrs)
    spe = math.ceil(n / min(job.sgd.batch_size, n))
    parents = [PARENT_SEED_OFFSET + p for p in range(P)] * L  # the same parents at each lr
    parent_lr = tuple(lr for lr in lrs for _ in range(P))
    last = max(job.spawn_epochs)
    ks = [k * spe for k in job.spawn_epochs]
    tc = dataclasses.replace(
        train_config(job.sgd, n, ctx.threads, epochs=last, ckpts=ks), lr=parent_lr
    )
    res = train_ensemble(
        spec, init_mlp_ensemble(spec, parents), data, tc, parents, device=ctx.device
    )
    a = alpha_grid(job.alphas)
    kid_lr = tuple(lr for lr in parent_lr for _ in range(2))
    for e, k in zip(job.spawn_epochs, ks):
        t0 = time.perf_counter()
        start = [torch.repeat_interleave(p, 2, dim=0) for p in res.checkpoints[k]]
        kids = [CHILD_SEED_OFFSET + i for i in range(2 * P)] * L  # pair p: 2p, 2p + 1
        cfg = dataclasses.replace(
            train_config(job.sgd, n, ctx.threads, epochs=job.sgd.epochs - e, offset=k), lr=kid_lr
        )
        end = train_ensemble(spec, start, data, cfg, kids, device=ctx.device)
        params = [p.detach().cpu() for p in end.params]
        for j, lr in enumerate(lrs):
            mine = [p[2 * P * j : 2 * P * (j + 1)] for p in params]
            tr, te = evaluate_pairs(spec, [p[0::2] for p in mine], [p[1::2] for p in mine], a, data)
            bar = connect.barrier(te[1], a, "mean")
            ctx.log(
                f"[{job.id}] lr {lr:g}, spawn step {k} (epoch {e}): instability (test error, "
                f"mean reference) per pair {np.round(bar, 4).tolist()}"
            )
            out.append(
                rows("stability", "linear", job.width, k, a, tr, te, lr=lr, selected=lr == chosen)
            )
        ctx.log(f"[{job.id}] spawn epoch {e}: {time.perf_counter() - t0:.1f}s")
    return pd.concat(out, ignore_index=True)
