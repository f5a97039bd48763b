"""The jobs of lazy_training: per width and regime, train all seeds as one batched ensemble
by full-batch GD, then per seed compute the NTK at the start and the end (``ntk``), the
linearised model's and gradient flow's outputs, and return the rows of ``RUN_SCHEMA``."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import torch

from ... import ntk
from ...models import MLPSpec, init_mlp_ensemble, weight_indices
from .. import RunContext
from . import RUN_SCHEMA, Task, WidthJob


def make_task(task: Task) -> tuple[torch.Tensor, torch.Tensor]:
    """(x (train + test, in_dim), y (train + test,)): points uniform on the sphere of radius
    sqrt(in_dim) and y = sin(x . v) + cos(x_1) / 2 (v a random unit-scale direction),
    standardised over all points to mean 0 and variance 1."""
    rng = np.random.default_rng(task.seed)
    n, d = task.train + task.test, task.in_dim
    x = rng.standard_normal((n, d))
    x *= math.sqrt(d) / np.linalg.norm(x, axis=1, keepdims=True)
    v = rng.standard_normal(d) / math.sqrt(d)
    y = np.sin(x @ v) + 0.5 * np.cos(x[:, 0])
    y = (y - y.mean()) / y.std()
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)


def measure(job: WidthJob, regime: str, x: torch.Tensor, y: torch.Tensor) -> pd.DataFrame:
    """One regime's rows: every quantity of every seed (on the device of ``x``)."""
    spec = MLPSpec(
        in_dim=job.task.in_dim, hidden=(job.width,) * job.depth, out_dim=1, parametrization="ntk"
    )
    alpha = 1.0 if regime == "ntk" else math.sqrt(job.ref_width / job.width)
    lr = job.lr / alpha**2
    n = job.task.train
    p0 = init_mlp_ensemble(spec, job.seeds, device=x.device)
    pT, losses = ntk.train_gd(spec, p0, x[:n], y[:n], lr, job.steps, alpha)
    rows = []
    for k, seed in enumerate(job.seeds):
        a, b = [p[k] for p in p0], [p[k] for p in pT]
        q = {
            f"weight_change_l{i + 1}": ntk.relative_change(b[j], a[j])
            for i, j in enumerate(weight_indices(spec))
        }
        th0 = ntk.empirical_ntk(spec, a, x, output_scale=alpha).detach()
        thT = ntk.empirical_ntk(spec, b, x, output_scale=alpha).detach()
        q["ntk_change"] = ntk.relative_change(thT, th0)
        with torch.no_grad():
            f0 = ntk.member_output(spec, a, x, alpha)
            fT = ntk.member_output(spec, b, x, alpha)
        flin = ntk.linearised_gd(th0, f0, y[:n], n, lr, job.steps)
        fgf = ntk.kernel_regression(th0, f0, y[:n], n, lr * job.steps)
        q["lin_gap"] = float((fT - flin)[n:].square().mean().sqrt())
        q["kr_gap"] = float((fT.double() - fgf)[n:].square().mean().sqrt())
        q["train_loss"] = float(losses[-1, k])
        rows += [(regime, job.width, alpha, lr, int(seed), name, float(v)) for name, v in q.items()]
    return pd.DataFrame(rows, columns=list(RUN_SCHEMA.columns))


def run(job: WidthJob, ctx: RunContext) -> pd.DataFrame:
    if ctx.threads:
        torch.set_num_threads(ctx.threads)
    x, y = (t.to(ctx.device) for t in make_task(job.task))
    parts = []
    for regime in job.regimes:
        t0 = time.perf_counter()
        df = measure(job, regime, x, y)
        m = df.groupby("quantity")["value"].mean()
        ctx.log(
            f"[{regime} w={job.width}] {time.perf_counter() - t0:.1f}s; means over seeds: "
            + ", ".join(f"{k} {v:.3g}" for k, v in m.items())
        )
        parts.append(df)
    return pd.concat(parts, ignore_index=True)
