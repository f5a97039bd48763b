"""Datasets: seeded synthetic Gaussian designs and MNIST-1D (generated offline).

Every function takes its randomness explicitly (a ``numpy.random.Generator`` or an
integer seed handed to the generator of the data package); nothing touches global
random state of this process except ``mnist1d.make_dataset``, which seeds numpy's
legacy global generator itself from ``args.seed`` -- we restore that state after.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar

import numpy as np

from .io import atomic_path


@dataclass(frozen=True)
class Dataset:
    """A dataset a job reads, generated offline by a workflow rule (``rule``) and cached as a
    file. The workflow maps it to its path from ``wildcards()``; the job receives the path in
    ``RunContext.inputs`` under the name of the spec field that holds the dataset."""

    rule: ClassVar[str]

    def wildcards(self) -> dict[str, str]:
        return {f.name: str(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class MNIST1D(Dataset):
    """MNIST-1D as ``mnist1d(num_samples, train_split, seed)`` makes it."""

    rule: ClassVar[str] = "mnist1d"
    num_samples: int
    train_split: float
    seed: int

    @property
    def n_train(self) -> int:
        return int(round(self.num_samples * self.train_split))

    def load(self, path: str | Path | None = None) -> dict[str, np.ndarray]:
        """The cached file at ``path`` (what the pipeline passes), else generated here."""
        if path is not None:
            return load_npz(path)
        return mnist1d(self.num_samples, self.train_split, self.seed)


# ----------------------------------------------------------------------------- Gaussian designs


def gaussian_design(n: int, eigs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """n rows of N(0, diag(eigs)). Diagonal covariance loses no generality for rotation-
    invariant estimators (min-norm, ridge): the risk depends on Sigma only through its
    spectrum and beta's coordinates in its eigenbasis."""
    eigs = np.asarray(eigs, dtype=float)
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if eigs.ndim != 1 or np.any(eigs < 0):
        raise ValueError("eigs must be a 1-d array of non-negative eigenvalues")
    return rng.standard_normal((n, eigs.size)) * np.sqrt(eigs)


def excess_risk(beta_hat: np.ndarray, beta: np.ndarray, eigs: np.ndarray) -> float:
    """E_x[(x^T (beta_hat - beta))^2] for x ~ N(0, diag(eigs)): exact, no test sample."""
    d = np.asarray(beta_hat) - np.asarray(beta)
    return float(np.sum(np.asarray(eigs) * d * d))


# ----------------------------------------------------------------------------- MNIST-1D


def mnist1d(
    num_samples: int = 5000, train_split: float = 0.8, seed: int = 42
) -> dict[str, np.ndarray]:
    """MNIST-1D generated procedurally by the ``mnist1d`` package (never downloaded).

    Returns float32 ``x`` (n_train, 40), int64 ``y``, and ``x_test``, ``y_test``.
    The package seeds numpy's global generator from ``seed``; the caller's global numpy
    state is saved and restored so that this function has no side effect.
    """
    if num_samples < 10:
        raise ValueError(f"num_samples must be >= 10 (one per class), got {num_samples}")
    if not 0.0 < train_split < 1.0:
        raise ValueError(f"train_split must be in (0, 1), got {train_split}")
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = int(num_samples)
    args.train_split = float(train_split)
    args.seed = int(seed)
    state = np.random.get_state()
    try:
        ds = make_dataset(args)
    finally:
        np.random.set_state(state)
    return {
        "x": np.ascontiguousarray(ds["x"], dtype=np.float32),
        "y": np.asarray(ds["y"], dtype=np.int64),
        "x_test": np.ascontiguousarray(ds["x_test"], dtype=np.float32),
        "y_test": np.asarray(ds["y_test"], dtype=np.int64),
    }


def save_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Atomic write of a dict of arrays."""
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)  # type: ignore[arg-type]


def load_npz(path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    except Exception as e:
        raise ValueError(f"cannot read dataset file {path}: {e}") from e


def corrupt_labels(
    y: np.ndarray, fraction: float, num_classes: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Redraw the labels of ``fraction`` of the samples uniformly at random over all classes
    (as in the MNIST-1D double-descent notebook; a redrawn label may equal the old one).
    Returns (new labels, boolean mask of the redrawn samples)."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"label-noise fraction must be in [0, 1], got {fraction}")
    y = np.asarray(y).copy()
    k = int(round(fraction * y.size))
    idx = rng.choice(y.size, size=k, replace=False)
    y[idx] = rng.integers(0, num_classes, size=k)
    mask = np.zeros(y.size, dtype=bool)
    mask[idx] = True
    return y, mask
