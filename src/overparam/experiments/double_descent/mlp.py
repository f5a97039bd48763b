"""Panels (d, e, f): the MNIST-1D double-descent notebook (greydanus/mnist1d,
deep-double-descent.ipynb): MLP 40-h-h-10, a fraction of the training labels redrawn at random,
cross-entropy, SGD with momentum, no regularisation; the seeds of a width trained as one batched
ensemble. Train/test error is recorded every ``eval_every`` epochs (epoch-wise curves).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...data import corrupt_labels
from .. import RunContext
from . import MLPJob
from .common import NAN, NUM_CLASSES, PanelClaim, factor_from, run_frame, run_row


def mlp_data(
    ds: Mapping[str, np.ndarray], *, n_train: int, label_noise: float, noise_seed: int
) -> tuple[dict[str, np.ndarray], int]:
    """The notebook's data from MNIST-1D arrays ``ds``: the first ``n_train`` training samples
    (0: all), ``label_noise`` of their labels redrawn uniformly over the 10 classes (one draw,
    shared by every width and seed), the whole test split. Returns (data, n_train)."""
    n = int(n_train) or len(ds["y"])
    if n > len(ds["y"]):
        raise ValueError(f"mlp.n_train={n} exceeds the {len(ds['y'])} training samples")
    y, _ = corrupt_labels(
        ds["y"][:n], float(label_noise), NUM_CLASSES, np.random.default_rng([int(noise_seed), 23])
    )
    return {"x": ds["x"][:n], "y": y, "x_test": ds["x_test"], "y_test": ds["y_test"]}, n


def run_mlp(job: MLPJob, ctx: RunContext) -> pd.DataFrame:
    from ...models import MLPSpec, init_mlp_ensemble, num_params
    from ...train import train_config, train_ensemble

    d, n = mlp_data(
        job.data.load(ctx.inputs.get("data")),
        n_train=job.n_train,
        label_noise=job.label_noise,
        noise_seed=job.noise_seed,
    )
    spec = MLPSpec(in_dim=d["x"].shape[1], hidden=(job.width,) * job.depth, out_dim=NUM_CLASSES)
    seeds = list(job.seeds)
    params = init_mlp_ensemble(spec, seeds, device=ctx.device)
    tc = train_config(job, threads=ctx.threads)  # SGD with momentum on the cross-entropy
    h = train_ensemble(spec, params, d, tc, seeds, device=ctx.device, log=ctx.log).history
    P = num_params(spec)
    return run_frame(
        [
            run_row(
                panel="mlp",
                estimator="sgd",
                seed=int(r.seed),
                n_train=n,
                width=job.width,
                num_params=P,
                params_per_sample=P / n,
                label_noise=job.label_noise,
                epoch=int(r.epoch),
                train_error=1.0 - r.train_acc,
                test_error=1.0 - r.test_acc,
                train_loss=r.train_loss,
                test_loss=r.test_loss,
                diverged=bool(r.diverged),
            )
            for r in h.itertuples(index=False)
        ]
    )


def mlp_final(m: pd.DataFrame) -> pd.DataFrame:
    """Per width: mean (and sd) over seeds of the train/test error at the last recorded epoch."""
    mlp = m[m["panel"] == "mlp"]
    last = mlp[mlp["epoch"] == mlp.groupby("width")["epoch"].transform("max")]
    return (
        last.groupby("width", sort=True)
        .agg(
            num_params=("num_params", "first"),
            params_per_sample=("params_per_sample", "first"),
            n_train=("n_train", "first"),
            epoch=("epoch", "first"),
            train_error=("train_error", "mean"),
            test_error=("test_error", "mean"),
            test_error_sd=("test_error", "std"),
            test_loss=("test_loss", "mean"),
            diverged=("diverged", "sum"),
            runs=("seed", "size"),
        )
        .reset_index()
    )


def mlp_landmarks(f: pd.DataFrame, interp_error: float) -> dict[str, float]:
    """Interpolation width (smallest width with mean train error <= interp_error), the
    first-descent minimum (lowest test error below it), the peak (highest test error at or
    above that minimum) and the widest model. NaN where undefined."""
    out = {
        k: NAN for k in ("h_interp", "h_min", "err_min", "h_peak", "err_peak", "h_last", "err_last")
    }
    f = f.dropna(subset=["test_error"]).sort_values("width").reset_index(drop=True)
    if f.empty:
        return out
    out.update(h_last=float(f["width"].iloc[-1]), err_last=float(f["test_error"].iloc[-1]))
    hit = f.index[f["train_error"] <= interp_error]
    if len(hit) == 0:
        return out
    i_int = int(hit[0])
    out["h_interp"] = float(f["width"].iloc[i_int])
    below = f.iloc[: max(i_int, 1)]
    i_min = int(below["test_error"].idxmin())
    i_peak = int(f["test_error"].iloc[i_min:].idxmax())
    out.update(
        h_min=float(f["width"].iloc[i_min]),
        err_min=float(f["test_error"].iloc[i_min]),
        h_peak=float(f["width"].iloc[i_peak]),
        err_peak=float(f["test_error"].iloc[i_peak]),
    )
    return out


MLP_CLAIMS = ("mlp_peak_near_interpolation", "mlp_peak_height", "mlp_second_descent")


def mlp_diverged(m: pd.DataFrame) -> pd.DataFrame:
    """One row per MLP run (width, seed): ``diverged`` if the trainer marked it so or its test
    error at the last recorded epoch is not a number (the seed means skip such runs)."""
    mlp = m[m["panel"] == "mlp"]
    last = mlp[mlp["epoch"] == mlp.groupby("width")["epoch"].transform("max")]
    runs = last.assign(bad=last["diverged"].astype(bool) | last["test_error"].isna())
    return runs.groupby(["width", "seed"], sort=True)["bad"].any().rename("diverged").reset_index()


def mlp_claims(metrics: pd.DataFrame, c: Mapping[str, Any]) -> list[PanelClaim]:
    """The three claims of the panel (one shared note); ``c`` is the config section ``mlp``.
    Every claim is NaN when more than ``max_diverged_fraction`` of the runs diverged: the
    means over seeds would silently compare widths on different seeds."""
    fm = mlp_final(metrics)
    lm = mlp_landmarks(fm, float(c["interp_train_error"]))
    ref = c["reference"]
    runs = mlp_diverged(metrics)
    bad = runs[runs["diverged"]]
    frac = len(bad) / len(runs) if len(runs) else NAN
    too_many = not frac <= float(c["max_diverged_fraction"])
    div_note = f"{len(bad)} of {len(runs)} runs diverged" + (
        " (width, seed): " + ", ".join(f"({w}, {s})" for w, s in zip(bad["width"], bad["seed"]))
        if len(bad)
        else ""
    )
    if too_many:
        div_note = (
            f"NaN: {div_note}, more than max_diverged_fraction="
            f"{float(c['max_diverged_fraction']):g} of them"
            if len(runs)
            else "NaN: no MLP runs"
        )
    if math.isnan(lm["h_interp"]):
        fm_last = fm.sort_values("width").iloc[-1] if len(fm) else None
        lm_note = (
            f"no width reached mean train error <= {c['interp_train_error']:g} "
            f"(widest: train {fm_last['train_error']:.3f}, test {fm_last['test_error']:.3f}); "
            if fm_last is not None
            else "no MLP rows; "
        )
    else:
        lm_note = ""
    note = (
        f"{div_note}; {lm_note}after {int(fm['epoch'].max()) if len(fm) else 0} epochs: "
        f"first-descent min {lm['err_min']:.3f} at h={lm['h_min']:g}, peak "
        f"{lm['err_peak']:.3f} at h={lm['h_peak']:g}, interpolation (train err <= "
        f"{c['interp_train_error']:g}) from h={lm['h_interp']:g}, widest "
        f"{lm['err_last']:.3f} at h={lm['h_last']:g} (peak - widest "
        f"{lm['err_peak'] - lm['err_last']:.3f}). Notebook: min {ref['min_error']:g} at "
        f"h~{ref['min_width']:g}, peak {ref['peak_error']:g} at h~{ref['peak_width']:g}, "
        f"{ref['last_error']:g} at h={ref['last_width']:g}"
    )
    values = {
        "mlp_peak_near_interpolation": factor_from(lm["h_peak"], lm["h_interp"]),
        "mlp_peak_height": lm["err_peak"] - lm["err_min"],
        "mlp_second_descent": lm["err_last"] - lm["err_min"],
    }
    return [(k, NAN if too_many else float(values[k]), note) for k in MLP_CLAIMS]


def draw_mlp(ax_mlp, ax_ep, ax_tr, metrics: pd.DataFrame, c: Mapping[str, Any]) -> None:
    """Panels (d) final errors against width with the classical sqrt(P/n) bound, (e, f)
    epoch-wise test and train error per width; ``c`` is the config section ``mlp``."""
    from ... import plots

    fm = mlp_final(metrics)
    mlp = metrics[metrics["panel"] == "mlp"]
    last = mlp[mlp["epoch"] == mlp.groupby("width")["epoch"].transform("max")]
    runs = mlp_diverged(metrics)
    n_div = int(runs["diverged"].sum())
    ax_mlp.scatter(last["width"], 100 * last["test_error"], s=6, color="C0", alpha=0.4)
    ax_mlp.plot(
        fm["width"],
        100 * fm["test_error"],
        "o-",
        ms=3.5,
        color="C0",
        label=f"test error (clean labels), mean of {mlp['seed'].nunique()} seeds (dots: each)"
        + (f"; {n_div} of {len(runs)} runs diverged, left out" if n_div else ""),
    )
    ax_mlp.plot(
        fm["width"],
        100 * fm["train_error"],
        "s-",
        ms=3,
        color="C1",
        label="train error (noisy labels)",
    )
    ref = c["reference"]
    ax_mlp.scatter(
        [ref["min_width"], ref["peak_width"], ref["last_width"]],
        [100 * ref["min_error"], 100 * ref["peak_error"], 100 * ref["last_error"]],
        marker="*",
        s=70,
        color="k",
        zorder=4,
        label="notebook (500 epochs)",
    )
    bound = 100 * np.sqrt(fm["params_per_sample"])
    ax_mlp.plot(
        fm["width"],
        bound,
        color="0.45",
        ls="--",
        lw=1,
        label=r"$\sqrt{P/n}$ (param-count bound; vacuous $>$100%)",
    )
    ax_mlp.axhline(100, color="0.6", lw=0.8)
    lm = mlp_landmarks(fm, float(c["interp_train_error"]))
    if not math.isnan(lm["h_interp"]):
        ax_mlp.axvline(
            lm["h_interp"],
            color="C1",
            ls=":",
            lw=1,
            label=f"first width with train error <= {100 * c['interp_train_error']:g}%",
        )
    ax_mlp.set(
        xscale="log",
        ylim=(0, 125),
        xlabel="hidden width h (40-h-h-10 MLP)",
        ylabel="error (%)",
        title=f"(d) MNIST-1D, {100 * c['label_noise']:g}% label noise, "
        f"{int(fm['epoch'].max()) if len(fm) else 0} epochs",
    )
    ax_mlp.legend(fontsize=7, loc="lower left")
    plots.plain_log_ticks(ax_mlp, "x")
    _draw_epochwise(ax_ep, ax_tr, mlp, c)


def _draw_epochwise(ax_ep, ax_tr, mlp: pd.DataFrame, c: Mapping[str, Any]) -> None:
    """Panels (e, f): epoch-wise test and train error per width (the MLP panel's rows)."""
    from ... import plots

    widths = sorted(mlp["width"].unique())
    pal = dict(zip(widths, plots.sns.color_palette("viridis", len(widths))))
    for w in widths:
        gm = mlp[mlp["width"] == w].groupby("epoch")[["test_error", "train_error"]].mean()
        ax_ep.plot(gm.index, 100 * gm["test_error"], color=pal[w], lw=1.2, label=f"h={w}")
        ax_tr.plot(gm.index, 100 * gm["train_error"], color=pal[w], lw=1.2, label=f"h={w}")
    k = f"mean of {mlp['seed'].nunique()} seeds"
    ax_ep.set(xlabel="epoch", ylabel="test error (%)", title=f"(e) epoch-wise test error, {k}")
    ax_tr.set(
        xlabel="epoch", ylabel="train error (%)", title=f"(f) train error (noisy labels), {k}"
    )
    changed = 100 * c["label_noise"] * (1 - 1 / NUM_CLASSES)  # a redrawn label may be unchanged
    ax_tr.axhline(changed, color="0.5", ls=":", lw=1, label=f"labels changed ({changed:.1f}%)")
    ax_tr.legend(fontsize=6.5, ncol=2, loc="upper right")
