"""Data and training of one optimization_ease job."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...models import MLPSpec, init_mlp_ensemble
from ...train import TrainConfig, train_ensemble
from .. import RunContext
from . import WidthJob


def make_data(
    n: int, d: int, target: str = "random", seed: int = 0, n_test: int = 500
) -> dict[str, np.ndarray]:
    """x ~ N(0, I_d). Targets: i.i.d. N(0, 1) ('random': memorisation, the pure optimisation
    problem) or a random tanh teacher of width 2d, standardised ('teacher')."""
    rng = np.random.default_rng([seed, 20170])
    x = rng.standard_normal((n + n_test, d))
    if target == "random":
        y = rng.standard_normal(n + n_test)
    else:
        w = rng.standard_normal((d, 2 * d)) / np.sqrt(d)
        a = rng.standard_normal(2 * d)
        y = np.tanh(x @ w) @ a
        y = (y - y[:n].mean()) / y[:n].std()
    f32 = np.float32
    return {
        "x": x[:n].astype(f32),
        "y": y[:n].astype(f32),
        "x_test": x[n:].astype(f32),
        "y_test": y[n:].astype(f32),
    }


def run(job: WidthJob, ctx: RunContext) -> pd.DataFrame:
    spec = MLPSpec(in_dim=job.d, hidden=(job.width,) * job.depth, out_dim=1)
    seeds = list(job.seeds)
    data = make_data(job.n, job.d, job.target)
    params = init_mlp_ensemble(spec, seeds, device=ctx.device)
    tc = TrainConfig(
        epochs=job.epochs,
        batch_size=job.batch_size,
        lr=job.lr,
        optimizer=job.optimizer,
        momentum=job.momentum,
        loss="mse",
        eval_every=job.eval_every,
        threads=ctx.threads,
    )
    h = train_ensemble(spec, params, data, tc, seeds, device=ctx.device, log=ctx.log).history
    n_params = sum(int(np.prod(p.shape[1:])) for p in params)
    return pd.DataFrame(
        {
            "width": job.width,
            "depth": job.depth,
            "num_params": n_params,
            "seed": h["seed"].astype("int64"),
            "epoch": h["epoch"].astype("int64"),
            "step": h["step"].astype("int64"),
            "train_loss": h["train_loss"].astype(float),
            "test_loss": h["test_loss"].astype(float),
            "diverged": h["diverged"].astype(bool),
        }
    )
