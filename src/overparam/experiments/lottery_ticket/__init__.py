"""Lottery tickets on MNIST-1D: iterative magnitude pruning (IMP) with rewinding, and its
controls (Frankle & Carbin 2019; late rewinding: Frankle, Dziugaite, Roy & Carbin 2020).

The engine is ``overparam.lottery`` (the rounds, rewinding, the controls, early stopping on a
validation split); this experiment maps the config to its calls and its output to tables.
Each job trains one network with one rewind step k for all seeds: round 0 the dense network,
rounds 1..``rounds`` a ticket, a reinit and a random-pruning control per seed.

Every row of a run table carries its member's weight mask (``mask``: bit-packed bytes, see
``overparam.prune.Mask.pack``) and its ``init_seed``/``rewind_step``, so any ticket can be
re-trained from the table alone: ``run.retrain_row`` does it (tests check that it reproduces
the run). The metrics table is the run tables without the masks.

Jobs: ``<network>_rewind<k>`` for every network and rewind step in the config.
Modules: ``run`` (data, the job, retraining), ``claims``, ``figure``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd

from ...data import MNIST1D
from ...tables import Schema
from .. import Experiment, JobSpec, register

VARIANTS = ("dense", "ticket", "reinit", "random")  # the metrics table's order within a round
# variants that start from the dense run's step-k weights (``overparam.lottery.REWOUND``; not
# imported: the claims and the figure import no torch). Their ``stop_step`` counts from step k.
REWOUND = ("ticket", "random")
NUM_LAYERS = 3  # both reference networks have two hidden layers (the schema enforces it)

_COLUMNS = {
    "network": "str",
    "hidden": "str",
    "rewind_step": "int",
    "pruning": "str",
    "round": "int",
    "variant": "str",
    "seed": "int",
    "init_seed": "int",
    "remaining_frac": "float",
    **{f"remaining_frac_layer{i}": "float" for i in range(1, NUM_LAYERS + 1)},
    "kept_weights": "int",
    "stop_step": "int",
    "total_steps": "int",
    "val_loss_at_stop": "float",
    "test_acc_at_stop": "float",
    "max_test_acc": "float",
    "final_test_acc": "float",
    "final_train_acc": "float",
    "diverged": "bool",
}
_NULLABLE = frozenset(
    {"val_loss_at_stop", "test_acc_at_stop", "max_test_acc", "final_test_acc", "final_train_acc"}
)
_DOC = {
    "network": "the network's name in the config",
    "hidden": "its hidden widths joined by x (e.g. 100x100)",
    "rewind_step": "k: the step of the dense run the rewound variants restart from",
    "pruning": "layerwise | global: magnitude pruning within each layer or over all layers",
    "round": "pruning round: 0 the dense network, 1..rounds the pruned ones",
    "variant": "dense | ticket | reinit (ticket mask, fresh init) | random (random mask)",
    "seed": "batch order and, for dense/ticket/random, the init",
    "init_seed": "the seed of the member's starting weights: the seed itself, or a fresh one for reinit",
    "remaining_frac": "fraction of all weights (of the weight matrices) kept",
    **{
        f"remaining_frac_layer{i}": f"fraction of weight matrix {i}'s weights kept"
        for i in range(1, NUM_LAYERS + 1)
    },
    "kept_weights": "number of weights kept (all weight matrices)",
    "stop_step": "early-stopping step (minimum validation loss), counted from the variant's "
    "own start; -1 when diverged",
    "total_steps": "optimizer steps of the full training budget",
    "val_loss_at_stop": "validation cross-entropy at the early-stopping step",
    "test_acc_at_stop": "test accuracy at the early-stopping step (the paper's measure)",
    "max_test_acc": "highest test accuracy over the checkpoints (the MNIST-1D notebook's)",
    "final_test_acc": "test accuracy at the end of training",
    "final_train_acc": "training accuracy at the end of training",
    "diverged": "the run's loss became NaN or inf (its accuracies are NaN)",
}
RUN_SCHEMA = Schema(
    name="lottery_ticket.runs",
    columns={**_COLUMNS, "mask": "str"},
    nullable=_NULLABLE,
    doc={**_DOC, "mask": "the member's weight mask, bit-packed (overparam.prune.Mask.pack)"},
)
METRICS_SCHEMA = Schema(
    name="lottery_ticket.metrics", columns=_COLUMNS, nullable=_NULLABLE, doc=_DOC
)


@dataclass(frozen=True)
class TicketJob(JobSpec):
    """One network and rewind step, all seeds and rounds: the data, the pruning schedule and
    the training shared by all jobs."""

    trains: ClassVar[bool] = True
    network: str
    hidden: tuple[int, ...]
    rewind_step: int
    seeds: tuple[int, ...]
    data: MNIST1D
    val_size: int
    rounds: int
    prune_rate: float
    prune_rate_output: float
    pruning: str
    optimizer: str
    lr: float
    momentum: float
    batch_size: int
    epochs: int
    eval_every_steps: int

    @property
    def id(self) -> str:
        return f"{self.network}_rewind{self.rewind_step}"


@register
class LotteryTicket(Experiment[TicketJob]):
    name = "lottery_ticket"
    sort_by = ("network", "rewind_step", "round", "variant", "seed")  # variant: VARIANTS order

    def specs(self, cfg: Mapping[str, Any]) -> Iterator[TicketJob]:
        for net, hidden in cfg["networks"].items():
            for k in cfg["rewind_steps"]:
                yield TicketJob.from_section(cfg, network=net, hidden=hidden, rewind_step=k)

    def problems(self, cfg: Mapping[str, Any]) -> Iterator[str]:
        n_train = int(cfg["data"]["num_samples"] * cfg["data"]["train_split"])
        if not 0 < cfg["val_size"] < n_train:
            yield (
                f"config key 'lottery_ticket.val_size': {cfg['val_size']} must be smaller than "
                f"the {n_train} MNIST-1D training samples it is carved from"
            )
        else:
            n_fit = n_train - cfg["val_size"]
            total = cfg["epochs"] * -(-n_fit // min(cfg["batch_size"], n_fit))
            for k in cfg["rewind_steps"]:
                if k > total:
                    yield (
                        f"config key 'lottery_ticket.rewind_steps': step {k} is beyond the "
                        f"{total} optimizer steps of a run"
                    )
        a, b = cfg["claims_setup"]["early_stop_remaining"]
        if a > b:
            yield (
                f"config key 'lottery_ticket.claims_setup.early_stop_remaining': [{a}, {b}] "
                "must be [low, high]"
            )

    def aggregate(self, frames: list[pd.DataFrame], cfg: Mapping[str, Any]) -> pd.DataFrame:
        """The run tables without their masks, ordered by network, rewind step, round,
        variant (dense, ticket, reinit, random) and seed."""
        df = pd.concat(frames, ignore_index=True).drop(columns=["mask"])
        order = {v: i for i, v in enumerate(VARIANTS)}
        df = df.assign(_v=df["variant"].map(order))
        by = ["_v" if c == "variant" else c for c in self.sort_by]
        return df.sort_values(by, ignore_index=True).drop(columns="_v")
