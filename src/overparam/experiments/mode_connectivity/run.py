"""The jobs of mode_connectivity: train the pairs (one batched ensemble per job), evaluate
their paths (every point of every pair one ensemble, ``connect.evaluate_path``) and return
the path rows of ``RUN_SCHEMA``."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import torch

from ... import connect
from ...models import MLPSpec, init_mlp_ensemble, mlp_forward
from ...train import TrainConfig, train_ensemble
from ...train import train_config as job_train_config
from .. import RunContext
from . import NO_SPAWN, RUN_SCHEMA, SGD, DemoJob, Job, WidthJob

IN_DIM, CLASSES = 40, 10  # MNIST-1D


def alpha_grid(points: int, extra=()) -> np.ndarray:
    """``points`` equally spaced alphas on [0, 1] (rounded to 12 digits, so 0.2 is 0.2) and
    ``extra``."""
    return np.unique(np.round(np.concatenate([np.linspace(0, 1, points), list(extra)]), 12))


def rows(
    panel,
    method,
    width,
    spawn,
    alphas,
    train,
    test=None,
    perm_diff=None,
    demo=(),
    lr=math.nan,
    selected=False,
):
    """Path rows: ``train``/``test`` are (losses, errors) shaped (A, P) (errors may be None)."""
    A, P = train[0].shape
    nan = np.full((A, P), np.nan)
    col = {
        "train_loss": train[0],
        "train_err": nan if train[1] is None else train[1],
        "test_loss": nan if test is None else test[0],
        "test_err": nan if test is None or test[1] is None else test[1],
    }
    diff = np.full(P, np.nan) if perm_diff is None else np.asarray(perm_diff, dtype=float)
    return pd.DataFrame(
        {
            "panel": panel,
            "method": method,
            "width": int(width),
            "spawn_step": int(spawn),
            "seed": np.tile(np.arange(P), A),
            "alpha": np.repeat(alphas, P),
            "demo_alpha": np.repeat(np.isin(alphas, demo), P),
            **{c: v.reshape(-1) for c, v in col.items()},
            "perm_max_abs_diff": np.tile(diff, A),
            "lr": float(lr),
            "selected_lr": bool(selected),
            "val_err": np.nan,
        }
    )


def run_demo(job: DemoJob, ctx: RunContext) -> pd.DataFrame:
    def train(seeds) -> connect.DemoPair:
        return connect.demo_pair(
            n=job.n,
            in_dim=job.in_dim,
            hidden=job.hidden,
            data_seed=job.data_seed,
            seeds=seeds,
            std=job.std,
            lr=job.lr,
            max_steps=job.max_steps,
            stop_mse=job.stop_mse,
        )

    pair = train(job.seeds)  # the demo's own pair, as written
    ctx.log(f"[demo] Adam steps {pair.steps.tolist()}, final train MSE {pair.train_mse.tolist()}")
    # the demo's alpha weighs its model 1: alpha w_1 + (1 - alpha) w_2, i.e. interpolate(w_2, w_1)
    ones, twos = [[p[0] for p in pair.params]], [[p[1] for p in pair.params]]
    if job.pairs > 1:  # pair p >= 1: seeds max + 2p - 1 (its model 1) and max + 2p (model 2)
        first = max(job.seeds) + 1
        more = train(tuple(range(first, first + 2 * (job.pairs - 1))))
        ctx.log(
            f"[demo] more pairs: Adam steps {more.steps.tolist()}, final train MSE "
            f"{np.round(more.train_mse, 9).tolist()}"
        )
        ones += [[p[2 * i] for p in more.params] for i in range(job.pairs - 1)]
        twos += [[p[2 * i + 1] for p in more.params] for i in range(job.pairs - 1)]
    wa, wb = ([torch.stack(ps) for ps in zip(*nets)] for nets in (twos, ones))
    a = alpha_grid(job.grid_points, job.alphas)
    mse, _ = connect.evaluate_path(pair.spec, connect.interpolate(wa, wb, a), pair.x, pair.y, "mse")
    ctx.log(
        f"[demo] max MSE along the line per pair {np.round(mse.max(0), 4).tolist()} (pair 0 "
        f"at alpha {a[mse[:, 0].argmax()]:.3g})"
    )
    out = [rows("demo", "linear", job.hidden, NO_SPAWN, a, (mse, None), demo=job.alphas, lr=job.lr)]
    rng = np.random.default_rng([0, job.hidden])
    moved, diffs = [], []
    for one_a, one_b in zip(twos, ones):
        perms = connect.weight_matching(pair.spec, one_a, one_b, rng)
        m = connect.permute_hidden(pair.spec, one_b, perms)
        with torch.no_grad():
            f0, f1 = (mlp_forward(pair.spec, [w[None] for w in n], pair.x) for n in (one_b, m))
        diffs.append(float((f1 - f0).abs().max()))
        moved.append(m)
    wb_al = [torch.stack(ps) for ps in zip(*moved)]
    mse_al, _ = connect.evaluate_path(
        pair.spec, connect.interpolate(wa, wb_al, a), pair.x, pair.y, "mse"
    )
    ctx.log(f"[demo] weight-matched: max MSE per pair {np.round(mse_al.max(0), 4).tolist()}")
    out.append(
        rows(
            "demo",
            "aligned",
            job.hidden,
            NO_SPAWN,
            a,
            (mse_al, None),
            perm_diff=diffs,
            demo=job.alphas,
            lr=job.lr,
        )
    )
    return pd.concat(out, ignore_index=True)


def mnist_spec(width: int) -> MLPSpec:
    return MLPSpec(in_dim=IN_DIM, hidden=(width, width), out_dim=CLASSES)


def train_config(sgd: SGD, n: int, threads, epochs=None, offset=0, ckpts=()) -> TrainConfig:
    """SGD with momentum on cross-entropy; the linear decay (when set) spans all ``sgd.epochs``
    epochs, also for a run that starts at step ``offset`` and trains ``epochs``."""
    spe = math.ceil(n / min(sgd.batch_size, n))
    e = sgd.epochs if epochs is None else epochs
    return job_train_config(
        sgd,
        epochs=e,
        eval_every=max(e, 1),
        checkpoint_steps=ckpts,
        threads=threads,
        decay_steps=sgd.epochs * spe,
        decay_offset=offset,
    )


def evaluate_pairs(spec, wa, wb, alphas, data):
    """(train, test) (losses, errors) of the straight lines, each (A, P)."""
    pts = connect.interpolate(wa, wb, alphas)
    return tuple(
        connect.evaluate_path(spec, pts, data["x" + s], data["y" + s], "ce") for s in ("", "_test")
    )


def _summary(ctx, tag, method, alphas, train):
    b = connect.barrier(train[0], alphas)
    ctx.log(f"[{tag}] {method}: train-loss barrier per pair {np.round(b, 4).tolist()}")


def run_width(job: WidthJob, ctx: RunContext) -> pd.DataFrame:
    spec = mnist_spec(job.width)
    data = job.data.load(ctx.inputs.get("data"))
    P = job.pairs
    seeds = list(range(2 * P))  # pair p: networks 2p (a) and 2p + 1 (b)
    t0 = time.perf_counter()
    res = train_ensemble(
        spec,
        init_mlp_ensemble(spec, seeds),
        data,
        train_config(job.sgd, len(data["y"]), ctx.threads),
        seeds,
        device=ctx.device,
    )
    h = res.history[res.history["epoch"] == res.history["epoch"].max()]
    ctx.log(
        f"[{job.id}] trained {2 * P} networks in {time.perf_counter() - t0:.1f}s: train acc "
        f"{h['train_acc'].mean():.3f}, test acc {h['test_acc'].mean():.3f}, "
        f"diverged {int(res.diverged.sum())}"
    )
    params = [p.detach().cpu() for p in res.params]
    wa, wb = [p[0::2] for p in params], [p[1::2] for p in params]
    a = alpha_grid(job.alphas)
    out = []
    tr, te = evaluate_pairs(spec, wa, wb, a, data)
    _summary(ctx, job.id, "linear", a, tr)
    out.append(rows("width", "linear", job.width, NO_SPAWN, a, tr, te, lr=job.sgd.lr))
    rng = np.random.default_rng([job.matching_seed, job.width])
    aligned, diffs = [], []
    xt = torch.as_tensor(data["x_test"]).to(wb[0])
    for p in range(P):
        one_a, one_b = [w[p] for w in wa], [w[p] for w in wb]
        perms = connect.weight_matching(spec, one_a, one_b, rng)
        moved = connect.permute_hidden(spec, one_b, perms)
        with torch.no_grad():
            f0 = mlp_forward(spec, [w[None] for w in one_b], xt)
            f1 = mlp_forward(spec, [w[None] for w in moved], xt)
        diffs.append(float((f1 - f0).abs().max()))
        aligned.append(moved)
    wb_al = [torch.stack(ps) for ps in zip(*aligned)]
    tr, te = evaluate_pairs(spec, wa, wb_al, a, data)
    _summary(ctx, job.id, "aligned", a, tr)
    ctx.log(f"[{job.id}] permuted vs original max |output diff| {max(diffs):.3g}")
    out.append(
        rows("width", "aligned", job.width, NO_SPAWN, a, tr, te, perm_diff=diffs, lr=job.sgd.lr)
    )
    if job.bezier is not None:
        out.append(run_bezier(job, spec, wa, wb, data, ctx))
    return pd.concat(out, ignore_index=True)


def run_bezier(job: WidthJob, spec, wa, wb, data, ctx: RunContext) -> pd.DataFrame:
    """Quadratic Bezier curves between the (unaligned) pairs, theta trained from the
    midpoint with SGD on the loss at t ~ U(0, 1) (Garipov et al. 2018), all pairs at once:
    their lr schedule (``lr_schedule``) and L2 penalty on phi(t) (``weight_decay``)."""
    b = job.bezier
    assert b is not None
    # the curve's L2 penalty and lr schedule are train_bezier_scheduled's (l2, schedule), not
    # the trainer's
    cfg = job_train_config(b, weight_decay=0.0, lr_schedule="constant")
    t0 = time.perf_counter()
    fit = connect.train_bezier_scheduled(
        spec,
        wa,
        wb,
        data["x"],
        data["y"],
        cfg,
        torch.Generator().manual_seed(b.seed),
        l2=b.weight_decay,
        schedule=b.lr_schedule,
    )
    ctx.log(
        f"[{job.id}] bezier: {b.epochs} epochs in {time.perf_counter() - t0:.1f}s, last epoch "
        f"loss at sampled t {np.round(fit.epoch_loss[-1], 4).tolist()}"
    )
    t = alpha_grid(b.points)
    pts = connect.bezier(wa, fit.theta, wb, t)
    tr, te = (
        connect.evaluate_path(spec, pts, data["x" + s], data["y" + s], "ce") for s in ("", "_test")
    )
    _summary(ctx, job.id, "bezier", t, tr)
    return rows("width", "bezier", job.width, NO_SPAWN, t, tr, te, lr=job.sgd.lr)


def run(job: Job, ctx: RunContext) -> pd.DataFrame:
    if ctx.threads:  # also for what runs outside train_ensemble (paths, Bezier training)
        torch.set_num_threads(ctx.threads)
    if isinstance(job, DemoJob):
        df = run_demo(job, ctx)
    elif isinstance(job, WidthJob):
        df = run_width(job, ctx)
    else:
        from .stability import run_stability  # it imports this module's helpers

        df = run_stability(job, ctx)
    return df[list(RUN_SCHEMA.columns)]
