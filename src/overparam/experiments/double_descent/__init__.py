"""Double descent: test error peaks where the model can first interpolate the training set,
then falls again as the model grows (Belkin, Hsu, Ma & Mandal 2019; Nakkiran et al. 2019).

Three panels, each a job (the MLP panel one job per width), each a module with its run,
summary, claims and drawing:

- ``linear`` (``linear.py``): isotropic Gaussian linear regression, gamma = p/n swept from 0.1
  to 10; min-norm and optimally tuned ridge against their asymptotic risks.
- ``random_features`` and ``random_fourier`` (``random_features.py``): min-norm regression of
  one-hot MNIST-1D labels on N random ReLU / Fourier features, N from n/10 to 10 n, and the
  N = infinity kernel limit (Belkin et al. 2019, Fig. 2; Mei & Montanari 2019).
- ``mlp_h<width>`` (``mlp.py``): the MNIST-1D double-descent notebook, MLP 40-h-h-10 with label
  noise, SGD; the seeds of a width trained as one batched ensemble.

``common`` holds the run table and what the panels share, ``claims`` and ``figure`` collect the
panels' claims and drawings.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd

from ...data import MNIST1D
from .. import Experiment, JobSpec, RunContext, register
from ..sections import from_section
from .common import METRICS_SCHEMA, RUN_SCHEMA

__all__ = [
    "METRICS_SCHEMA",
    "RUN_SCHEMA",
    "DoubleDescent",
    "LinearJob",
    "MLPJob",
    "RandomFeaturesJob",
]


@dataclass(frozen=True)
class LinearJob(JobSpec):
    """The linear panel: n samples, p = gamma n over a log grid of gammas, ``num_seeds`` draws
    of (X, beta direction, noise) per gamma."""

    n: int
    snr_r2: float
    noise_sd: float
    gamma_min: float
    gamma_max: float
    num_gammas: int
    num_seeds: int

    @property
    def id(self) -> str:
        return "linear"


@dataclass(frozen=True)
class RandomFeaturesJob(JobSpec):
    """A random-features panel: N = ratio n features over a log grid of ratios, ``num_seeds``
    feature draws, on the first n_train / n_test samples of ``data``, and the N = infinity
    limit (ridgeless regression with the features' limit kernel). ``panel`` names the panel
    and the job (random_features: the config's ``kind``; random_fourier: Fourier features);
    ``bandwidth`` is a number or "median" (the median heuristic on the training inputs)."""

    data: MNIST1D
    kind: str
    bandwidth: float | str
    n_train: int
    n_test: int
    ratio_min: float
    ratio_max: float
    num_ratios: int
    num_seeds: int
    label_noise: float
    noise_seed: int
    panel: str = "random_features"

    @property
    def id(self) -> str:
        return self.panel


@dataclass(frozen=True)
class MLPJob(JobSpec):
    """One MLP width, all seeds (one batched ensemble); data and SGD shared by all widths."""

    trains: ClassVar[bool] = True
    data: MNIST1D
    width: int
    seeds: tuple[int, ...]
    depth: int
    n_train: int  # 0 = the whole training split
    epochs: int
    lr: float
    momentum: float
    batch_size: int
    eval_every: int
    label_noise: float
    noise_seed: int

    @property
    def id(self) -> str:
        return f"mlp_h{self.width}"

    @property
    def bundle(self) -> str | None:
        # ~6 s each at quick scale (under 4 s of training); at paper scale h2..h21 ~1.5 min
        return "mlp_narrow" if self.width <= 24 else None


def dataset(cfg: Mapping[str, Any]) -> MNIST1D:
    """The MNIST-1D the random-features and MLP panels read (config key ``data``)."""
    return from_section(MNIST1D, cfg["data"])


@register
class DoubleDescent(Experiment[LinearJob | RandomFeaturesJob | MLPJob]):
    name = "double_descent"
    sort_by = ("panel", "estimator", "width", "seed", "epoch")

    def specs(self, cfg: Mapping[str, Any]) -> Iterator[LinearJob | RandomFeaturesJob | MLPJob]:
        data = dataset(cfg)
        yield LinearJob.from_section(cfg["linear"])
        yield RandomFeaturesJob.from_section(cfg["random_features"], data=data)
        yield RandomFeaturesJob.from_section(
            cfg["random_fourier"],
            data=data,
            kind="fourier",
            label_noise=0.0,
            noise_seed=0,
            panel="random_fourier",
        )
        mc = cfg["mlp"]
        for w in mc["widths"]:
            yield MLPJob.from_section(mc, data=data, width=w, seeds=cfg["seeds"])

    def problems(self, cfg: Mapping[str, Any]) -> Iterator[str]:
        data = dataset(cfg)
        n_train = data.n_train
        n_test = data.num_samples - n_train
        for key, lo, hi in (
            ("linear", "gamma_min", "gamma_max"),
            ("random_features", "ratio_min", "ratio_max"),
            ("random_fourier", "ratio_min", "ratio_max"),
        ):
            c = cfg[key]
            if not c[lo] < 1 < c[hi]:
                yield (
                    f"config key 'double_descent.{key}': need {lo} < 1 < {hi} to cross the "
                    f"interpolation threshold, got {c[lo]} and {c[hi]}"
                )
        for key in ("random_features", "random_fourier"):
            rf = cfg[key]
            if rf["n_train"] > n_train or rf["n_test"] > n_test:
                yield (
                    f"config key 'double_descent.{key}': n_train={rf['n_train']} / "
                    f"n_test={rf['n_test']} exceed the dataset's {n_train} / {n_test} samples"
                )
        mlp_n = cfg["mlp"]["n_train"]
        if mlp_n > n_train:
            yield (
                f"config key 'double_descent.mlp.n_train': {mlp_n} exceeds the "
                f"dataset's {n_train} training samples"
            )

    def run(self, job: LinearJob | RandomFeaturesJob | MLPJob, ctx: RunContext) -> pd.DataFrame:
        if isinstance(job, LinearJob):
            from .linear import run_linear

            return run_linear(job, ctx)
        if isinstance(job, RandomFeaturesJob):
            from .random_features import run_random_features

            return run_random_features(job, ctx)
        if isinstance(job, MLPJob):
            from .mlp import run_mlp

            return run_mlp(job, ctx)
        raise TypeError(f"{self.name}: not a job of this experiment: {job!r}")
