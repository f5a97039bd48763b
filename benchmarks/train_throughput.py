"""Throughput of batched ensemble training vs. a Python loop over single models.

    python benchmarks/train_throughput.py [--quick] [--out results/benchmarks/train_throughput.parquet]

One run measures (1) the machine's float32 matmul peak (torch.mm of large square matrices,
best of a few sizes and repeats, same thread count) and (2) for MLPs 40-h-h-10 on MNIST-1D
(4000 train samples, batch 128, SGD with momentum) at several widths h:

- ``batched``: K seeds trained as one ensemble by ``overparam.train.train_ensemble``;
- ``loop``:    the same engine with K=1, called once per seed (same code path);
- ``loop_nn``: plain ``torch.nn.Sequential`` + ``torch.optim.SGD``, one model after another;
- ``batched_base`` (with ``--baseline-train PATH``): the ensemble trained by another version
  of ``overparam/train.py`` (say the commit before a change), timed in the same run;
- ``func``: the library route to an ensemble, ``torch.func``: the K ``torch.nn`` models'
  parameters stacked (``stack_module_state``), one ``vmap(grad(loss of functional_call))`` per
  step over the members and their own batches, SGD with momentum as ``torch._foreach`` ops on
  the stacked tensors (what a user would write without our hand-written backward);
- ``batched_graph`` (CUDA, always) / ``batched_static`` (``--static``, elsewhere): the
  engine's step without its per-step host synchronisation, on static buffers, captured once
  as a CUDA graph and replayed (eager off CUDA) -- what the step costs without launch overhead.

Throughput is member-samples per second of optimizer steps (evaluation excluded), the best
of ``--repeats`` runs per mode. ``speedup_vs_loop`` divides by the faster of the two loops,
``speedup_vs_nn`` by ``loop_nn``. ``step_ms`` is the time of one optimizer step (of all k
members for ``batched``, of one model for the loops); ``gemm_ms`` the time its GEMMs take at
the measured peak, and ``overhead_ms`` the rest (elementwise ops, dispatch, Python): what
fusing ops can remove. ``eval_share`` (batched only) is the share of a job's time spent in
evaluation when the train and test sets are evaluated after every epoch, as the experiments
do (one evaluation vs one epoch of steps, from the same ensemble trained with eval_every=1).
The matmul peak is the best of the measurements at the start and at the end of the run. FLOPs count only the GEMMs, exactly:
forward 2*sum(fan_in*fan_out), weight gradients the same again, input gradients the same for
every layer but the first (no gradient w.r.t. the data) -- a bit under 3x forward.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

# as workflow/scripts/run.py does for the jobs: idle OpenMP workers sleep (set before torch loads)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pandas as pd
import torch

from overparam.data import mnist1d
from overparam.device import matmul_peak_gflops
from overparam.io import atomic_path
from overparam.models import MLPSpec, init_mlp_ensemble, mlp_forward_backward
from overparam.train import (
    TrainConfig,
    _losses_and_grad,
    _neg_lr_views,
    _update,
    batch_generator,
    resolve_device,
    train_ensemble,
)

LR, MOMENTUM = 0.05, 0.9


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def loop_nn(
    spec: MLPSpec, data: dict, cfg: TrainConfig, seed: int, dev: torch.device
) -> tuple[int, float, int]:
    """One plain torch.nn model: (member-samples, seconds of optimizer steps, steps)."""
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(zip(spec.dims[:-1], spec.dims[1:])):
        layers += [torch.nn.Linear(a, b)] + ([torch.nn.ReLU()] if i < spec.num_layers - 1 else [])
    net = torch.nn.Sequential(*layers)
    with torch.no_grad():  # the engine's init of this seed (nn.Linear would use global RNG)
        for p, q in zip(net.parameters(), init_mlp_ensemble(spec, [seed])):
            p.copy_(q[0])
    net = net.to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
    x = torch.as_tensor(data["x"], device=dev)
    y = torch.as_tensor(data["y"], device=dev)
    n, gen, samples, steps = x.shape[0], batch_generator(seed), 0, 0
    sync(dev)
    t = time.perf_counter()
    for _ in range(cfg.epochs):
        perm = torch.randperm(n, generator=gen).to(dev)
        for a in range(0, n, cfg.batch_size):
            idx = perm[a : a + cfg.batch_size]
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            samples += idx.numel()
            steps += 1
    sync(dev)
    return samples, time.perf_counter() - t, steps


def func_ensemble(spec: MLPSpec, data: dict, cfg: TrainConfig, seeds, dev: torch.device):
    """The K members trained by ``torch.func``: stacked ``torch.nn`` parameters, one
    ``vmap(grad(...))`` per step, each member on its own batch order; SGD with momentum
    (torch.optim.SGD's update) on the stacked tensors. Returns (member-samples, seconds, steps)."""
    from torch.func import functional_call, grad, stack_module_state, vmap

    nets = []
    for seed in seeds:
        layers: list[torch.nn.Module] = []
        for i, (a, b) in enumerate(zip(spec.dims[:-1], spec.dims[1:])):
            layers += [torch.nn.Linear(a, b)]
            layers += [torch.nn.ReLU()] if i < spec.num_layers - 1 else []
        net = torch.nn.Sequential(*layers)
        with torch.no_grad():
            for p, q in zip(net.parameters(), init_mlp_ensemble(spec, [seed])):
                p.copy_(q[0])
        nets.append(net.to(dev))
    params, buffers = stack_module_state(nets)
    base = nets[0].to("meta")

    def loss(p, b, xb, yb):
        return torch.nn.functional.cross_entropy(functional_call(base, (p, b), (xb,)), yb)

    step_grad = vmap(grad(loss), in_dims=(0, 0, 0, 0))
    names = list(params)
    ps = [params[k].detach() for k in names]
    bufs = [torch.zeros_like(p) for p in ps]
    x = torch.as_tensor(data["x"], device=dev)
    y = torch.as_tensor(data["y"], device=dev)
    n, B = x.shape[0], cfg.batch_size
    gens = [batch_generator(s) for s in seeds]
    samples = steps = 0
    sync(dev)
    t = time.perf_counter()
    for _ in range(cfg.epochs):
        perm = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(dev)
        for a in range(0, n, B):
            idx = perm[:, a : a + B]
            g = step_grad(dict(zip(names, ps)), buffers, x[idx], y[idx])
            gs = [g[k] for k in names]
            torch._foreach_mul_(bufs, MOMENTUM)
            torch._foreach_add_(bufs, gs)
            torch._foreach_add_(ps, bufs, alpha=-LR)
            samples += idx.numel()
            steps += 1
    sync(dev)
    return samples, time.perf_counter() - t, steps


def static_step_run(spec: MLPSpec, data: dict, cfg: TrainConfig, seeds, dev: torch.device):
    """The engine's step (same forward/backward, loss head and update) without its per-step
    host synchronisation (no divergence check: every member kept), on static buffers; on
    CUDA captured once as a CUDA graph and replayed per step, elsewhere run eagerly.
    Full batches only. Returns (member-samples, seconds, steps)."""
    K, B = len(seeds), cfg.batch_size
    params = [p.to(dev) for p in init_mlp_ensemble(spec, seeds)]
    grads = [torch.zeros_like(p) for p in params]
    state = {"buf": [torch.zeros_like(p) for p in params]}
    neg_lr = _neg_lr_views(torch.full((K,), cfg.lr, dtype=torch.float64, device=dev), params)
    x = torch.as_tensor(data["x"], device=dev)
    y = torch.as_tensor(data["y"], device=dev)
    n = x.shape[0]
    idx = torch.zeros(K * B, dtype=torch.long, device=dev)  # the step's rows, written per step
    keep = torch.ones(K, dtype=torch.bool, device=dev)

    def step() -> None:
        xb = x.index_select(0, idx).view(K, B, -1)
        yb = y.index_select(0, idx).view(K, B)
        head = lambda z: _losses_and_grad(z, yb, "ce", lambda losses: keep)  # noqa: E731
        mlp_forward_backward(spec, params, xb, head, grads)
        _update(cfg, params, grads, state, neg_lr, 1)

    run = step
    if dev.type == "cuda":
        side = torch.cuda.Stream(dev)
        side.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(side):  # warm up outside the capture (cuBLAS workspaces)
            for _ in range(3):
                step()
        torch.cuda.current_stream(dev).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            step()
        run = graph.replay
    else:
        step()
    gens = [batch_generator(s) for s in seeds]
    steps = 0
    sync(dev)
    t = time.perf_counter()
    for _ in range(cfg.epochs):
        perm = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(dev)
        for a in range(0, n - B + 1, B):
            idx.copy_(perm[:, a : a + B].reshape(-1))
            run()
            steps += 1
    sync(dev)
    return steps * K * B, time.perf_counter() - t, steps


def bench_width(
    width, k, k_loop, epochs, data, dev, threads, repeats, engines, static
) -> list[dict]:
    """``engines``: mode name -> train_ensemble (the batched modes); ``static``: also time
    ``static_step_run`` (mode ``batched_graph`` on CUDA, ``batched_static`` elsewhere)."""
    spec = MLPSpec(40, (width, width), 10)
    cfg = TrainConfig(
        epochs=epochs, batch_size=128, lr=LR, momentum=MOMENTUM, eval_every=epochs, threads=threads
    )
    seeds = list(range(k))
    # warm up every path once (allocator, MKL/cuBLAS handles) on a small subset
    small = {key: v[:512] for key, v in data.items()}
    warm = TrainConfig(**{**cfg.__dict__, "epochs": 1, "eval_every": 1})
    for train in engines.values():
        train(spec, init_mlp_ensemble(spec, seeds), small, warm, seeds, device=dev)
    train_ensemble(spec, init_mlp_ensemble(spec, seeds[:1]), small, warm, seeds[:1], device=dev)
    loop_nn(spec, small, warm, 0, dev)
    func_ensemble(spec, small, warm, seeds, dev)
    static_mode = "batched_graph" if dev.type == "cuda" else "batched_static"

    best: dict[str, dict] = {}
    for _ in range(repeats):  # best of `repeats` per mode: the machine may be shared
        runs = []
        for mode, train in engines.items():
            res = train(spec, init_mlp_ensemble(spec, seeds), data, cfg, seeds, device=dev)
            runs.append(dict(mode=mode, k=k, samples=res.samples_per_s * res.train_s,
                             seconds=res.train_s, steps=res.steps))  # fmt: skip
        if static:
            a, b, c = static_step_run(spec, data, cfg, seeds, dev)
            runs.append(dict(mode=static_mode, k=k, samples=a, seconds=b, steps=c))
        a, b, c = func_ensemble(spec, data, cfg, seeds, dev)
        runs.append(dict(mode="func", k=k, samples=a, seconds=b, steps=c))
        samples = seconds = steps = 0.0
        for s in seeds[:k_loop]:
            r = train_ensemble(spec, init_mlp_ensemble(spec, [s]), data, cfg, [s], device=dev)
            samples, seconds = samples + r.samples_per_s * r.train_s, seconds + r.train_s
            steps += r.steps
        runs.append(dict(mode="loop", k=k_loop, samples=samples, seconds=seconds, steps=steps))
        samples = seconds = steps = 0.0
        for s in seeds[:k_loop]:
            a, b, c = loop_nn(spec, data, cfg, s, dev)
            samples, seconds, steps = samples + a, seconds + b, steps + c
        runs.append(dict(mode="loop_nn", k=k_loop, samples=samples, seconds=seconds, steps=steps))
        for r in runs:
            r["samples_per_s"] = r["samples"] / r["seconds"]
            if r["mode"] not in best or r["samples_per_s"] > best[r["mode"]]["samples_per_s"]:
                best[r["mode"]] = r
    rows = list(best.values())
    fps = spec.gemm_flops_per_sample
    for r in rows:
        r["width"] = width
        r["gflops"] = r["samples_per_s"] * fps / 1e9
        r["step_ms"] = 1e3 * r["seconds"] / r["steps"]  # one optimizer step of k // k models
        r["eval_share"] = float("nan")
    # a job's view: the batched ensemble evaluated (train + test set) after every epoch, as
    # the experiments do; the share of its whole wall time not spent in optimizer steps
    job = TrainConfig(**{**cfg.__dict__, "eval_every": 1})
    for mode, train in engines.items():
        shares = []
        for _ in range(repeats):
            res = train(spec, init_mlp_ensemble(spec, seeds), data, job, seeds, device=dev)
            # epochs + 1 evaluations (epoch 0 too): per epoch, as in a long job
            ev = (res.wall_s - res.train_s) / (job.epochs + 1)
            shares.append(ev / (ev + res.train_s / job.epochs))
        best[mode]["eval_share"] = min(shares)
    best_loop = max(r["samples_per_s"] for r in rows if r["mode"] in ("loop", "loop_nn"))
    nn_loop = best["loop_nn"]["samples_per_s"]
    for r in rows:
        r["speedup_vs_loop"] = r["samples_per_s"] / best_loop
        r["speedup_vs_nn"] = r["samples_per_s"] / nn_loop
    return rows


def load_engine(path: str):
    """``train_ensemble`` of another version of overparam/train.py (e.g. the commit before a
    change), to time both in one run; it imports the current overparam.models."""
    spec = importlib.util.spec_from_file_location("overparam_train_baseline", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod.train_ensemble


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--quick", action="store_true", help="1 epoch, loops over 4 seeds, smaller peak test"
    )
    ap.add_argument("--out", default="results/benchmarks/train_throughput.parquet")
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=None,
        help="torch threads; several (e.g. 1 2): every mode at each, in one run and one table "
        "(default: torch's)",
    )
    ap.add_argument("--widths", type=int, nargs="+", default=[32, 128, 512, 1024])
    ap.add_argument("--k", type=int, default=16, help="ensemble size")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument(
        "--repeats", type=int, default=None, help="best of N per mode (default 1 quick, 2 full)"
    )
    ap.add_argument(
        "--baseline-train",
        default=None,
        help="path of another overparam/train.py: also time its ensemble (mode batched_base)",
    )
    ap.add_argument(
        "--static",
        action="store_true",
        help="also time the engine's step without host syncs (CUDA: as a CUDA graph); on by "
        "default on CUDA",
    )
    ap.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="cpu: time with the process's CPU time (time.process_time) instead of wall time, "
        "for every timing here and in the trainer; needs --threads 1. On a machine shared with "
        "other work, CPU time leaves out the time the process waits for a core",
    )
    args = ap.parse_args(argv)
    if args.clock == "cpu":
        if args.threads != [1]:
            ap.error("--clock cpu needs --threads 1 (CPU time adds up over threads)")
        time.perf_counter = time.process_time  # the trainer's and this script's clock

    t_start = time.perf_counter()
    dev = resolve_device(args.device)
    counts = args.threads or [torch.get_num_threads()]
    df = pd.concat([_run(args, dev, n) for n in counts], ignore_index=True)
    with atomic_path(args.out) as tmp:
        df.to_parquet(tmp, index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(df.drop(columns=["gflops", "peak_gflops", "device", "torch_version", "clock", "epochs", "batch_size", "repeats"])
              .to_string(index=False, float_format=lambda v: f"{v:,.3g}"))  # fmt: skip
    print(f"wrote {args.out} ({time.perf_counter() - t_start:.0f} s)")
    return 0


def _run(args, dev: torch.device, threads: int) -> pd.DataFrame:
    """Every mode at every width with ``threads`` torch threads; the peak measured at them."""
    torch.set_num_threads(threads)
    epochs = args.epochs or (1 if args.quick else 3)
    k_loop = min(args.k, 4) if args.quick else args.k
    repeats = args.repeats or (1 if args.quick else 2)
    sizes, reps = ([2048], 5) if args.quick else ([2048, 4096], 5)
    peak = matmul_peak_gflops(dev, sizes, reps)
    print(
        f"device {dev}, torch {torch.__version__}, {threads} threads: float32 matmul peak {peak:.1f} GFLOP/s"
    )
    data = mnist1d(num_samples=5000, train_split=0.8, seed=0)  # 4000 train samples

    engines = {"batched": train_ensemble}
    if args.baseline_train:
        engines["batched_base"] = load_engine(args.baseline_train)
    static = args.static or dev.type == "cuda"
    rows = []
    for w in args.widths:
        rows += bench_width(w, args.k, k_loop, epochs, data, dev, threads, repeats, engines, static)
        r = next(r for r in rows if r["width"] == w and r["mode"] == "batched")
        print(f"  width {w:5d}: batched {r['samples_per_s']:10,.0f} samples/s, "
              f"{r['speedup_vs_loop']:5.1f}x the faster loop")  # fmt: skip
    # the peak is the best observed: measured again at the end, in case the first was disturbed
    peak_end = matmul_peak_gflops(dev, sizes, reps)
    if peak_end > peak:
        print(f"matmul peak re-measured at the end: {peak_end:.1f} GFLOP/s (used)")
        peak = peak_end
    df = pd.DataFrame(rows)
    df["peak_gflops"] = peak
    df["frac_of_peak"] = df["gflops"] / peak
    # GEMM time of one step at the measured peak; the rest of the step is per-op overhead
    # (elementwise ops, dispatch, Python) -- what fusion and fewer ops can remove
    df["gemm_ms"] = df["step_ms"] * df["frac_of_peak"]
    df["overhead_ms"] = df["step_ms"] - df["gemm_ms"]
    df["device"] = str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev)
    df["torch_version"] = torch.__version__
    df["threads"] = threads
    df["clock"] = args.clock
    df["epochs"] = epochs
    df["batch_size"] = 128
    df["repeats"] = repeats
    cols = ["width", "k", "mode", "samples_per_s", "gflops", "peak_gflops", "frac_of_peak",
            "speedup_vs_loop", "speedup_vs_nn", "step_ms", "gemm_ms", "overhead_ms", "eval_share", "device", "torch_version", "threads", "clock", "epochs", "batch_size", "repeats"]  # fmt: skip
    return df[cols]


if __name__ == "__main__":
    sys.exit(main())
