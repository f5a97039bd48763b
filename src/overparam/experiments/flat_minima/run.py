"""The job of flat_minima: one learning-rate rule, every batch size of the sweep (one batched
ensemble of all seeds per batch size), each run to the target training loss, then its
sharpness (``overparam.sharpness``) and the slices between the sweep's two ends."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ... import sharpness
from ...models import MLPSpec, init_mlp_ensemble
from ...train import TrainConfig, evaluate, train_ensemble
from .. import RunContext
from . import SweepJob

IN_DIM, CLASSES = 40, 10  # MNIST-1D


def train_config(job: SweepJob, batch_size: int, n: int, threads) -> TrainConfig:
    """Plain SGD at the rule's lr until the target loss, checked about every ``eval_steps``
    steps, within a budget of ``max_steps`` x max(1, lr / this lr) steps."""
    lr = job.lr_at(batch_size)
    spe = math.ceil(n / min(batch_size, n))
    budget = math.ceil(job.max_steps * max(1.0, job.lr / lr))
    return TrainConfig(
        epochs=math.ceil(budget / spe), batch_size=batch_size, lr=lr, optimizer="sgd",
        loss="ce", eval_every=max(1, round(job.eval_steps / spe)),
        stop_train_loss=job.stop_train_loss, threads=threads,
    )  # fmt: skip


def reached_steps(history: pd.DataFrame, K: int, total: int) -> np.ndarray:
    """Per member: the step of the first evaluation with ``stopped`` set, else ``total``."""
    out = np.full(K, total, dtype=np.int64)
    hit = history[history["stopped"]].groupby("member")["step"].min()
    out[hit.index.to_numpy()] = hit.to_numpy()
    return out


def _rows(job, B, seeds, quantity, values, x=np.nan) -> pd.DataFrame:
    return pd.DataFrame({
        "rule": job.rule, "batch_size": int(B), "lr": job.lr_at(B), "seed": np.asarray(seeds),
        "quantity": quantity, "x": float(x), "value": np.asarray(values, dtype=float),
    })  # fmt: skip


def run(job: SweepJob, ctx: RunContext) -> pd.DataFrame:
    spec = MLPSpec(in_dim=IN_DIM, hidden=(job.width,) * job.depth, out_dim=CLASSES)
    d = job.data.load(ctx.inputs.get("data"))
    dev = torch.device(ctx.device)
    x, y = torch.as_tensor(d["x"], dtype=torch.float32, device=dev), torch.as_tensor(d["y"]).long().to(dev)  # fmt: skip
    xt = torch.as_tensor(d["x_test"], dtype=torch.float32, device=dev)
    yt = torch.as_tensor(d["y_test"]).long().to(dev)
    n, seeds, K = len(y), list(job.seeds), len(job.seeds)
    sub = torch.as_tensor(np.random.default_rng(job.hessian.seed).permutation(n)[: job.hessian.samples])  # fmt: skip
    sub_loss = sharpness.member_loss(spec, x[sub.to(dev)], y[sub.to(dev)])
    out, ends = [], []
    for B in job.batch_sizes:
        cfg = train_config(job, B, n, ctx.threads)
        res = train_ensemble(spec, init_mlp_ensemble(spec, seeds, device=dev), {"x": x, "y": y},
                             cfg, seeds, device=dev)  # fmt: skip
        bad = res.diverged

        def nan_bad(v, bad=bad):
            return np.where(bad, np.nan, np.asarray(v, dtype=float))

        steps = reached_steps(res.history, K, res.steps)
        tr_loss, tr_acc = evaluate(spec, res.params, x, y, "ce", y)
        te_loss, te_acc = evaluate(spec, res.params, xt, yt, "ce", yt)
        top = sharpness.top_eigenvalue(
            sub_loss, res.params, torch.Generator().manual_seed(job.hessian.seed),
            iters=job.hessian.iters, tol=job.hessian.tol,
        )  # fmt: skip
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
            es = sharpness.eps_sharpness(sub_loss, res.params, eps, steps=job.sharpness.steps)
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
