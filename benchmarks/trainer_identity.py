"""Bit-identity of the trainer across a code change: save its outputs, then compare.

    PYTHONPATH=<old checkout>/src python benchmarks/trainer_identity.py save /tmp/ref.pt
    PYTHONPATH=src                python benchmarks/trainer_identity.py check /tmp/ref.pt

Trains a fixed set of small configurations covering the trainer's paths (sgd with momentum
and weight decay, adam, mse, masks with checkpoints, per-member labels and inputs with early
stopping, ntk without biases, linear lr decay, a diverging member, gelu/tanh, float64) on fixed seeds
with one torch thread, and stores final params, checkpoints and the history table, each with the divergence checks
eager (the CPU's default) and deferred (CUDA's). ``check``
requires every tensor and every history value to be bitwise equal (NaN == NaN). Use it for
changes that must not move the quick-scale tables; run both halves on the same machine.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from overparam.models import MLPSpec, init_mlp_ensemble
from overparam.train import TrainConfig, train_ensemble


def _data(n=300, n_test=100, in_dim=12, classes=4, seed=0, k=None, mse=False):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, in_dim, generator=g)
    out = {}
    for split, m in (("", n), ("_test", n_test)):
        y = torch.randint(0, classes, (m,), generator=g)
        x = centers[y] + torch.randn(m, in_dim, generator=g)
        out["x" + split], out["y" + split] = x, y
        if mse:
            out["y" + split] = x[:, :2].sum(1, keepdim=True) * 0.5
    if k is not None:  # per-member labels (half shuffled) and inputs
        out["y"] = torch.stack([
            torch.where(torch.rand(n, generator=g) < 0.5, torch.randint(0, classes, (n,), generator=g), out["y"])
            for _ in range(k)
        ])  # fmt: skip
        out["x"] = out["x"] + 0.1 * torch.randn(k, n, in_dim, generator=g)
    return out


def cases() -> dict[str, dict]:
    s = MLPSpec(12, (24, 16), 4)
    masks = [(torch.rand(24, 12, generator=torch.Generator().manual_seed(5)) > 0.3), None,
             None, None, (torch.rand(4, 16, generator=torch.Generator().manual_seed(6)) > 0.2), None]  # fmt: skip
    return {
        "sgd_mom_wd": dict(spec=s, data=_data(), cfg=TrainConfig(
            epochs=4, batch_size=32, lr=0.05, momentum=0.9, weight_decay=1e-3)),
        "adam": dict(spec=s, data=_data(), cfg=TrainConfig(
            epochs=3, batch_size=50, lr=(1e-3, 3e-3, 1e-2), optimizer="adam")),
        "mse": dict(spec=MLPSpec(12, (32,), 1), data=_data(mse=True), cfg=TrainConfig(
            epochs=3, batch_size=64, lr=0.01, loss="mse", momentum=0.5)),
        "masks_ckpt": dict(spec=s, data=_data(), masks=masks, cfg=TrainConfig(
            epochs=3, batch_size=40, lr=0.1, momentum=0.9, checkpoint_steps=(0, 3, 9))),
        "per_member_stop": dict(spec=s, data=_data(k=3), cfg=TrainConfig(
            epochs=6, batch_size=32, lr=0.2, momentum=0.9, stop_train_acc=0.6)),
        "ntk_nobias_tanh": dict(spec=MLPSpec(12, (20,), 4, activation="tanh",
                                             parametrization="ntk", bias=False),
                                data=_data(), cfg=TrainConfig(epochs=3, batch_size=30, lr=1.0)),
        "linear_decay_gelu": dict(spec=MLPSpec(12, (16, 16), 4, activation="gelu"), data=_data(),
                                  cfg=TrainConfig(epochs=3, batch_size=32, lr=0.1,
                                                  lr_schedule="linear", weight_decay=1e-4)),
        "diverge": dict(spec=s, data=_data(), cfg=TrainConfig(
            epochs=3, batch_size=32, lr=(0.05, 80.0, 0.05), momentum=0.9, divergence_factor=10.0)),
        "float64_adam_wd": dict(spec=s, data=_data(), dtype=torch.float64, cfg=TrainConfig(
            epochs=3, batch_size=32, lr=3e-3, optimizer="adam", weight_decay=1e-3)),
        "float64_sgd": dict(spec=s, data=_data(), dtype=torch.float64, cfg=TrainConfig(
            epochs=3, batch_size=32, lr=0.05, momentum=0.9)),
        "stop_loss_full_batch": dict(spec=s, data=_data(n=100), cfg=TrainConfig(
            epochs=8, batch_size=1000, lr=0.5, stop_train_loss=0.8, eval_every=2)),
    }  # fmt: skip


def run_all() -> dict[str, dict]:
    torch.set_num_threads(1)
    out = {}
    runs = [(name, c, False) for name, c in cases().items()]
    runs += [(f"{name}_deferred", c, True) for name, c in cases().items()]  # CUDA's checks
    for name, c, defer in runs:
        cfg = c["cfg"]
        k = len(cfg.lr) if isinstance(cfg.lr, tuple) else 3
        seeds = list(range(10, 10 + k))
        init = init_mlp_ensemble(c["spec"], seeds, dtype=c.get("dtype", torch.float32))
        r = train_ensemble(
            c["spec"], init, c["data"], cfg, seeds, masks=c.get("masks"), defer_checks=defer
        )
        out[name] = {
            "params": [p.clone() for p in r.params],
            "checkpoints": {s: [p.clone() for p in ps] for s, ps in r.checkpoints.items()},
            "history": {col: r.history[col].to_numpy() for col in r.history.columns},
            "steps": r.steps,
            "diverged": r.diverged,
            "stopped": r.stopped,
        }
    return out


def compare(ref: dict, new: dict) -> list[str]:
    bad = []
    for name, a in ref.items():
        b = new[name]
        for i, (p, q) in enumerate(zip(a["params"], b["params"])):
            if not torch.equal(p, q) and not torch.equal(p.nan_to_num(7.0), q.nan_to_num(7.0)):
                bad.append(f"{name}: params[{i}] max diff {(p - q).abs().max().item():.3g}")
        if a["checkpoints"].keys() != b["checkpoints"].keys():
            bad.append(f"{name}: checkpoint steps differ")
        for s in a["checkpoints"]:
            for i, (p, q) in enumerate(zip(a["checkpoints"][s], b["checkpoints"].get(s, []))):
                if not torch.equal(p, q):
                    bad.append(f"{name}: checkpoint {s} [{i}] differs")
        for col, v in a["history"].items():
            w = b["history"][col]
            if v.dtype.kind == "f":
                same = np.array_equal(v, w, equal_nan=True)
            else:
                same = np.array_equal(v, w)
            if not same:
                bad.append(f"{name}: history[{col}] differs")
        for key in ("steps",):
            if a[key] != b[key]:
                bad.append(f"{name}: {key} {a[key]} != {b[key]}")
        for key in ("diverged", "stopped"):
            if not np.array_equal(a[key], b[key]):
                bad.append(f"{name}: {key} differs")
    return bad


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("save", "check"):
        print(__doc__)
        return 2
    out = run_all()
    if argv[0] == "save":
        torch.save(out, argv[1])
        print(f"saved {len(out)} cases to {argv[1]}")
        return 0
    bad = compare(torch.load(argv[1], weights_only=False), out)
    for line in bad:
        print("DIFF", line)
    print(f"{len(out)} cases: {'bit-identical' if not bad else f'{len(bad)} differences'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
