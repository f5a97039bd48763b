"""One width_vs_depth job: the budget-matched MLPs of one depth, all seeds one ensemble."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...models import MLPSpec, init_mlp_ensemble, num_params
from ...train import TrainConfig, train_ensemble
from .. import RunContext
from . import IN_DIM, OUT_DIM, RUN_SCHEMA, DepthJob


def spec_of(job: DepthJob) -> MLPSpec:
    return MLPSpec(in_dim=IN_DIM, hidden=(job.width,) * job.depth, out_dim=OUT_DIM)


def run(job: DepthJob, ctx: RunContext) -> pd.DataFrame:
    spec = spec_of(job)
    n_params = num_params(spec)
    if abs(n_params - job.budget) > 0.5 * job.budget:  # guards the closed form of __init__
        raise ValueError(f"{job.id}: width {job.width} gives {n_params} parameters")
    data = job.data.load(ctx.inputs.get("data"))
    seeds = list(job.seeds)
    params = init_mlp_ensemble(spec, seeds, device=ctx.device)
    tc = TrainConfig(
        epochs=job.epochs,
        batch_size=job.batch_size,
        lr=job.lr,
        optimizer="adam",
        loss="ce",
        eval_every=job.eval_every,
        threads=ctx.threads,
    )
    res = train_ensemble(spec, params, data, tc, seeds, device=ctx.device, log=ctx.log)
    h = res.history
    last = h[h["epoch"] == h["epoch"].max()]
    ctx.log(
        f"[{job.id}] width {job.width}, {n_params} params: final train acc "
        f"{np.nanmedian(last['train_acc']):.3f}, test acc {np.nanmedian(last['test_acc']):.3f} "
        f"(medians over {len(seeds)} seeds, {res.train_s:.1f}s training)"
    )
    df = pd.DataFrame({
        "budget": job.budget, "depth": job.depth, "width": job.width, "num_params": n_params,
        "seed": h["seed"], "lr": job.lr, "epoch": h["epoch"], "step": h["step"],
        "train_loss": h["train_loss"], "test_loss": h["test_loss"], "train_acc": h["train_acc"],
        "test_acc": h["test_acc"], "diverged": h["diverged"].astype(bool),
    })  # fmt: skip
    kinds = {"int": "int64", "float": "float64", "bool": "bool"}
    return df.astype({c: kinds[t] for c, t in RUN_SCHEMA.columns.items() if t in kinds})
