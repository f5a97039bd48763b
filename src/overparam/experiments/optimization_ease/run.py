"""Data and training of one optimization_ease job."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...models import MLPSpec, init_mlp_ensemble, num_params
from ...train import TrainConfig, train_ensemble
from .. import RunContext
from . import DemoJob, WidthJob


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


def run(job: WidthJob | DemoJob, ctx: RunContext) -> pd.DataFrame:
    if isinstance(job, DemoJob):
        return run_demo(job, ctx)
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
            "setup": "extension",
            "parametrization": "standard",
            "lr": job.lr,
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


def demo_draws(
    seed: int, n: int, d: int, noise_sd: float, order: tuple[int, ...], depth: int
) -> tuple[dict[str, np.ndarray], dict[int, list[torch.Tensor]]]:
    """The reference demo's random draws, in its order, from one torch stream seeded with
    ``seed``: x ~ N(0, I_d) (n x d), y = sin(sum x_1..5) + 0.5 cos(sum x_6..10) + noise_sd
    N(0, 1), then one nn.Linear stack per width of ``order`` (torch's default init), each
    network drawn after the previous one. Returns the data and {width: [W_1, b_1, ...]}.
    The global torch generator is restored afterwards."""
    import torch.nn as nn

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        x = torch.randn(n, d)
        clean = torch.sin(x[:, :5].sum(dim=1)) + 0.5 * torch.cos(x[:, 5:10].sum(dim=1))
        y = clean.unsqueeze(1) + noise_sd * torch.randn(n, 1)
        nets = {}
        for w in order:
            dims = [d, *([w] * depth), 1]
            layers = [nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])]
            nets[w] = [t.detach().clone() for lin in layers for t in (lin.weight, lin.bias)]
    return {"x": x.numpy(), "y": y.numpy()}, nets


def run_demo(job: DemoJob, ctx: RunContext) -> pd.DataFrame:
    """Full-batch SGD on the demo's data for every seed (one batched ensemble). The loss of
    every epoch is recorded: the demo's epoch i is the loss after i steps. Standard
    parametrization starts from the demo's own networks; NTK starts from N(0, 1) weights of
    ``init_mlp_ensemble`` (its own generator per seed) on the same data."""
    spec = MLPSpec(
        in_dim=job.d,
        hidden=(job.width,) * job.depth,
        out_dim=1,
        parametrization=job.parametrization,
    )
    seeds = list(job.seeds)
    frames = []
    for s in seeds:  # every seed has its own data: one ensemble of one member per seed
        data, nets = demo_draws(s, job.n, job.d, job.noise_sd, job.order or (job.width,), job.depth)
        if job.parametrization == "standard":
            params = [t.unsqueeze(0).to(ctx.device).contiguous() for t in nets[job.width]]
        else:
            params = init_mlp_ensemble(spec, [s], device=ctx.device)
        tc = TrainConfig(
            epochs=job.epochs,
            batch_size=job.n,
            lr=job.lr,
            optimizer="sgd",
            loss="mse",
            eval_every=1,
            threads=ctx.threads,
        )
        res = train_ensemble(spec, params, data, tc, [s], device=ctx.device, log=ctx.log)
        frames.append(res.history)
    h = pd.concat(frames, ignore_index=True)
    return pd.DataFrame(
        {
            "setup": "demo",
            "parametrization": job.parametrization,
            "lr": job.lr,
            "width": job.width,
            "depth": job.depth,
            "num_params": num_params(spec),
            "seed": h["seed"].astype("int64"),
            "epoch": h["epoch"].astype("int64"),
            "step": h["step"].astype("int64"),
            "train_loss": h["train_loss"].astype(float),
            "test_loss": h["test_loss"].astype(float),
            "diverged": h["diverged"].astype(bool),
        }
    )
