"""Lottery tickets: iterative magnitude pruning (IMP) with rewinding, and its controls.

Frankle & Carbin 2019 (ICLR), "The Lottery Ticket Hypothesis"; late rewinding from
Frankle, Dziugaite, Roy & Carbin 2020 (ICML), "Linear Mode Connectivity and the LTH".

Protocol of one job (one network, one rewind step k):

- round 0: train the dense network (one member per seed) from its init theta_0; keep the
  params at step k (theta_k; k = 0 is the init itself).
- round j >= 1: prune the ticket of round j-1 (its trained weights) to the scheduled size
  (``overparam.prune``: 20% of the surviving weights of each hidden layer, 10% of the output
  layer, per round; biases are never pruned), then train one ensemble of three variants per
  seed, all with the same batch order (seed) and the same TrainConfig:

    ticket   magnitude mask m_j, survivors rewound to theta_k of the dense run
    reinit   the same mask m_j, fresh random init (seed ``init_seed`` in the table)
    random   a uniformly random mask with m_j's per-layer counts, rewound to theta_k

  Rewinding resets the weights, not the clock: every round trains for the full budget.
- every ``eval_every_steps`` optimizer steps the params are checkpointed; afterwards each
  checkpoint is evaluated on a validation split carved from the training set and on the test
  set. The early-stopping step is the step of minimum validation loss; the accuracy of a run
  is its test accuracy at that step (the paper's measure). ``max_test_acc`` (the MNIST-1D
  notebook's measure) is recorded too.

Every row of a run table carries its member's weight mask (``mask``: bit-packed bytes, see
``prune.pack_mask``) and its ``init_seed``/``rewind_step``, so any ticket can be re-trained
from the table alone: ``retrain_row`` does it (tests check that it reproduces the run).

Jobs: ``<network>_rewind<k>`` for every network and rewind step in the config.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import plots, prune
from ..claims import Claim, make_claim
from ..data import load_npz, mnist1d
from ..models import MLPSpec, init_mlp_ensemble
from ..tables import Schema
from ..train import TrainConfig, TrainResult, evaluate, resolve_device, train_ensemble

NAME = "lottery_ticket"
TRAINS = True
VARIANTS = ("dense", "ticket", "reinit", "random")
REINIT_SEED_OFFSET = 1_000_000  # reinit member of (round j, seed s): init seed OFFSET + 1000 j + s
RANDOM_MASK_OFFSET = 2_000_000  # its random mask: torch.Generator seeded OFFSET + 1000 j + s
VAL_SPLIT_SALT = 4  # validation split: np.random.default_rng([data seed, VAL_SPLIT_SALT])
NUM_LAYERS = 3  # both reference networks have two hidden layers (the schema enforces it)

_COLUMNS = {
    "network": "str", "hidden": "str", "rewind_step": "int", "pruning": "str", "round": "int",
    "variant": "str", "seed": "int", "init_seed": "int", "remaining_frac": "float",
    **{f"remaining_frac_layer{i}": "float" for i in range(1, NUM_LAYERS + 1)},
    "kept_weights": "int", "stop_step": "int", "total_steps": "int", "val_loss_at_stop": "float",
    "test_acc_at_stop": "float", "max_test_acc": "float", "final_test_acc": "float",
    "final_train_acc": "float", "diverged": "bool",
}  # fmt: skip
_NULLABLE = frozenset({"val_loss_at_stop", "test_acc_at_stop", "max_test_acc", "final_test_acc",
                       "final_train_acc"})
RUN_SCHEMA = Schema(name="lottery_ticket.runs", columns={**_COLUMNS, "mask": "str"},
                    nullable=_NULLABLE)
METRICS_SCHEMA = Schema(name="lottery_ticket.metrics", columns=_COLUMNS, nullable=_NULLABLE)


# ----------------------------------------------------------------------------- config and data


def jobs(cfg: dict) -> list[str]:
    return [f"{net}_rewind{k}" for net in cfg["networks"] for k in cfg["rewind_steps"]]


def parse_job(cfg: dict, job: str) -> tuple[str, int]:
    net, sep, k = job.rpartition("_rewind")
    if not sep or net not in cfg["networks"] or not k.isdigit() or int(k) not in cfg["rewind_steps"]:
        raise ValueError(f"job {job!r} is not one of {jobs(cfg)}")
    return net, int(k)


def data_path(cfg: dict) -> str:
    d = cfg["data"]
    return f"results/data/mnist1d_n{d['num_samples']}_split{d['train_split']}_seed{d['seed']}.npz"


def inputs(cfg: dict) -> list[str]:
    return [data_path(cfg)]


def spec_of(cfg: dict, network: str) -> MLPSpec:
    return MLPSpec(in_dim=40, hidden=tuple(cfg["networks"][network]), out_dim=10)


def load_data(cfg: dict) -> dict[str, np.ndarray]:
    """MNIST-1D (the cached npz when the pipeline made it, else generated offline) with
    ``val_size`` training samples moved to a validation split (the same for every seed)."""
    path = Path(data_path(cfg))
    d = cfg["data"]
    ds = load_npz(path) if path.exists() else mnist1d(d["num_samples"], d["train_split"], d["seed"])
    return split_validation(ds, int(cfg["val_size"]), int(d["seed"]))


def split_validation(ds: dict, val_size: int, seed: int) -> dict[str, np.ndarray]:
    n = len(ds["y"])
    if not 0 < val_size < n:
        raise ValueError(f"val_size must be in (0, {n}), got {val_size}")
    perm = np.random.default_rng([seed, VAL_SPLIT_SALT]).permutation(n)
    va, tr = perm[:val_size], perm[val_size:]
    return {"x": ds["x"][tr], "y": ds["y"][tr], "x_val": ds["x"][va], "y_val": ds["y"][va],
            "x_test": ds["x_test"], "y_test": ds["y_test"]}


def train_config(cfg: dict, n_train: int, threads: int | None = None,
                 extra_checkpoints: tuple[int, ...] = ()) -> TrainConfig:
    spe = math.ceil(n_train / min(int(cfg["batch_size"]), n_train))
    total = int(cfg["epochs"]) * spe
    every = int(cfg["eval_every_steps"])
    ckpts = tuple(sorted(set(range(0, total + 1, every)) | {total} | set(extra_checkpoints)))
    return TrainConfig(epochs=int(cfg["epochs"]), batch_size=int(cfg["batch_size"]),
                       lr=float(cfg["lr"]), optimizer=cfg["optimizer"],
                       momentum=float(cfg.get("momentum", 0.0)), loss="ce",
                       eval_every=int(cfg["epochs"]), checkpoint_steps=ckpts, threads=threads)


# ----------------------------------------------------------------------------- one round


def train_round(spec: MLPSpec, params, masks, data: dict, tc: TrainConfig, seeds, device,
                log=None) -> tuple[dict[str, np.ndarray], TrainResult]:
    """Train one ensemble with masks; evaluate every checkpoint on validation and test.
    Returns per-member scalars (stop step, accuracies, ...) and the TrainResult."""
    dev = resolve_device(device)
    res = train_ensemble(spec, params, {"x": data["x"], "y": data["y"]}, tc, seeds, masks=masks,
                         device=dev, log=log)
    steps = sorted(s for s in res.checkpoints if s <= res.steps)
    xv, yv = (torch.as_tensor(data[k]).to(dev) for k in ("x_val", "y_val"))
    xt, yt = (torch.as_tensor(data[k]).to(dev) for k in ("x_test", "y_test"))
    val_loss, test_acc = [], []
    for s in steps:
        p = [t.to(dev) for t in res.checkpoints[s]]
        vl, _ = evaluate(spec, p, xv, yv, "ce", yv)
        _, ta = evaluate(spec, p, xt, yt, "ce", yt)
        val_loss.append(vl.cpu().numpy())
        test_acc.append(ta.cpu().numpy())
    val_loss, test_acc = np.stack(val_loss), np.stack(test_acc)  # (C, K)
    K = len(seeds)
    finite = np.isfinite(val_loss).any(0) & ~res.diverged
    best = np.where(finite, np.argmin(np.where(np.isfinite(val_loss), val_loss, np.inf), 0), 0)
    cols = np.arange(K)
    last = res.history[res.history["epoch"] == res.history["epoch"].max()].sort_values("member")
    nan = np.full(K, np.nan)
    out = {
        "stop_step": np.where(finite, np.asarray(steps)[best], -1),
        "total_steps": np.full(K, res.steps),
        "val_loss_at_stop": np.where(finite, val_loss[best, cols], nan),
        "test_acc_at_stop": np.where(finite, test_acc[best, cols], nan),
        "max_test_acc": np.where(finite, np.nanmax(np.where(np.isfinite(val_loss), test_acc, -1), 0), nan),
        "final_test_acc": np.where(finite, test_acc[-1], nan),
        "final_train_acc": np.where(finite, last["train_acc"].to_numpy(), nan),
        "diverged": res.diverged.copy(),
    }
    return out, res


def _member_rows(spec, meta: dict, masks, stats: dict) -> pd.DataFrame:
    frac, per_layer = prune.remaining(spec, masks)
    K = len(frac)
    kept = [int(sum(masks[i][k].sum().item() for i in range(len(masks)) if masks[i] is not None))
            for k in range(K)]
    df = pd.DataFrame({
        **{k: (v if np.ndim(v) else [v] * K) for k, v in meta.items()},
        "remaining_frac": frac,
        **{f"remaining_frac_layer{i + 1}": per_layer[:, i] for i in range(per_layer.shape[1])},
        "kept_weights": kept, **stats,
        "mask": [prune.pack_mask(spec, masks, k) for k in range(K)],
    })  # fmt: skip
    return df


def _fresh_seeds(offset: int, round_: int, seeds) -> list[int]:
    return [offset + 1000 * round_ + int(s) for s in seeds]


# ----------------------------------------------------------------------------- the job


def run(cfg: dict, job: str, device: str = "auto", threads: int | None = None, log=print,
        **_) -> pd.DataFrame:
    network, k = parse_job(cfg, job)
    dev = resolve_device(device)
    spec = spec_of(cfg, network)
    if NUM_LAYERS != spec.num_layers:
        raise ValueError(f"network {network}: lottery_ticket tables have {NUM_LAYERS} layers")
    seeds = [int(s) for s in cfg["seeds"]]
    S = len(seeds)
    data = load_data(cfg)
    tc = train_config(cfg, len(data["y"]), threads, extra_checkpoints=(k,))
    if k > tc.checkpoint_steps[-1]:
        raise ValueError(f"rewind step {k} is beyond the {tc.checkpoint_steps[-1]} steps of a run")
    pruning = cfg.get("pruning", "layerwise")
    rate_h, rate_o = float(cfg["prune_rate"]), float(cfg["prune_rate_output"])
    base = {"network": network, "hidden": "x".join(map(str, spec.hidden)), "rewind_step": k,
            "pruning": pruning}
    say = log or (lambda s: None)

    # round 0: the dense network
    init = init_mlp_ensemble(spec, seeds)
    masks = prune.full_masks(spec, S)
    stats, res = train_round(spec, init, masks, data, tc, seeds, dev, log=None)
    rows = [_member_rows(spec, {**base, "round": 0, "variant": "dense", "seed": seeds,
                                "init_seed": seeds}, masks, stats)]
    rewind_to = [t.cpu() for t in res.checkpoints[k]] if k else init
    trained = [t.cpu() for t in res.params]
    say(f"[{job}] round 0 dense: test acc at stop "
        f"{np.nanmean(stats['test_acc_at_stop']):.3f}, stop step {np.mean(stats['stop_step']):.0f}")

    for j in range(1, int(cfg["rounds"]) + 1):
        masks = prune.magnitude_prune(spec, trained, masks, j, rate_h, rate_o, pruning)
        _, per_layer = prune.remaining(spec, masks)
        sizes = [m[0].numel() for m in masks if m is not None]
        counts = np.rint(per_layer * np.asarray(sizes)).astype(int)
        gens = [torch.Generator().manual_seed(s) for s in _fresh_seeds(RANDOM_MASK_OFFSET, j, seeds)]
        rmasks = prune.random_masks(spec, counts, gens)
        reinit_seeds = _fresh_seeds(REINIT_SEED_OFFSET, j, seeds)
        reinit = init_mlp_ensemble(spec, reinit_seeds)
        params = prune.concat(prune.rewind(rewind_to, masks), prune.rewind(reinit, masks),
                              prune.rewind(rewind_to, rmasks))
        all_masks = prune.concat(masks, masks, rmasks)
        stats, res = train_round(spec, params, all_masks, data, tc, seeds * 3, dev, log=None)
        meta = {**base, "round": j, "variant": ["ticket"] * S + ["reinit"] * S + ["random"] * S,
                "seed": seeds * 3, "init_seed": seeds + reinit_seeds + seeds}
        rows.append(_member_rows(spec, meta, all_masks, stats))
        trained = prune.select([t.cpu() for t in res.params], range(S))
        acc = {v: np.nanmean(stats["test_acc_at_stop"][i * S:(i + 1) * S])
               for i, v in enumerate(("ticket", "reinit", "random"))}
        say(f"[{job}] round {j}: {rows[-1]['remaining_frac'].iloc[0]:.3f} remaining; test acc "
            + ", ".join(f"{v} {a:.3f}" for v, a in acc.items())
            + f"; ticket stop step {np.mean(stats['stop_step'][:S]):.0f} ({res.wall_s:.1f}s)")
    df = pd.concat(rows, ignore_index=True)
    return df.astype({c: "int64" for c, t in RUN_SCHEMA.columns.items() if t == "int"})


def retrain_row(row, cfg: dict, device: str = "cpu") -> dict[str, float]:
    """Re-train one member from its table row alone (mask, init_seed, rewind_step, seed) and
    return the same per-member statistics as the run (``train_round``'s)."""
    spec = spec_of(cfg, row["network"])
    data = load_data(cfg)
    k = int(row["rewind_step"])
    tc = train_config(cfg, len(data["y"]), extra_checkpoints=(k,))
    masks = prune.unpack_mask(spec, row["mask"])
    start = init_mlp_ensemble(spec, [int(row["init_seed"])])
    if k and row["variant"] in ("ticket", "random"):  # survivors rewound to the dense run's step k
        dense = train_ensemble(spec, start, {"x": data["x"], "y": data["y"]},
                               replace(tc, checkpoint_steps=(k,),
                                       epochs=math.ceil(k / _steps_per_epoch(tc, data))),
                               [int(row["seed"])], device=device)
        start = dense.checkpoints[k]
    stats, _ = train_round(spec, prune.rewind(start, masks), masks, data, tc, [int(row["seed"])],
                           device)
    return {c: float(v[0]) for c, v in stats.items()}


def _steps_per_epoch(tc: TrainConfig, data) -> int:
    n = len(data["y"])
    return math.ceil(n / min(tc.batch_size, n))


# ----------------------------------------------------------------------------- aggregate, claims


def aggregate(frames: list[pd.DataFrame], cfg: dict) -> pd.DataFrame:
    df = pd.concat(frames, ignore_index=True).drop(columns=["mask"])
    order = {v: i for i, v in enumerate(VARIANTS)}
    df = df.assign(_v=df["variant"].map(order))
    return df.sort_values(["network", "rewind_step", "round", "_v", "seed"],
                          ignore_index=True).drop(columns="_v")


def summary(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over seeds per (network, rewind step, round, variant)."""
    g = metrics.groupby(["network", "rewind_step", "round", "variant"], sort=True)
    return g.agg(remaining_frac=("remaining_frac", "mean"),
                 acc_mean=("test_acc_at_stop", "mean"), acc_sd=("test_acc_at_stop", "std"),
                 stop_mean=("stop_step", "mean"), stop_sd=("stop_step", "std"),
                 runs=("seed", "size"), diverged=("diverged", "sum")).reset_index()


def job_values(metrics: pd.DataFrame, cfg: dict) -> dict[tuple[str, int], dict[str, float]]:
    """The three claim metrics of every (network, rewind step):
    matches_dense_pp: min over rounds with >= match_min_remaining weights left of
        (ticket - dense) mean test accuracy, in percentage points;
    beats_controls_pp: over rounds with < match_min_remaining left, the smaller of the mean
        ticket-reinit and ticket-random accuracy differences, in percentage points;
    stop_ratio: mean over rounds with remaining in [early_stop_remaining] of ticket / dense
        mean early-stopping step."""
    c = cfg["claims_setup"]
    s = summary(metrics)
    out = {}
    for (net, k), g in s.groupby(["network", "rewind_step"]):
        dense = g[g["variant"] == "dense"].iloc[0]
        piv = g[g["round"] > 0].pivot(index="round", columns="variant",
                                      values=["acc_mean", "stop_mean", "remaining_frac"])
        frac = piv[("remaining_frac", "ticket")]
        acc = piv["acc_mean"]
        hi = frac >= c["match_min_remaining"]
        lo = ~hi
        matches = float(((acc["ticket"][hi] - dense["acc_mean"]) * 100).min()) if hi.any() else np.nan
        if lo.any():
            beats = float(min((acc["ticket"][lo] - acc["reinit"][lo]).mean(),
                              (acc["ticket"][lo] - acc["random"][lo]).mean()) * 100)
        else:
            beats = np.nan
        a, b = c["early_stop_remaining"]
        mid = (frac >= a) & (frac <= b)
        stop = float(piv[("stop_mean", "ticket")][mid].mean() / dense["stop_mean"]) if mid.any() \
            else np.nan
        out[(net, int(k))] = {"matches_dense_pp": matches, "beats_controls_pp": beats,
                              "stop_ratio": stop, "dense_acc": float(dense["acc_mean"]),
                              "dense_stop": float(dense["stop_mean"]),
                              "rounds_hi": int(hi.sum()), "rounds_lo": int(lo.sum()),
                              "rounds_mid": int(mid.sum()),
                              "min_remaining": float(frac.min())}
    return out


def check(metrics: pd.DataFrame, cfg: dict, scale: str) -> list[Claim]:
    fig = f"figures/{NAME}.png"
    claims = []
    for (net, k), v in job_values(metrics, cfg).items():
        tag = f"{net}_rewind{k}"
        base = f"{tag}: dense acc {v['dense_acc']:.3f}, dense stop step {v['dense_stop']:.0f}"
        claims += [
            make_claim(cfg["claims"]["matches_dense"], claim=f"{tag}.matches_dense",
                       experiment=NAME, value=v["matches_dense_pp"], figure=fig, scale=scale,
                       note=f"{base}; {v['rounds_hi']} rounds with >= "
                            f"{cfg['claims_setup']['match_min_remaining']:g} remaining"),
            make_claim(cfg["claims"]["beats_controls"], claim=f"{tag}.beats_controls",
                       experiment=NAME, value=v["beats_controls_pp"], figure=fig, scale=scale,
                       note=f"{base}; {v['rounds_lo']} rounds below, down to "
                            f"{v['min_remaining']:.3f} remaining"),
            make_claim(cfg["claims"]["earlier_stop"], claim=f"{tag}.earlier_stop",
                       experiment=NAME, value=v["stop_ratio"], figure=fig, scale=scale,
                       note=f"{base}; {v['rounds_mid']} rounds with remaining in "
                            f"{cfg['claims_setup']['early_stop_remaining']}"),
        ]
    return claims


# ----------------------------------------------------------------------------- figure

_STYLE = {"ticket": ("C0", "o", "winning ticket (IMP, rewound)"),
          "reinit": ("C3", "s", "random reinit (same mask)"),
          "random": ("C2", "^", "random pruning (same sparsity)")}


def plot(metrics: pd.DataFrame, cfg: dict, png, pdf) -> None:
    s = summary(metrics)
    groups = list(s.groupby(["network", "rewind_step"]))
    fig, axes = plots.subplots(2, nrows=len(groups), width=5.0, height=3.7)
    axes = axes.reshape(len(groups), 2)
    thr = cfg["claims_setup"]["match_min_remaining"]
    for (ax_a, ax_s), ((net, k), g) in zip(axes, groups):
        dense = g[g["variant"] == "dense"].iloc[0]
        hidden = "-".join(map(str, cfg["networks"][net]))
        rew = "init" if k == 0 else f"step {k}"
        for ax, col, sd in ((ax_a, "acc_mean", "acc_sd"), (ax_s, "stop_mean", "stop_sd")):
            scale = 100.0 if col == "acc_mean" else 1.0
            for v, (color, marker, label) in _STYLE.items():
                d = g[g["variant"] == v].sort_values("remaining_frac")
                x, y, e = d["remaining_frac"] * 100, d[col] * scale, d[sd].fillna(0) * scale
                ax.plot(x, y, marker=marker, ms=4, color=color, label=label)
                ax.fill_between(x, y - e, y + e, color=color, alpha=0.18, lw=0)
            ax.errorbar([100], [dense[col] * scale], yerr=[0 if np.isnan(dense[sd]) else dense[sd] * scale],
                        fmt="D", color="k", ms=5, capsize=2)
            ax.axhline(dense[col] * scale, color="k", ls="--", lw=1, label="dense network (100%)")
            ax.axvline(thr * 100, color="0.6", ls=":", lw=1)
            ax.set_xscale("log")
            ax.set_xlim(120, g["remaining_frac"].min() * 100 / 1.2)  # reversed: sparser to the right
            plots.plain_log_ticks(ax, "x")
            ax.set_xlabel("weights remaining (%)")
        budget = metrics.loc[(metrics["network"] == net) & (metrics["rewind_step"] == k),
                             "total_steps"].max()
        line = ax_s.axhline(budget, color="0.4", ls="-.", lw=1)
        ax_s.legend([line], ["training budget (never stopped early)"], fontsize=7, loc="lower right")
        ax_a.set(ylabel="test accuracy at early stop (%)",
                 title=f"{net} ({hidden}), rewind to {rew}: accuracy")
        ax_s.set(ylabel="early-stopping step (min val. loss)",
                 title=f"{net}, rewind to {rew}: early stopping")
        ax_a.legend(fontsize=7, loc="lower left")
    n_seeds = metrics["seed"].nunique()
    fig.suptitle(f"Lottery tickets on MNIST-1D: mean $\\pm$ sd over {n_seeds} seeds "
                 f"(dotted: {thr * 100:g}% remaining)", fontsize=10)
    plots.save(fig, png, pdf)
