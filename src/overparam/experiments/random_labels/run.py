"""The job of random_labels: build every (seed, variant) member's training data, train all of
them as one batched ensemble until each fits its labels (or the budget ends), and return the
rows of ``RUN_SCHEMA``: every member's training curve, its fit epoch and its clean test
accuracy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...data import corrupt_labels
from .. import RunContext
from . import NUM_CLASSES, RUN_SCHEMA, WidthJob


@dataclass(frozen=True)
class Member:
    """One ensemble member: a seed and a variant (``label_fraction``: 1.0 for random inputs)."""

    seed: int
    variant: str
    label_fraction: float
    index: int  # the variant's position: seeds the draws with the seed and ``label_seed``


def members(job: WidthJob) -> list[Member]:
    """Seed-major: for every seed, the label fractions in order, then random inputs."""
    out = []
    for s in job.seeds:
        variants = [("labels", f) for f in job.label_fractions]
        if job.random_inputs:
            variants.append(("random_inputs", 1.0))
        out += [Member(int(s), v, float(f), i) for i, (v, f) in enumerate(variants)]
    return out


def gaussian_inputs(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise shaped like ``x`` with its per-position mean and standard deviation."""
    return rng.normal(x.mean(0), x.std(0), size=x.shape).astype(x.dtype)


def member_data(
    x: np.ndarray, y: np.ndarray, m: Member, label_seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs, labels, redrawn mask) of member ``m``: round(fraction n) labels redrawn
    uniformly over the classes (``corrupt_labels``), or Gaussian inputs with every label
    random; drawn from ``default_rng([label_seed, seed, variant index])``, once."""
    rng = np.random.default_rng([int(label_seed), m.seed, m.index])
    if m.variant == "random_inputs":
        xr = gaussian_inputs(x, rng)
        return xr, rng.integers(0, NUM_CLASSES, size=len(y)), np.ones(len(y), dtype=bool)
    y_new, redrawn = corrupt_labels(y, m.label_fraction, NUM_CLASSES, rng)
    return x, y_new, redrawn


def first_fit_epoch(epochs: np.ndarray, train_acc: np.ndarray) -> float:
    """First epoch with training accuracy 1.0 (every label fitted); NaN if none."""
    hit = np.flatnonzero(np.asarray(train_acc) >= 1.0)
    return float(np.asarray(epochs)[hit[0]]) if len(hit) else float("nan")


def run(job: WidthJob, ctx: RunContext) -> pd.DataFrame:
    import torch

    from ...models import MLPSpec, init_mlp_ensemble
    from ...train import evaluate, train_config, train_ensemble

    ds: Mapping[str, np.ndarray] = job.data.load(ctx.inputs.get("data"))
    n = job.n_train or len(ds["y"])
    x, y = ds["x"][:n], ds["y"][:n]
    mem = members(job)
    parts = [member_data(x, y, m, job.label_seed) for m in mem]
    xs = np.stack([p[0] for p in parts])
    ys = np.stack([p[1] for p in parts])
    changed = (ys != y).mean(axis=1)
    spec = MLPSpec(in_dim=x.shape[1], hidden=(job.width,) * job.depth, out_dim=NUM_CLASSES)
    seeds = [m.seed for m in mem]  # the variants of a seed share the init and batch order
    params = init_mlp_ensemble(spec, seeds, device=ctx.device)
    cfg = train_config(job, epochs=job.max_epochs, stop_train_acc=1.0, threads=ctx.threads)
    res = train_ensemble(
        spec, params, {"x": xs, "y": ys}, cfg, seeds, device=ctx.device, log=ctx.log
    )
    xt = torch.as_tensor(ds["x_test"], device=ctx.device)
    yt = torch.as_tensor(ds["y_test"], device=ctx.device)
    with torch.no_grad():
        te_loss, te_acc = evaluate(spec, res.params, xt, yt, "ce", yt)
    assert te_acc is not None
    te_loss_np, te_acc_np = te_loss.cpu().numpy(), te_acc.cpu().numpy()
    h = res.history
    epochs_run = int(h["epoch"].max())
    frames = []
    for k, m in enumerate(mem):
        hk = h[h["member"] == k]
        fit = first_fit_epoch(hk["epoch"].to_numpy(), hk["train_acc"].to_numpy())
        bad = bool(res.diverged[k])
        frames.append(
            pd.DataFrame(
                {
                    "variant": m.variant,
                    "label_fraction": m.label_fraction,
                    "width": job.width,
                    "seed": m.seed,
                    "n_train": n,
                    "epoch": hk["epoch"].to_numpy(),
                    "train_loss": hk["train_loss"].to_numpy(),
                    "train_acc": hk["train_acc"].to_numpy(),
                    "changed_frac": float(changed[k]),
                    "fitted": bool(np.isfinite(fit)),
                    "fit_epoch": fit,
                    "epochs_run": epochs_run,
                    "test_acc": np.nan if bad else float(te_acc_np[k]),
                    "test_loss": np.nan if bad else float(te_loss_np[k]),
                    "diverged": bad,
                }
            )
        )
    df = pd.concat(frames, ignore_index=True)
    last = df[df["epoch"] == epochs_run]
    ctx.log(
        f"w={job.width}: {epochs_run} epochs ({res.train_s:.1f} s of steps), "
        f"{int(last['fitted'].sum())}/{len(mem)} members fitted; mean fit epoch and test acc: "
        + ", ".join(
            f"{v}/{f:g} {g['fit_epoch'].mean():.0f} {g['test_acc'].mean():.3f}"
            for (v, f), g in last.groupby(["variant", "label_fraction"])
        )
    )
    return df[list(RUN_SCHEMA.columns)]
