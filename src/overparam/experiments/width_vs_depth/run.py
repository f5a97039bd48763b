"""width_vs_depth's jobs: the budget-matched MLPs of one depth, all seeds one ensemble
(``fit``), or of every depth of the one-pass protocol in turn (``onepass``)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ...models import MLPSpec, init_mlp_ensemble, num_params
from ...train import evaluate, train_config, train_ensemble
from .. import RunContext
from . import IN_DIM, OUT_DIM, RUN_SCHEMA, DepthJob, OnePassJob


def spec_of(job: DepthJob) -> MLPSpec:
    return MLPSpec(in_dim=IN_DIM, hidden=(job.width,) * job.depth, out_dim=OUT_DIM)


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    kinds = {"int": "int64", "float": "float64", "bool": "bool"}
    df = df.astype({c: kinds[t] for c, t in RUN_SCHEMA.columns.items() if t in kinds})
    return df[list(RUN_SCHEMA.columns)]


def _check_count(job_id: str, spec: MLPSpec, budget: int) -> int:
    n_params = num_params(spec)
    if abs(n_params - budget) > 0.5 * budget:  # guards the closed form of __init__
        raise ValueError(f"{job_id}: hidden {spec.hidden} gives {n_params} parameters")
    return n_params


def run(job: DepthJob | OnePassJob, ctx: RunContext) -> pd.DataFrame:
    if isinstance(job, OnePassJob):
        return run_onepass(job, ctx)
    spec = spec_of(job)
    n_params = _check_count(job.id, spec, job.budget)
    data = job.data.load(ctx.inputs.get("data"))
    seeds = list(job.seeds)
    params = init_mlp_ensemble(spec, seeds, device=ctx.device)
    tc = train_config(job, optimizer="adam", threads=ctx.threads)
    res = train_ensemble(spec, params, data, tc, seeds, device=ctx.device, log=ctx.log)
    h = res.history
    last = h[h["epoch"] == h["epoch"].max()]
    ctx.log(
        f"[{job.id}] width {job.width}, {n_params} params: final train acc "
        f"{np.nanmedian(last['train_acc']):.3f}, test acc {np.nanmedian(last['test_acc']):.3f} "
        f"(medians over {len(seeds)} seeds, {res.train_s:.1f}s training)"
    )
    df = pd.DataFrame(
        {
            "protocol": "fit",
            "budget": job.budget,
            "depth": job.depth,
            "width": job.width,
            "num_params": n_params,
            "seed": h["seed"],
            "lr": job.lr,
            "epoch": h["epoch"],
            "step": h["step"],
            "train_loss": h["train_loss"],
            "val_loss": np.nan,
            "test_loss": h["test_loss"],
            "train_acc": h["train_acc"],
            "val_acc": np.nan,
            "test_acc": h["test_acc"],
            "diverged": h["diverged"].astype(bool),
        }
    )
    return _typed(df)


def checkpoint_steps(total_steps: int, checkpoints: int) -> list[int]:
    """Initialisation and ``checkpoints`` evenly spaced steps, the last one the run's end."""
    return sorted({0, *(round(i * total_steps / checkpoints) for i in range(1, checkpoints + 1))})


def split_validation(data: dict, val_samples: int) -> tuple[dict, dict]:
    """(training data with the test set, {x, y} of the validation split): the last
    ``val_samples`` of the training part validate, the rest train."""
    n = len(data["y"])
    if not 0 < val_samples < n:
        raise ValueError(f"val_samples must be in (0, {n}), got {val_samples}")
    cut = n - val_samples
    train = {"x": data["x"][:cut], "y": data["y"][:cut]}
    return train, {"x": data["x"][cut:], "y": data["y"][cut:]}


def run_onepass(job: OnePassJob, ctx: RunContext) -> pd.DataFrame:
    data = job.data.load(ctx.inputs.get("data"))
    train, val = split_validation(data, job.val_samples)
    held = {
        "val": (torch.as_tensor(val["x"]), torch.as_tensor(val["y"])),
        "test": (torch.as_tensor(data["x_test"]), torch.as_tensor(data["y_test"])),
    }
    n = len(train["y"])
    steps_per_epoch = math.ceil(n / min(job.batch_size, n))
    ckpts = checkpoint_steps(job.epochs * steps_per_epoch, job.checkpoints)
    member_seeds = [s for _ in job.lrs for s in job.seeds]
    member_lrs = tuple(lr for lr in job.lrs for _ in job.seeds)
    frames = []
    for depth, width in zip(job.depths, job.widths):
        spec = MLPSpec(in_dim=IN_DIM, hidden=(width,) * depth, out_dim=OUT_DIM)
        n_params = _check_count(job.id, spec, job.budget)
        params = init_mlp_ensemble(spec, member_seeds, device=ctx.device)
        tc = train_config(
            job,
            lr=member_lrs,
            optimizer="adam",
            eval_every=job.epochs,  # the training set at the start and the end only
            checkpoint_steps=ckpts,
            threads=ctx.threads,
        )
        res = train_ensemble(spec, params, train, tc, member_seeds, device=ctx.device, log=ctx.log)
        K = len(member_seeds)
        cols: dict[str, list] = {
            k: [] for k in ("member", "step", "val_loss", "val_acc", "test_loss", "test_acc")
        }
        for step in ckpts:
            p = [t.to(torch.float32) for t in res.checkpoints[step]]
            out = {}
            for name, (x, y) in held.items():
                loss, acc = evaluate(spec, p, x, y, "ce", y)
                out[name] = (loss.numpy(), acc.numpy())
            cols["member"] += list(range(K))
            cols["step"] += [step] * K
            for name in held:
                cols[f"{name}_loss"] += list(out[name][0])
                cols[f"{name}_acc"] += list(out[name][1])
        df = pd.DataFrame(cols)
        # a diverged member's params are zeroed: no metric from its divergence on
        dstep = np.where(res.diverged, res.diverged_step, np.iinfo(np.int64).max)
        df["diverged"] = df["step"].to_numpy() >= dstep[df["member"].to_numpy()]
        df.loc[df["diverged"], ["val_loss", "val_acc", "test_loss", "test_acc"]] = np.nan
        h = res.history.set_index(["member", "step"])[["train_loss", "train_acc"]]
        df = df.join(h, on=["member", "step"])
        df.loc[df["diverged"], ["train_loss", "train_acc"]] = np.nan
        m = df["member"].to_numpy()
        df = df.assign(
            protocol="onepass",
            budget=job.budget,
            depth=depth,
            width=width,
            num_params=n_params,
            seed=np.asarray(member_seeds)[m],
            lr=np.asarray(member_lrs)[m],
            epoch=df["step"] // steps_per_epoch,
        )
        end = df[df["step"] == ckpts[-1]]
        ctx.log(
            f"[{job.id}] depth {depth}, width {width}, {n_params} params: {n} samples once, "
            f"{K} members ({len(job.lrs)} lrs x {len(job.seeds)} seeds), "
            f"{res.train_s:.1f}s training; {int(end['diverged'].sum())} diverged"
        )
        frames.append(df)
    return _typed(pd.concat(frames, ignore_index=True))
