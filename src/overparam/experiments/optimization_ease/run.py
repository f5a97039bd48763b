"""Data and training of one optimization_ease job."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...models import NTK_BETA, MLPSpec, init_mlp_ensemble, mlp_forward, num_params
from ...ntk import kernel_gd_losses, relu_ntk_limit
from ...train import train_config, train_ensemble
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
    tc = train_config(job, loss="mse", threads=ctx.threads)
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
            "kernel_loss": np.nan,
            "limit_loss": np.nan,
            "lr_over_critical": np.nan,
        }
    )


LIMIT_STREAM = 2018  # second word of the generator of the infinite-width network's f_0 draws


def kernel_limit(
    x: np.ndarray, y: np.ndarray, f0: np.ndarray, depth: int, lr: float, epochs: int, seed: int
) -> dict[str, np.ndarray | float]:
    """The infinite-width kernel dynamics of an NTK-parametrization run (Jacot et al. 2018;
    Lee et al. 2019): full-batch GD on the MSE with the fixed limit NTK Theta of
    ``ntk.relu_ntk_limit`` on the training inputs ``x``, the run's lr and steps. Two starts:
    ``kernel``, the run's own initial outputs ``f0`` (the network and its kernel limit
    compared from the same initial function), and ``limit``, f_0 drawn from the limit's
    output distribution N(0, Sigma) (the infinite-width network itself) with the generator
    ``default_rng([seed, LIMIT_STREAM])``, the same draw for every width. ``lr_over_critical``:
    lr / eta_critical, eta_critical = n / (lambda_min + lambda_max) of Theta (Lee et al.'s
    2 / (lambda_min + lambda_max) in our loss's normalisation, step lr (2/n) Theta)."""
    sigma, theta = relu_ntk_limit(x, depth=depth, beta=NTK_BETA)
    y = np.asarray(y, dtype=float).reshape(-1)
    n = len(y)
    lam = np.linalg.eigvalsh(theta)
    chol = np.linalg.cholesky(sigma + 1e-10 * np.trace(sigma) / n * np.eye(n))
    f_inf = chol @ np.random.default_rng([int(seed), LIMIT_STREAM]).standard_normal(n)
    return {
        "kernel": kernel_gd_losses(theta, np.asarray(f0, dtype=float) - y, lr, epochs),
        "limit": kernel_gd_losses(theta, f_inf - y, lr, epochs),
        "lr_over_critical": float(lr * (lam.min() + lam.max()) / n),
    }


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
        tc = train_config(job, batch_size=job.n, loss="mse", threads=ctx.threads)  # full batch
        kern: dict = {"kernel": np.nan, "limit": np.nan, "lr_over_critical": np.nan}
        if job.parametrization == "ntk":
            with torch.no_grad():
                x = torch.as_tensor(data["x"], device=ctx.device)
                f0 = mlp_forward(spec, params, x)[0, :, 0].double().cpu().numpy()
            # the network's loss is recorded every epoch: one kernel value per epoch
            kern = kernel_limit(data["x"], data["y"], f0, job.depth, job.lr, job.epochs, s)
        res = train_ensemble(spec, params, data, tc, [s], device=ctx.device, log=ctx.log)
        h = res.history
        frames.append(
            h.assign(
                kernel_loss=kern["kernel"],
                limit_loss=kern["limit"],
                lr_over_critical=kern["lr_over_critical"],
            )
        )
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
            "kernel_loss": h["kernel_loss"].astype(float),
            "limit_loss": h["limit_loss"].astype(float),
            "lr_over_critical": h["lr_over_critical"].astype(float),
        }
    )
