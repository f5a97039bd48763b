"""The jobs of implicit_bias: least squares and logistic regression in numpy (float64), the
networks as one batched torch ensemble (float64). Each returns rows of ``RUN_SCHEMA``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ... import implicit
from .. import RunContext
from . import RUN_SCHEMA, Job, LeastSquaresJob, LogisticJob, NeuralJob

NAN = float("nan")


def _frame(**cols) -> pd.DataFrame:
    df = pd.DataFrame(cols)
    for c in RUN_SCHEMA.columns:
        if c not in df:
            df[c] = NAN
    return df[list(RUN_SCHEMA.columns)].astype({"dim": "int64", "seed": "int64", "step": "int64"})


def ls_problem(n: int, p: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
    """X ~ N(0, 1 / p) (n x p), y ~ N(0, 1), and the generator for what follows."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, p)) / np.sqrt(p), rng.standard_normal(n), rng


def run_least_squares(job: LeastSquaresJob, ctx: RunContext) -> pd.DataFrame:
    parts = []
    for seed in job.seeds:
        X, y, rng = ls_problem(job.n, job.p, seed)
        w_mn = np.linalg.pinv(X) @ y
        ref = float(np.linalg.norm(w_mn))
        w0s = {"gd_w0_zero": (0.0, np.zeros(job.p))}
        w0s["gd_w0_random"] = (
            job.w0_scale,
            rng.standard_normal(job.p) * job.w0_scale / np.sqrt(job.p),
        )
        for kind, (scale, w0) in w0s.items():
            tr = implicit.gd_least_squares(X, y, w0, job.steps, points=job.points)
            parts.append(
                _frame(
                    panel="least_squares",
                    kind=kind,
                    dim=job.p,
                    init_scale=scale,
                    seed=seed,
                    step=tr.steps,
                    loss=tr.loss,
                    norm=tr.norm,
                    rel_dist=tr.rel_dist,
                    ref_norm=ref,
                )
            )
            ctx.log(f"[least_squares] seed {seed} {kind}: rel. distance {tr.rel_dist[-1]:.3g}")
        # other interpolants: X^+ y + v, v in the null space of X, ||v|| = shift ||X^+ y||
        null = np.linalg.svd(X)[2][job.n :]  # (p - n, p): an orthonormal basis of null(X)
        for shift in job.null_shifts:
            v = null.T @ rng.standard_normal(len(null))
            w = w_mn + v * (shift * ref / np.linalg.norm(v))
            parts.append(
                _frame(
                    panel="least_squares",
                    kind="null_shift",
                    dim=job.p,
                    init_scale=shift,
                    seed=seed,
                    step=[0],
                    loss=[np.sum((X @ w - y) ** 2) / (2 * job.n)],
                    norm=[np.linalg.norm(w)],
                    rel_dist=[np.linalg.norm(w - w_mn) / ref],
                    ref_norm=ref,
                )
            )
    return pd.concat(parts, ignore_index=True)


def run_logistic(job: LogisticJob, ctx: RunContext) -> pd.DataFrame:
    Xs, ys, refs, kkts, lrs = [], [], [], [], []
    for seed in job.seeds:
        X, y = implicit.separable_data(job.n, job.d, seed)
        w, a = implicit.svm_direction(X, y)
        Xs.append(X)
        ys.append(y)
        refs.append(w)
        kkts.append(implicit.kkt_residual(X, y, w, a))
        lrs.append(job.lr_factor * 4 * job.n / np.linalg.norm(X, 2) ** 2)
        ctx.log(
            f"[logistic d={job.d}] seed {seed}: SVM with {(a > 0).sum()} support vectors, "
            f"KKT residual {kkts[-1]:.2g}"
        )
    refs_a = np.array(refs)
    tr = implicit.gd_logistic(
        np.array(Xs), np.array(ys), refs_a, job.steps, np.array(lrs), points=job.points
    )
    ctx.log(f"[logistic d={job.d}] final angles {np.round(tr.angle[:, -1], 4).tolist()}")
    S, T = tr.angle.shape
    return _frame(
        panel="logistic",
        kind="gd",
        dim=job.d,
        init_scale=0.0,
        seed=np.repeat(job.seeds, T),
        step=np.tile(tr.steps, S),
        loss=tr.loss.reshape(-1),
        norm=tr.norm.reshape(-1),
        angle=tr.angle.reshape(-1),
        kkt=np.repeat(kkts, T),
        ref_norm=np.repeat(np.linalg.norm(refs_a, axis=1), T),
    )


def run_neural(job: NeuralJob, ctx: RunContext) -> pd.DataFrame:
    import torch

    from ...models import MLPSpec, init_mlp_ensemble, mlp_forward

    torch.set_num_threads(ctx.threads)
    dt = torch.float64
    g = torch.Generator().manual_seed(job.data_seed)
    x = torch.randn(job.n, job.in_dim, generator=g, dtype=dt) / job.in_dim**0.5
    y = torch.sin(3 * x.sum(1, keepdim=True))
    spec = MLPSpec(
        in_dim=job.in_dim, hidden=(job.width,), out_dim=1, bias=False, parametrization="ntk"
    )
    members = [(c, s) for c in job.init_scales for s in job.seeds]
    sc = torch.tensor([c for c, _ in members], dtype=dt)
    params = [
        p * sc.view(-1, *[1] * (p.dim() - 1))
        for p in init_mlp_ensemble(spec, [s for _, s in members], dtype=dt)
    ]
    p0 = [p.clone() for p in params]
    norm0 = torch.sqrt(sum((p**2).flatten(1).sum(1) for p in p0))
    lr = torch.clamp(job.lr / sc**2, max=job.max_lr)
    for p in params:
        p.requires_grad_(True)
    record = set(implicit.log_steps(job.steps, job.points).tolist())
    with torch.no_grad():
        mse0 = ((mlp_forward(spec, params, x) - y) ** 2).mean(dim=(1, 2))
    seeds = [s for _, s in members]

    def frame(step: int, loss, norm, rel_dist) -> pd.DataFrame:
        cols = dict(panel="neural", kind="gd", dim=job.width, init_scale=sc.numpy(), seed=seeds)
        return _frame(**cols, step=step, loss=loss, norm=norm, rel_dist=rel_dist)

    rows = [frame(0, mse0.numpy(), norm0.numpy(), 0.0)]
    for t in range(1, job.steps + 1):
        loss = ((mlp_forward(spec, params, x) - y) ** 2).mean(dim=(1, 2))
        grads = torch.autograd.grad(loss.sum(), params)
        with torch.no_grad():
            for p, gr in zip(params, grads):
                p -= lr.view(-1, *[1] * (p.dim() - 1)) * gr
        if t in record:
            with torch.no_grad():
                mse = ((mlp_forward(spec, params, x) - y) ** 2).mean(dim=(1, 2))
                norm = torch.sqrt(sum((p**2).flatten(1).sum(1) for p in params))
                moved = torch.sqrt(
                    sum(((p - q) ** 2).flatten(1).sum(1) for p, q in zip(params, p0))
                )
            rows.append(frame(t, mse.numpy(), norm.numpy(), (moved / norm0).numpy()))
    last = rows[-1]
    ctx.log(
        f"[neural] final MSE max {last['loss'].max():.3g}; mean norm per scale "
        f"{last.groupby('init_scale')['norm'].mean().round(3).to_dict()}"
    )
    return pd.concat(rows, ignore_index=True)


def run(job: Job, ctx: RunContext) -> pd.DataFrame:
    if isinstance(job, LeastSquaresJob):
        return run_least_squares(job, ctx)
    if isinstance(job, LogisticJob):
        return run_logistic(job, ctx)
    return run_neural(job, ctx)
