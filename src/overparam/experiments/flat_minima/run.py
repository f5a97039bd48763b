"""The jobs of flat_minima: one learning-rate rule, every batch size of the sweep (one batched
ensemble of all seeds per batch size), each run to the target training loss, then its
sharpness (``overparam.sharpness``) and the slices between the sweep's two ends; and the
edge-of-stability job (full-batch gradient descent with the sharpness tracked along it)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ... import sharpness
from ...models import MLPSpec, init_mlp_ensemble, mlp_forward
from ...train import TrainConfig, evaluate, train_ensemble
from ...train import train_config as job_train_config
from .. import RunContext
from . import GD_RULE, EdgeOfStabilityJob, SweepJob

IN_DIM, CLASSES = 40, 10  # MNIST-1D


def train_config(job: SweepJob, batch_size: int, n: int, threads) -> TrainConfig:
    """Plain SGD at the rule's lr until the target loss, checked about every ``eval_steps``
    x max(1, lr / this lr) steps (the same interval of lr x steps), within a budget of
    ``max_steps`` x max(1, lr / this lr) steps."""
    lr = job.lr_at(batch_size)
    spe = math.ceil(n / min(batch_size, n))
    stretch = max(1.0, job.lr / lr)
    budget = math.ceil(job.max_steps * stretch)
    return job_train_config(
        job,
        epochs=math.ceil(budget / spe),
        batch_size=batch_size,
        lr=lr,
        eval_every=max(1, round(job.eval_steps * stretch / spe)),
        threads=threads,
    )


def reached_steps(history: pd.DataFrame, K: int, total: int) -> np.ndarray:
    """Per member: the step of the first evaluation with ``stopped`` set, else ``total``."""
    out = np.full(K, total, dtype=np.int64)
    hit = history[history["stopped"]].groupby("member")["step"].min()
    out[hit.index.to_numpy()] = hit.to_numpy()
    return out


def _rows(job, B, seeds, quantity, values, x=np.nan) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rule": job.rule,
            "batch_size": int(B),
            "lr": job.lr_at(B),
            "seed": np.asarray(seeds),
            "quantity": quantity,
            "x": float(x),
            "value": np.asarray(values, dtype=float),
        }
    )


def run(job: SweepJob | EdgeOfStabilityJob, ctx: RunContext) -> pd.DataFrame:
    if isinstance(job, EdgeOfStabilityJob):
        return run_edge_of_stability(job, ctx)
    return run_sweep(job, ctx)


def eps_sharpness(job: SweepJob, loss_fn, params, eps: float):
    if job.sharpness.optimizer == "lbfgsb":
        return sharpness.eps_sharpness_lbfgsb(loss_fn, params, eps, maxiter=job.sharpness.steps)
    return sharpness.eps_sharpness(loss_fn, params, eps, steps=job.sharpness.steps)


def run_sweep(job: SweepJob, ctx: RunContext) -> pd.DataFrame:
    spec = MLPSpec(in_dim=IN_DIM, hidden=(job.width,) * job.depth, out_dim=CLASSES)
    d = job.data.load(ctx.inputs.get("data"))
    dev = torch.device(ctx.device)
    x, y = (
        torch.as_tensor(d["x"], dtype=torch.float32, device=dev),
        torch.as_tensor(d["y"]).long().to(dev),
    )
    xt = torch.as_tensor(d["x_test"], dtype=torch.float32, device=dev)
    yt = torch.as_tensor(d["y_test"]).long().to(dev)
    n, seeds, K = len(y), list(job.seeds), len(job.seeds)
    sub = torch.as_tensor(
        np.random.default_rng(job.hessian.seed).permutation(n)[: job.hessian.samples]
    )
    sub_loss = sharpness.member_loss(spec, x[sub.to(dev)], y[sub.to(dev)])
    out, ends = [], []
    for B in job.batch_sizes:
        cfg = train_config(job, B, n, ctx.threads)
        res = train_ensemble(
            spec,
            init_mlp_ensemble(spec, seeds, device=dev),
            {"x": x, "y": y},
            cfg,
            seeds,
            device=dev,
        )
        bad = res.diverged

        def nan_bad(v, bad=bad):
            return np.where(bad, np.nan, np.asarray(v, dtype=float))

        steps = reached_steps(res.history, K, res.steps)
        tr_loss, tr_acc = evaluate(spec, res.params, x, y, "ce", y)
        te_loss, te_acc = evaluate(spec, res.params, xt, yt, "ce", yt)
        top = sharpness.top_eigenvalue(
            sub_loss,
            res.params,
            torch.Generator().manual_seed(job.hessian.seed),
            iters=job.hessian.iters,
            tol=job.hessian.tol,
        )
        out += [
            _rows(job, B, seeds, "reached", res.stopped.astype(float)),
            _rows(job, B, seeds, "steps", steps),
            _rows(job, B, seeds, "train_loss", nan_bad(tr_loss.cpu())),
            _rows(job, B, seeds, "train_acc", nan_bad(tr_acc.cpu())),
            _rows(job, B, seeds, "test_loss", nan_bad(te_loss.cpu())),
            _rows(job, B, seeds, "test_acc", nan_bad(te_acc.cpu())),
            _rows(job, B, seeds, "top_eig", nan_bad(top.values)),
            _rows(job, B, seeds, "stability_limit", np.full(K, 2.0 / cfg.lr)),  # type: ignore[operator]
        ]
        for eps in job.sharpness.eps:
            es = eps_sharpness(job, sub_loss, res.params, eps)
            out.append(_rows(job, B, seeds, "eps_sharpness", nan_bad(es.values), x=eps))
        ctx.log(
            f"[{job.id}] B={B} lr={cfg.lr:.4g}: reached {int(res.stopped.sum())}/{K} at steps "
            f"{steps.tolist()}, diverged {int(bad.sum())}; train loss "
            f"{np.round(tr_loss.cpu().numpy(), 3).tolist()}, test acc "
            f"{np.round(te_acc.cpu().numpy(), 3).tolist()}, top eig "
            f"{np.round(top.values, 2).tolist()} (2/lr {2 / cfg.lr:.3g}, "  # type: ignore[operator]
            f"{top.iterations} iterations)"
        )
        if B in (job.batch_sizes[0], job.batch_sizes[-1]):
            ends.append((res.params, bad))
    (a, bad_a), (b, bad_b) = ends[0], ends[-1]
    B = job.batch_sizes[-1]
    for name, xs, ys in (("slice_train_loss", x, y), ("slice_test_loss", xt, yt)):
        losses = sharpness.line_slice(sharpness.member_loss(spec, xs, ys), a, b, job.slice_alphas)
        for al, row in zip(job.slice_alphas, losses):
            out.append(_rows(job, B, seeds, name, np.where(bad_a | bad_b, np.nan, row), x=al))
    return pd.concat(out, ignore_index=True)


def _gd_rows(job, lr, seeds, quantity, step, values) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rule": GD_RULE,
            "batch_size": int(job.samples),
            "lr": float(lr),
            "seed": np.asarray(seeds),
            "quantity": quantity,
            "x": float(step),
            "value": np.asarray(values, dtype=float),
        }
    )


def run_edge_of_stability(job: EdgeOfStabilityJob, ctx: RunContext) -> pd.DataFrame:
    """Full-batch GD on the subset, one ensemble of all seeds per lr (Cohen et al. 2021, their
    gd.py: plain GD, stop at a training-accuracy goal, the top eigenvalue every few steps)."""
    spec = MLPSpec(in_dim=IN_DIM, hidden=(job.width,) * job.depth, out_dim=CLASSES)
    d = job.data.load(ctx.inputs.get("data"))
    dev = torch.device(ctx.device)
    idx = np.random.default_rng(job.subset_seed).permutation(len(d["y"]))[: job.samples]
    x = torch.as_tensor(d["x"][idx], dtype=torch.float32, device=dev)
    y = torch.as_tensor(d["y"][idx]).long().to(dev)
    seeds, K = list(job.seeds), len(job.seeds)
    loss_fn = sharpness.member_loss(spec, x, y)
    out = []
    for lr in job.lrs:
        params = init_mlp_ensemble(spec, seeds, device=dev)
        every, budget = job.eig_every(lr), job.max_steps(lr)
        vec = [
            torch.randn(p.shape, generator=torch.Generator().manual_seed(job.subset_seed)).to(p)
            for p in params
        ]
        step, n_checks, iters = 0, 0, 0
        stopped = np.zeros(K, dtype=bool)  # a member stops at its goal (or the budget)
        while True:
            leaves = [p.detach().requires_grad_(True) for p in params]
            with torch.enable_grad():
                logits = mlp_forward(spec, leaves, x)
                per = F.cross_entropy(logits.reshape(-1, CLASSES), y.repeat(K), reduction="none")
                losses = per.view(K, -1).mean(1)
                grads = torch.autograd.grad(losses.sum(), leaves)
            if not bool(torch.isfinite(losses).all()):
                raise RuntimeError(f"[{job.id}] lr {lr}: the loss diverged at step {step}")
            acc = (logits.detach().argmax(-1) == y).float().mean(1).cpu().numpy()
            newly = ~stopped & ((acc >= job.stop_train_acc) | (step >= budget))
            if step % every == 0 or newly.any():
                top = sharpness.top_eigenvalue_from(
                    loss_fn, params, vec, iters=job.iters, tol=job.tol
                )
                vec = top.vectors
                n_checks, iters = n_checks + 1, iters + top.iterations
                live = ~stopped  # the members still training, and those stopping here
                keep = [s for s, a in zip(seeds, live) if a]
                out += [
                    _gd_rows(job, lr, keep, "gd_sharpness", step, top.values[live]),
                    _gd_rows(job, lr, keep, "gd_train_loss", step, losses.detach().cpu()[live]),
                    _gd_rows(job, lr, keep, "gd_train_acc", step, acc[live]),
                ]
                if newly.any():
                    final = top.values[newly]
            stopped |= newly
            if stopped.all():
                break
            move = torch.as_tensor(~stopped, dtype=params[0].dtype, device=dev)
            with torch.no_grad():
                params = [
                    p - (lr * move.view(-1, *[1] * (p.dim() - 1))) * g
                    for p, g in zip(params, grads)
                ]
            step += 1
        ctx.log(
            f"[{job.id}] lr={lr:g} (2/lr {2 / lr:.3g}): all stopped by step {step} (budget "
            f"{budget}), {n_checks} checks, {iters} power iterations; last stopping sharpness "
            f"{np.round(final, 2).tolist()}"
        )
    return pd.concat(out, ignore_index=True)
