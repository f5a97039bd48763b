"""Random labels (issue 13, part 1; Zhang, Bengio, Hardt, Recht & Vinyals 2017, "Understanding
deep learning requires rethinking generalization", Sec. 2 and Fig. 1).

An MLP on MNIST-1D (the first ``n_train`` training samples), trained on the true labels, on
labels of which a fraction was redrawn at random, and on random inputs with random labels:

- ``labels`` variants, one per ``label_fractions`` entry f: each training sample's label is
  redrawn, for a random subset of round(f n) samples, uniformly over the 10 classes. This is
  Zhang et al.'s "partially corrupted labels" (each label "corrupted as a uniformly random
  class" with probability f): a redrawn label equals the old one with probability 1/10, so
  about 0.9 f of the labels change (``changed_frac`` records the measured fraction). The draw
  is made once per (seed, variant) and stays fixed during training.
- ``random_inputs``: every input replaced by Gaussian noise with the training inputs' mean and
  variance (per input position), every label drawn uniformly (Zhang et al.'s "Gaussian").

All variants of all seeds train as one batched ensemble (per-member labels and inputs, see
``overparam.train``); the variants of one seed share the initialisation and the batch order,
so they differ only in their data. Every member trains until its training accuracy reaches
1.0 (it is frozen then) or the epoch budget ends. The test accuracy is on the clean test split.

Jobs: ``w<width>`` per hidden width (every variant and seed of that width).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ...data import MNIST1D
from ...tables import Schema
from .. import Experiment, JobSpec, register
from ..sections import from_section

NUM_CLASSES = 10  # MNIST-1D: chance accuracy 1/10
VARIANTS = ("labels", "random_inputs")

RUN_SCHEMA = Schema(
    name="random_labels.runs",
    columns={
        "variant": "str",
        "label_fraction": "float",
        "width": "int",
        "seed": "int",
        "n_train": "int",
        "epoch": "int",
        "train_loss": "float",
        "train_acc": "float",
        "changed_frac": "float",
        "fitted": "bool",
        "fit_epoch": "float",
        "epochs_run": "int",
        "test_acc": "float",
        "test_loss": "float",
        "diverged": "bool",
    },
    nullable=frozenset({"train_loss", "train_acc", "fit_epoch", "test_acc", "test_loss"}),
    doc={
        "variant": "labels (true or partly redrawn labels) | random_inputs (Gaussian inputs, "
        "random labels)",
        "label_fraction": "fraction of the training samples whose label was redrawn uniformly "
        "over the 10 classes (Zhang et al.'s corruption level; 1.0 for random_inputs)",
        "width": "hidden units per layer of the MLP",
        "seed": "initialisation and batch-order seed (the label and input draws also depend on it)",
        "n_train": "training samples",
        "epoch": "epoch of this row (0: before training); one row per epoch",
        "train_loss": "cross-entropy on the member's own (possibly random) training labels",
        "train_acc": "accuracy on the member's own training labels at this epoch",
        "changed_frac": "measured fraction of training labels that differ from the true ones "
        "(about 0.9 x label_fraction); same on every row of a run",
        "fitted": "the run reached training accuracy 1.0 within the budget; same on every row",
        "fit_epoch": "first epoch with training accuracy 1.0 (NaN: not within the budget)",
        "epochs_run": "epochs the ensemble ran (it stops when every member has fitted)",
        "test_acc": "accuracy on the clean MNIST-1D test split at the end (the network frozen "
        "at its fit epoch); same on every row of a run",
        "test_loss": "cross-entropy on the clean test split at the end",
        "diverged": "the trainer marked the run diverged (its metrics are NaN)",
    },
)


@dataclass(frozen=True)
class WidthJob(JobSpec):
    """Every variant and seed of one hidden width: the data, the corruption and the training."""

    trains: ClassVar[bool] = True
    width: int
    depth: int  # hidden layers
    seeds: tuple[int, ...]
    data: MNIST1D
    n_train: int  # the first n_train training samples (0: all)
    label_fractions: tuple[float, ...]
    random_inputs: bool
    label_seed: int  # with the seed and the variant, seeds the label and input draws
    optimizer: str
    lr: float
    momentum: float
    batch_size: int
    max_epochs: int

    @property
    def id(self) -> str:
        return f"w{self.width}"


@register
class RandomLabels(Experiment[WidthJob]):
    name = "random_labels"
    sort_by = ("width", "variant", "label_fraction", "seed", "epoch")

    def specs(self, cfg: Mapping[str, Any]) -> Iterator[WidthJob]:
        for w in cfg["widths"]:
            yield WidthJob.from_section(cfg, width=w)

    def problems(self, cfg: Mapping[str, Any]) -> Iterator[str]:
        avail = from_section(MNIST1D, cfg["data"]).n_train
        if cfg["n_train"] > avail:
            yield (
                f"config key 'random_labels.n_train': {cfg['n_train']} exceeds the {avail} "
                "MNIST-1D training samples"
            )
        fr = list(cfg["label_fractions"])
        if fr != sorted(fr) or 0.0 not in fr or 1.0 not in fr:
            yield (
                "config key 'random_labels.label_fractions': list the fractions in increasing "
                "order, from 0 (the true labels) to 1 (all labels random): the claims compare them"
            )
        if cfg["optimizer"] != "sgd" and cfg["momentum"]:
            yield "config key 'random_labels.momentum': momentum is an sgd setting"
