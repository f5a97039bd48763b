"""Wider networks are easier to optimize (the reference text's first demo).

Two setups, rows told apart by the ``setup`` column of the metrics table:

- ``demo``: the reference demo as written. Two hidden ReLU layers (torch's default init),
  n = 100 Gaussian inputs in d = 20, a sin/cos target plus noise 0.1, full-batch SGD on the
  MSE, 2000 epochs, the loss of every epoch recorded. Each seed seeds one torch stream that
  draws the data and then the networks of every width in order, as the demo does (seed 42 is
  the demo's). The same runs repeat in NTK parametrization (``parametrization``) at one
  width-independent learning rate, which separates "wider is easier" from "wider takes a
  larger effective step" under a fixed learning rate in standard parametrization. Each NTK
  run also records its infinite-width kernel limit (Jacot et al. 2018; Lee et al. 2019):
  GD with the analytic limit NTK from the run's own initial outputs (``kernel_loss``) and
  from a draw of the infinite-width network's initial outputs (``limit_loss``).
- ``extension``: one hidden layer, random targets (memorisation), mini-batch SGD, the same
  learning rate and epochs for every width.

Claims per setup (and per parametrization of the demo): the median epoch at which the train
MSE first falls below a threshold, and the median final train loss, both decrease with width.
The NTK runs' replication claims: the time to fit and the loss curve approach the kernel
limit's as width grows (``claims.kernel_values``).

Specs: one per extension width (``w<width>``, its seeds one batched ensemble) and one per
demo parametrization and width (``demo_sp_w<width>``, ``demo_ntk_w<width>``; each seed has
its own data, so its seeds train one after the other). The narrow ones run as bundles:
``w_narrow`` (widths up to 500), ``demo_sp_narrow`` and ``demo_ntk_narrow`` (up to 50).
Modules: ``run`` (data, training), ``claims``, ``figure``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ...tables import Schema
from .. import Experiment, JobSpec, register

RUN_SCHEMA = Schema(
    name="optimization_ease.runs",
    columns={
        "setup": "str",
        "parametrization": "str",
        "lr": "float",
        "width": "int",
        "depth": "int",
        "num_params": "int",
        "seed": "int",
        "epoch": "int",
        "step": "int",
        "train_loss": "float",
        "test_loss": "float",
        "diverged": "bool",
        "kernel_loss": "float",
        "limit_loss": "float",
        "lr_over_critical": "float",
    },
    doc={
        "setup": "extension (the one-hidden-layer sweep) | demo (the reference demo as written)",
        "parametrization": "standard | ntk (the demo's runs repeated in NTK parametrization)",
        "lr": "the learning rate of the run",
        "width": "hidden units per layer",
        "depth": "number of hidden layers",
        "num_params": "trainable parameters of the network",
        "seed": "the run's seed (demo: it draws the data and the networks)",
        "epoch": "recorded epoch (0: at initialisation)",
        "step": "optimizer steps taken up to this epoch",
        "train_loss": "training MSE at this epoch; NaN once the run diverged",
        "test_loss": "test MSE at this epoch (extension); NaN for the demo (no test set) and once diverged",
        "diverged": "the run's loss became NaN or inf",
        "kernel_loss": "NTK demo runs: training MSE at this epoch of GD with the infinite-width "
        "NTK (fixed) from this run's own initial outputs, the same lr and steps; NaN otherwise",
        "limit_loss": "NTK demo runs: the same kernel GD from initial outputs drawn from the "
        "infinite-width network's N(0, Sigma) (one draw per seed, the same for every width); "
        "NaN otherwise",
        "lr_over_critical": "NTK demo runs: lr / (n / (lambda_min + lambda_max)) of the limit NTK "
        "on the seed's data (Lee et al. 2019's critical rate in our loss's normalisation); NaN "
        "otherwise",
    },
    nullable=frozenset(
        {"train_loss", "test_loss", "kernel_loss", "limit_loss", "lr_over_critical"}
    ),
)


@dataclass(frozen=True)
class WidthJob(JobSpec):
    """One width, all seeds: the data (n, d, target) and the SGD run shared by all widths."""

    trains: ClassVar[bool] = True
    width: int
    seeds: tuple[int, ...]
    n: int
    d: int
    target: str
    depth: int
    lr: float
    batch_size: int
    epochs: int
    eval_every: int
    optimizer: str
    momentum: float

    @property
    def id(self) -> str:
        return f"w{self.width}"

    @property
    def bundle(self) -> str | None:
        # 3-6 s each at quick scale (under 4 s of training), up to w500 ~1 min together at
        # paper scale; the wider ones alone
        return "w_narrow" if self.width <= NARROW_SWEEP else None


@dataclass(frozen=True)
class DemoJob(JobSpec):
    """The reference demo at one width and one parametrization, all seeds: each seed draws
    its data and (standard parametrization) its networks, in ``order``, from one torch stream,
    as the demo does; then full-batch SGD for ``epochs`` steps."""

    trains: ClassVar[bool] = True
    width: int
    parametrization: str
    lr: float
    seeds: tuple[int, ...]
    order: tuple[int, ...]  # widths whose networks are drawn from the stream, in order
    n: int
    d: int
    noise_sd: float
    depth: int
    epochs: int

    @property
    def id(self) -> str:
        return f"demo_{PARAM_IDS[self.parametrization]}_w{self.width}"

    @property
    def bundle(self) -> str | None:
        # ~5 s each at quick scale (~2 s of training); w200 (10 s) and wider alone
        if self.width <= NARROW_DEMO:
            return f"demo_{PARAM_IDS[self.parametrization]}_narrow"
        return None


PARAM_IDS = {"standard": "sp", "ntk": "ntk"}
# the widest sweep and demo widths run in one job with the narrower ones (bundles: the
# process start-up is a large part of these jobs)
NARROW_SWEEP, NARROW_DEMO = 500, 50


@register
class OptimizationEase(Experiment[WidthJob | DemoJob]):
    name = "optimization_ease"
    sort_by = ("setup", "parametrization", "width", "seed", "epoch")

    def specs(self, cfg: Mapping[str, Any]) -> Iterator[WidthJob | DemoJob]:
        for w in cfg["widths"]:
            yield WidthJob.from_section(cfg, width=w)
        demo = cfg.get("demo")
        if not demo:
            return
        widths = demo["widths"]
        for param, lr in demo["lr"].items():
            # NTK networks draw their own init, so their widths may extend the demo's
            sweep = demo.get("ntk_widths", widths) if param == "ntk" else widths
            for w in sweep:
                # only the standard runs start from the demo's own networks (drawn in the
                # order of its widths); NTK draws its own init per seed
                order = widths if param == "standard" else ()
                yield DemoJob.from_section(demo, width=w, parametrization=param, lr=lr, order=order)

    def problems(self, cfg: Mapping[str, Any]) -> Iterator[str]:
        if cfg["batch_size"] > cfg["n"]:
            yield (
                f"config key 'optimization_ease.batch_size': {cfg['batch_size']} exceeds the "
                f"number of samples n={cfg['n']}"
            )
        demo = cfg.get("demo") or {}
        for param in demo.get("lr", {}):
            for claim in ("epochs_decrease", "final_loss_decreases"):
                key = claim if param == "standard" else f"{PARAM_IDS[param]}_{claim}"
                if f"demo.{key}" not in self.definitions():
                    yield (
                        f"config key 'optimization_ease.demo.lr.{param}': its claim "
                        f"demo.{key} is not defined in {self.definitions_path().name}; every "
                        f"parametrization in optimization_ease.demo.lr needs its two claims"
                    )
